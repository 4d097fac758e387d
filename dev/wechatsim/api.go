package wechatsim

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// WeChat API paths the Sim serves.
const (
	PathToken        = "/cgi-bin/token"
	PathStableToken  = "/cgi-bin/stable_token"
	PathCode2Session = "/sns/jscode2session"
	PathSend         = "/cgi-bin/message/subscribe/send"
	PathBizSend      = "/cgi-bin/message/subscribe/bizsend"
	PathGetTemplate  = "/wxaapi/newtmpl/gettemplate"
	PathGetCategory  = "/wxaapi/newtmpl/getcategory"
	PathPubKeywords  = "/wxaapi/newtmpl/getpubtemplatekeywords"
	PathQuotaGet     = "/cgi-bin/openapi/quota/get"
	PathClearQuota   = "/cgi-bin/clear_quota"
	PathClearQuotaV2 = "/cgi-bin/clear_quota/v2"
	PathRIDGet       = "/cgi-bin/openapi/rid/get"
	PathOAuthToken   = "/sns/oauth2/access_token"
	PathGetTicket    = "/cgi-bin/ticket/getticket"
)

const (
	defaultDailyLimit  = 100000
	defaultRatePerMin  = 10000
	rateRefreshSeconds = 60
	jsonContentType    = "application/json; encoding=utf-8" // sic: WeChat's header
)

// apiLimits holds the realistic default daily limit and per-minute rate
// (reported by quota/get, not enforced) of every path.
var apiLimits = map[string]struct{ daily, perMinute int64 }{
	PathToken:        {2000, 2000},
	PathStableToken:  {500000, 10000},
	PathCode2Session: {defaultDailyLimit, defaultRatePerMin},
	PathSend:         {10000000, 1000000},
	PathBizSend:      {10000000, 1000000},
	PathGetTemplate:  {defaultDailyLimit, defaultRatePerMin},
	PathGetCategory:  {defaultDailyLimit, defaultRatePerMin},
	PathPubKeywords:  {defaultDailyLimit, defaultRatePerMin},
	PathQuotaGet:     {defaultDailyLimit, defaultRatePerMin},
	PathClearQuota:   {100, 100},
	PathClearQuotaV2: {100, 100},
	PathRIDGet:       {defaultDailyLimit, defaultRatePerMin},
	PathOAuthToken:   {defaultDailyLimit, defaultRatePerMin},
	// No limit for getticket is published for service accounts; every
	// guide stresses that it is small and the ticket must be cached.
	PathGetTicket: {2000, 2000},
}

// An answer is what a WeChat API handler produced: the body and, for pushes
// the answer causes, the jobs to release once it is written.
type answer struct {
	body    []byte
	errcode int
	rid     string
	pushes  []*pushJob
}

type apiHandler func(r *http.Request, body []byte) answer

// api wraps a WeChat API handler with call counting, faults, the daily
// quota, request-id bookkeeping and the release of pushes after the answer.
func (s *Sim) api(path string, h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		body, err := s.readBody(w, r)
		s.mu.Lock()
		s.st.calls[path]++
		f := s.takeFault(path)
		s.mu.Unlock()

		if f != nil && !f.processes() {
			sleep(r.Context(), f.delay)
			if a := s.writeFault(w, f); a.rid != "" {
				s.remember(r, body, a, start)
			}
			return
		}

		var a answer
		switch {
		case err != nil:
			a = s.fail(47001, "data format error")
		default:
			a = s.admit(path)
			if a.errcode == 0 {
				a = h(r, body)
			}
		}
		defer func() {
			for _, j := range a.pushes {
				s.pusher.release(j)
			}
		}()
		if a.rid != "" {
			s.remember(r, body, a, start)
		}
		if f != nil && f.Deliver {
			// The send was carried out; the answer is the fault's.
			sleep(r.Context(), f.delay)
			if fa := s.writeFault(w, f); fa.rid != "" {
				s.remember(r, body, fa, start)
			}
			return
		}
		if f != nil {
			if f.OmitMsgID && a.errcode == 0 {
				a.body = []byte(`{"errcode":0,"errmsg":"ok"}`) // the sent event still has the msgid
			}
			sleep(r.Context(), f.delay)
			if f.Drop {
				dropConnection(w)
				return
			}
		}
		w.Header().Set("Content-Type", jsonContentType)
		w.Write(a.body)
	}
}

// ok answers v as a successful WeChat answer.
func (s *Sim) ok(v any) answer {
	b, err := marshal(v)
	if err != nil {
		return s.fail(-1, "system error")
	}
	return answer{body: b}
}

