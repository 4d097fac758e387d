package wechatsim

import (
	"encoding/json"
	"net/http"
	"time"
)

const (
	tokenLifetime   = 7200 * time.Second
	tokenOverlap    = 5 * time.Minute // old and new token both work this long
	forcePerDay     = 20
	forceMinSpacing = 30 * time.Second
	tokenLength     = 136 // characters, about what WeChat issues
)

// A token is an access_token the Sim issued.
type token struct {
	value     string
	stable    bool
	expiresAt time.Time // its own expiry: after it, 42001
	until     time.Time // when superseded: valid until then, 40001 after
	revoked   bool      // /__sim/tokens/invalidate or a forced refresh
}

// issue creates a token; s.mu must be held.
func (s *Sim) issue(stable bool) *token {
	now := s.now()
	t := &token{value: randomURLSafe(tokenLength), stable: stable, expiresAt: now.Add(tokenLifetime)}
	s.st.tokens[t.value] = t
	if stable {
		s.st.issuedStable++
	} else {
		s.st.issuedClassic++
	}
	return t
}

// remaining returns the whole seconds left before t expires; s.mu must be held.
func (s *Sim) remaining(t *token) int64 {
	return int64(t.expiresAt.Sub(s.now()) / time.Second)
}

// checkToken validates the access_token query parameter: missing → 41001,
// unknown, superseded or revoked → 40001, expired → 42001.
func (s *Sim) checkToken(r *http.Request) (answer, bool) {
	v := r.URL.Query().Get("access_token")
	if v == "" {
		return s.failCode(41001), false
	}
	s.mu.Lock()
	t := s.st.tokens[v]
	now := s.now()
	code := 0
	switch {
	case t == nil || t.revoked:
		code = 40001
	case !now.Before(t.expiresAt):
		code = 42001
	case !t.until.IsZero() && !now.Before(t.until):
		code = 40001
	}
	s.mu.Unlock()
	if code != 0 {
		return s.failCode(code), false
	}
	return answer{}, true
}

// requirePOST answers 43002 to anything but POST.
func (s *Sim) requirePOST(r *http.Request) (answer, bool) {
	if r.Method != http.MethodPost {
		return s.failCode(43002), false
	}
	return answer{}, true
}

// checkCredentials checks an appid and secret the way WeChat does: missing
// appid 41002, missing secret 41004, wrong appid 40013, wrong secret 40125.
func (s *Sim) checkCredentials(appid, secret string) (answer, bool) {
	code := 0
	switch {
	case appid == "":
		code = 41002
	case secret == "":
		code = 41004
	case appid != s.cfg.AppID:
		code = 40013
	case secret != s.cfg.Secret:
		code = 40125
	}
	if code != 0 {
		return s.failCode(code), false
	}
	return answer{}, true
}

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

// classicToken serves GET /cgi-bin/token. Every call issues a new token; the
// previous one keeps working for 5 more minutes (never past its expiry).
func (s *Sim) classicToken(r *http.Request, _ []byte) answer {
	q := r.URL.Query()
	if a, ok := s.checkCredentials(q.Get("appid"), q.Get("secret")); !ok {
		return a
	}
	if q.Get("grant_type") != "client_credential" {
		return s.failCode(40002)
	}
	s.mu.Lock()
	if prev := s.st.lastClassic; prev != nil && prev.until.IsZero() {
		prev.until = s.now().Add(tokenOverlap)
	}
	t := s.issue(false)
	s.st.lastClassic = t
	ans := tokenAnswer{t.value, s.remaining(t)}
	s.mu.Unlock()
	return s.ok(ans)
}

// stableToken serves POST /cgi-bin/stable_token.
//
// Normal mode returns the current stable token while more than 5 minutes
// are left, else a new one (the old one lives out its lifetime), so every
// answer has expires_in >= 300. Force mode revokes the current token and
// issues a new one, at most 20 times per Shanghai day (then 45009) and at
// least 30 s apart. WeChat only says a force call inside 30 s "will not
// refresh"; the Sim then returns the current token unchanged, which does
// not count toward the 20.
func (s *Sim) stableToken(r *http.Request, body []byte) answer {
	if a, ok := s.requirePOST(r); !ok {
		return a
	}
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return s.failCode(47001)
	}
	if a, ok := s.checkCredentials(req.AppID, req.Secret); !ok {
		return a
	}
	if req.GrantType != "client_credential" {
		return s.failCode(40002)
	}

	s.mu.Lock()
	now := s.now()
	cur := s.st.stable
	usable := cur != nil && !cur.revoked && cur.expiresAt.Sub(now) > tokenOverlap
	if req.ForceRefresh {
		if day := shanghaiDay(now); day != s.st.forceDay {
			s.st.forceDay, s.st.forceToday = day, 0
		}
		if s.st.forceToday >= forcePerDay {
			s.mu.Unlock()
			return s.failCode(45009)
		}
		if !(usable && now.Sub(s.st.lastForce) < forceMinSpacing) {
			if cur != nil {
				cur.revoked = true
			}
			cur = s.issue(true)
			s.st.stable = cur
			s.st.lastForce = now
			s.st.forceToday++
			s.st.forceTotal++
		}
	} else if !usable {
		cur = s.issue(true)
		s.st.stable = cur
	}
	ans := tokenAnswer{cur.value, s.remaining(cur)}
	s.mu.Unlock()
	return s.ok(ans)
}
