package wechatsim

import (
	"encoding/json"
	"net/http"
	"strings"
)

const clearsPerMonth = 10

// quotaGet serves POST /cgi-bin/openapi/quota/get {"cgi_path"} with the real
// counts of the simulated day. A path without a leading "/" answers 76003,
// a path the Sim does not serve 76021, and /sns/ paths, which an
// access_token does not own, 76022.
func (s *Sim) quotaGet(r *http.Request, body []byte) answer {
	if a, ok := s.requirePOST(r); !ok {
		return a
	}
	if a, ok := s.checkToken(r); !ok {
		return a
	}
	var req struct {
		CGIPath string `json:"cgi_path"`
	}
	if json.Unmarshal(body, &req) != nil {
		return s.failCode(47001)
	}
	path := req.CGIPath
	switch _, known := apiLimits[path]; {
	case !strings.HasPrefix(path, "/"):
		return s.failCode(76003)
	case strings.HasPrefix(path, "/sns/"):
		return s.failCode(76022)
	case !known:
		return s.failCode(76021)
	}
	s.mu.Lock()
	s.rollDay()
	limit, used := s.limit(path), s.st.used[path]
	s.mu.Unlock()
	type quota struct {
		DailyLimit int64 `json:"daily_limit"`
		Used       int64 `json:"used"`
		Remain     int64 `json:"remain"`
	}
	type rate struct {
		CallCount     int64 `json:"call_count"`
		RefreshSecond int64 `json:"refresh_second"`
	}
	return s.ok(struct {
		ErrCode   int    `json:"errcode"`
		ErrMsg    string `json:"errmsg"`
		Quota     quota  `json:"quota"`
		RateLimit rate   `json:"rate_limit"`
	}{0, "ok", quota{limit, used, max(limit-used, 0)}, rate{apiLimits[path].perMinute, rateRefreshSeconds}})
}

// clearQuota serves POST /cgi-bin/clear_quota {"appid"}.
func (s *Sim) clearQuota(r *http.Request, body []byte) answer {
	if a, ok := s.requirePOST(r); !ok {
		return a
	}
	if a, ok := s.checkToken(r); !ok {
		return a
	}
	var req struct {
		AppID string `json:"appid"`
	}
	if json.Unmarshal(body, &req) != nil {
		return s.failCode(47001)
	}
	switch {
	case req.AppID == "":
		return s.failCode(41002)
	case req.AppID != s.cfg.AppID:
		return s.failCode(40013)
	}
	return s.resetQuotas()
}

// clearQuotaV2 serves POST /cgi-bin/clear_quota/v2 with appid and appsecret
// in the query or in a JSON body (WeChat's pages disagree). It needs no
// token, so it works when the token quota is spent.
func (s *Sim) clearQuotaV2(r *http.Request, body []byte) answer {
	if a, ok := s.requirePOST(r); !ok {
		return a
	}
	var req struct {
		AppID     string `json:"appid"`
		AppSecret string `json:"appsecret"`
	}
	q := r.URL.Query()
	req.AppID, req.AppSecret = q.Get("appid"), q.Get("appsecret")
	if req.AppID == "" && req.AppSecret == "" && len(strings.TrimSpace(string(body))) > 0 {
		if json.Unmarshal(body, &req) != nil {
			return s.failCode(47001)
		}
	}
	if a, ok := s.checkCredentials(req.AppID, req.AppSecret); !ok {
		return a
	}
	return s.resetQuotas()
}

// resetQuotas zeroes every daily counter, at most 10 times per Shanghai
// month (then 48006).
func (s *Sim) resetQuotas() answer {
	s.mu.Lock()
	if month := shanghaiMonth(s.now()); month != s.st.clearMonth {
		s.st.clearMonth, s.st.clears = month, 0
	}
	if s.st.clears >= clearsPerMonth {
		s.mu.Unlock()
		return s.failCode(48006)
	}
	s.st.clears++
	clear(s.st.used)
	s.mu.Unlock()
	return s.ok(struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}{0, "ok"})
}
