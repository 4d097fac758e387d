package wechatsim

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"
)

// codeLifetime is how long a wx.login code can be exchanged, as WeChat
// documents for wx.login.
const codeLifetime = 5 * time.Minute

// A loginCode is a wx.login code issued by /__sim/login.
type loginCode struct {
	openid    string
	expiresAt time.Time
	used      bool
	// web marks a code of an official account's OAuth redirect, exchanged
	// through sns/oauth2/access_token, never jscode2session.
	web bool
}

// Login registers openid as a user of the app (generating an openid like
// WeChat's when it is empty) and returns a single-use wx.login code for it,
// valid for 5 minutes of simulated time. An official account's Sim returns
// the code of a web OAuth redirect (snsapi_base) instead, for
// sns/oauth2/access_token; WeChat documents the same 5 minutes and single
// use for it (网页授权, step 2:
// https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html).
func (s *Sim) Login(openid string) (code, id string, err error) {
	if openid == "" {
		openid = s.newOpenID()
	} else if len(openid) > 128 || strings.ContainsAny(openid, " \t\r\n") {
		return "", "", errors.New("wechatsim: openid must be at most 128 characters without white space")
	}
	code = randomURLSafe(32)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.user(openid)
	if len(s.st.codes) >= maxCodes {
		s.pruneCodes()
	}
	s.st.codes[code] = &loginCode{openid: openid, expiresAt: s.now().Add(codeLifetime), web: s.officialAccount()}
	return code, openid, nil
}

// maxCodes is how many codes are kept before expired ones are dropped.
const maxCodes = 10000

// pruneCodes drops the codes whose lifetime is over; s.mu must be held.
// An exchange of a dropped code answers 40029, as an expired one does.
func (s *Sim) pruneCodes() {
	now := s.now()
	for k, c := range s.st.codes {
		if !now.Before(c.expiresAt) {
			delete(s.st.codes, k)
		}
	}
}

// newOpenID returns an openid shaped like WeChat's: 28 characters, "o",
// five characters that are the same for every user of this app, then 22
// random ones.
func (s *Sim) newOpenID() string {
	return s.openIDPrefix() + randomURLSafe(22)
}

// openIDPrefix is "o" and the five characters every openid of this app
// starts with.
func (s *Sim) openIDPrefix() string {
	sum := sha256.Sum256([]byte(s.cfg.AppID))
	return "o" + base64.RawURLEncoding.EncodeToString(sum[:])[:5]
}

// ownOpenID reports whether openid is shaped like the openids newOpenID
// makes for this app: a user of the app, known to the Sim or not. WeChat
// answers 40003 only to openids that are malformed or belong to another app
// (sendMessage.html: "touser字段openid为空或者不正确"); a user of the app with no
// subscription gets 43101.
func (s *Sim) ownOpenID(openid string) bool {
	if len(openid) != 28 {
		return false
	}
	for _, r := range openid {
		if !(r == '-' || r == '_' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return false
		}
	}
	return openid[:6] == s.openIDPrefix()
}

// code2Session serves GET /sns/jscode2session: only codes from /__sim/login
// work, once each (40163 after), within their lifetime (40029 after, and for
// codes the Sim never issued).
func (s *Sim) code2Session(r *http.Request, _ []byte) answer {
	q := r.URL.Query()
	if a, ok := s.checkCredentials(q.Get("appid"), q.Get("secret")); !ok {
		return a
	}
	if gt := q.Get("grant_type"); gt != "" && gt != "authorization_code" {
		return s.failCode(40002)
	}
	js := q.Get("js_code")
	if js == "" {
		return s.failCode(41008)
	}
	s.mu.Lock()
	c := s.st.codes[js]
	code := 0
	switch {
	case c == nil || !s.now().Before(c.expiresAt) || c.web:
		code = 40029
	case c.used:
		code = 40163
	default:
		c.used = true
	}
	s.mu.Unlock()
	if code != 0 {
		return s.failCode(code)
	}
	return s.ok(struct {
		OpenID     string `json:"openid"`
		SessionKey string `json:"session_key"`
	}{c.openid, base64.StdEncoding.EncodeToString(randomBytes(16))})
}