// fail answers errcode with errmsg and a fresh request id, the way WeChat
// does: HTTP 200, `{"errcode":N,"errmsg":"<msg> rid: xxxxxxxx-xxxxxxxx-xxxxxxxx"}`.
func (s *Sim) fail(errcode int, msg string) answer {
	s.mu.Lock()
	rid := newRID(s.now())
	s.mu.Unlock()
	b, _ := marshal(struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}{errcode, msg + " rid: " + rid})
	return answer{body: b, errcode: errcode, rid: rid}
}

// failCode answers errcode with its usual errmsg.
func (s *Sim) failCode(errcode int) answer { return s.fail(errcode, errText(errcode)) }

// admit counts a call against the daily quota of path, or answers 45009
// when the quota is spent.
func (s *Sim) admit(path string) answer {
	s.mu.Lock()
	s.rollDay()
	over := s.st.used[path] >= s.limit(path)
	if !over {
		s.st.used[path]++
	}
	s.mu.Unlock()
	if over {
		return s.failCode(45009)
	}
	return answer{}
}

// limit returns the daily limit of path; s.mu must be held.
func (s *Sim) limit(path string) int64 {
	if n, ok := s.st.limits[path]; ok {
		return n
	}
	if l, ok := apiLimits[path]; ok {
		return l.daily
	}
	return defaultDailyLimit
}

// rollDay clears the daily counters when the simulated day (Asia/Shanghai)
// changed; s.mu must be held.
func (s *Sim) rollDay() {
	if day := shanghaiDay(s.now()); day != s.st.usedDay {
		s.st.usedDay = day
		clear(s.st.used)
	}
}

// shanghai is China Standard Time, where WeChat's days begin. China keeps
// no daylight saving time, so a fixed zone is exact and needs no tzdata.
var shanghai = time.FixedZone("CST", 8*60*60)

func shanghaiDay(t time.Time) string   { return t.In(shanghai).Format(time.DateOnly) }
func shanghaiMonth(t time.Time) string { return t.In(shanghai).Format("2006-01") }

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// dropConnection closes the connection without an answer.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// errTexts are the errmsg texts of the codes the Sim answers. Texts marked
// "observed" are texts seen in WeChat's real answers; the others are plausible
// stand-ins.
var errTexts = map[int]string{
	-1:     "system error",
	40001:  "invalid credential, access_token is invalid or not latest",
	40002:  "invalid grant_type",
	40003:  "invalid openid",
	40013:  "invalid appid",
	40014:  "invalid access_token",
	40029:  "invalid code",
	40037:  "invalid template_id",
	40125:  "invalid appsecret",
	40163:  "code been used",
	40164:  "invalid ip 0.0.0.0 ipv6 ::ffff:0.0.0.0, not in whitelist",
	40226:  "invalid user, high risk",
	41001:  "access_token missing",
	41002:  "appid missing",
	41004:  "appsecret missing",
	41008:  "missing code",
	41030:  "invalid page",
	42001:  "access_token expired",
	43002:  "require POST method",
	43101:  "user refuse to accept the msg",
	43107:  "subscribe message capability banned",
	43108:  "Cannot make concurrent calls to the same OpenID, please try again", // observed
	45009:  "reach max api daily quota limit",
	45011:  "api minute-quota reach limit mustslower retry next minute",
	45168:  "keyword hit sensitive words",
	47001:  "data format error",
	47003:  "argument invalid!",
	48001:  "api unauthorized",
	48006:  "forbid to clear quota because of reaching the limit",
	76001:  "rid not found",
	76002:  "rid is error",
	76003:  "cgi_path is error",
	76004:  "rid is expired",
	76021:  "cgi_path not found, please check",
	76022:  "could not use this cgi_path, no permission",
	200014: "tid does not exist",
}

func errText(code int) string {
	if t, ok := errTexts[code]; ok {
		return t
	}
	return "system error"
}

// redactQuery returns the query of r with credentials blanked, for rid/get.
func redactQuery(r *http.Request) string {
	q := r.URL.Query()
	for _, k := range []string{"access_token", "secret", "appsecret", "js_code"} {
		if q.Has(k) {
			q.Set(k, "***")
		}
	}
	if len(q) == 0 {
		return r.URL.Path
	}
	return r.URL.Path + "?" + strings.ReplaceAll(q.Encode(), "%2A%2A%2A", "***")
}
