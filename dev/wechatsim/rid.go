package wechatsim

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"time"
)

const (
	ridRetention = 7 * 24 * time.Hour
	ridCapacity  = 10000 // requests remembered at most
)

// A ridRecord is what openapi/rid/get tells about a request.
type ridRecord struct {
	at       time.Time
	costMS   int64
	url      string
	body     string
	response string
	clientIP string
}

var ridPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`)

// newRID returns a request id like WeChat's: the hex Unix time, then two
// groups of 8 random hex digits.
func newRID(now time.Time) string {
	return fmt.Sprintf("%08x-%s-%s", uint32(now.Unix()), randomHex(4), randomHex(4))
}

// remember stores the request that got answer a, by a's rid, with
// credentials blanked out.
func (s *Sim) remember(r *http.Request, body []byte, a answer, start time.Time) {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	rec := &ridRecord{
		costMS:   time.Since(start).Milliseconds(),
		url:      redactQuery(r),
		body:     redactBody(body),
		response: string(a.body),
		clientIP: ip,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec.at = s.now()
	st := s.st
	for len(st.ridOrder) > 0 && (len(st.ridOrder) >= ridCapacity || rec.at.Sub(st.rids[st.ridOrder[0]].at) > 2*ridRetention) {
		delete(st.rids, st.ridOrder[0])
		st.ridOrder = st.ridOrder[1:]
	}
	st.rids[a.rid] = rec
	st.ridOrder = append(st.ridOrder, a.rid)
}

// redactBody blanks the credentials of a JSON body.
func redactBody(body []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return string(body)
	}
	changed := false
	for _, k := range []string{"secret", "appsecret"} {
		if _, ok := m[k]; ok {
			m[k] = json.RawMessage(`"***"`)
			changed = true
		}
	}
	if !changed {
		return string(body)
	}
	b, err := marshal(m)
	if err != nil {
		return ""
	}
	return string(b)
}

// ridGet serves POST /cgi-bin/openapi/rid/get {"rid"}.
func (s *Sim) ridGet(r *http.Request, body []byte) answer {
	if a, ok := s.requirePOST(r); !ok {
		return a
	}
	if a, ok := s.checkToken(r); !ok {
		return a
	}
	var req struct {
		RID string `json:"rid"`
	}
	if json.Unmarshal(body, &req) != nil {
		return s.failCode(47001)
	}
	if !ridPattern.MatchString(req.RID) {
		return s.failCode(76002)
	}
	s.mu.Lock()
	rec := s.st.rids[req.RID]
	expired := rec != nil && s.now().Sub(rec.at) > ridRetention
	s.mu.Unlock()
	switch {
	case rec == nil:
		return s.failCode(76001)
	case expired:
		return s.failCode(76004)
	}
	type request struct {
		InvokeTime   int64  `json:"invoke_time"`
		CostInMS     int64  `json:"cost_in_ms"`
		RequestURL   string `json:"request_url"`
		RequestBody  string `json:"request_body"`
		ResponseBody string `json:"response_body"`
		ClientIP     string `json:"client_ip"`
	}
	return s.ok(struct {
		ErrCode int     `json:"errcode"`
		ErrMsg  string  `json:"errmsg"`
		Request request `json:"request"`
	}{0, "ok", request{rec.at.Unix(), rec.costMS, rec.url, rec.body, rec.response, rec.clientIP}})
}
