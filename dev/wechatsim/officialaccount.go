package wechatsim

import (
	"crypto/sha1"
	"crypto/subtle"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The official account's side of the Sim: web OAuth (the authorize page
// and sns/oauth2/access_token), the JS-SDK's jsapi_ticket, a stand-in for
// the JS-SDK itself (wx.config checked against the tickets issued, and the
// <wx-open-subscribe> button backed by the popup), and the open tag's
// success detail.

// popupSceneWebPage is PopupScene of a popup shown from a web page of an
// official account (1; 2 is an article, 0 a mini-program), as the push
// documentation lists it
// (https://developers.weixin.qq.com/doc/service/guide/product/subscription_messages/push.html).
const popupSceneWebPage = 1

// openTagStatuses are the statuses of <wx-open-subscribe>'s success detail:
// accept, reject, cancel (the user closed the popup) and filter (a template
// dropped for a duplicate title)
// (the open tag's documentation, 开放标签 wx-open-subscribe; a worked answer:
// https://segmentfault.com/a/1190000044178916).
var openTagStatuses = []string{"accept", "reject", "cancel", "filter"}

// openTagDetail turns the popup's answer into the open tag's success
// detail: {"errMsg":"subscribe:ok","subscribeDetails":"<JSON string>"},
// where subscribeDetails maps each template id to a JSON string holding
// {"status":...}.
func openTagDetail(res PopupResult) PopupResult {
	details := map[string]string{}
	for id, v := range res {
		if id == "errMsg" {
			continue
		}
		b, _ := json.Marshal(struct {
			Status any `json:"status"`
		}{v})
		details[id] = string(b)
	}
	b, _ := json.Marshal(details)
	return PopupResult{"errMsg": "subscribe:ok", "subscribeDetails": string(b)}
}

// oauthToken serves GET /sns/oauth2/access_token: only codes of the OAuth
// redirect (the authorize page or /__sim/login of an official account)
// work, once each (40163 after), within 5 minutes (40029 after). The
// answer's user access_token and refresh_token are made up: nothing else
// of the Sim accepts them.
func (s *Sim) oauthToken(r *http.Request, _ []byte) answer {
	q := r.URL.Query()
	if a, ok := s.checkCredentials(q.Get("appid"), q.Get("secret")); !ok {
		return a
	}
	if q.Get("grant_type") != "authorization_code" {
		return s.failCode(40002)
	}
	code := q.Get("code")
	if code == "" {
		return s.failCode(41008)
	}
	s.mu.Lock()
	c := s.st.codes[code]
	errcode := 0
	switch {
	case c == nil || !s.now().Before(c.expiresAt) || !c.web:
		errcode = 40029
	case c.used:
		errcode = 40163
	default:
		c.used = true
	}
	s.mu.Unlock()
	if errcode != 0 {
		return s.failCode(errcode)
	}
	return s.ok(struct {
		AccessToken  string `json:"access_token"`
		ExpiresIn    int    `json:"expires_in"`
		RefreshToken string `json:"refresh_token"`
		OpenID       string `json:"openid"`
		Scope        string `json:"scope"`
	}{randomURLSafe(64), 7200, randomURLSafe(64), c.openid, "snsapi_base"})
}

// A jsTicket is a jsapi_ticket the Sim issued.
type jsTicket struct {
	expiresAt time.Time
	revoked   bool
}

// ticketLifetime is the jsapi_ticket's documented lifetime (JS-SDK
// documentation, appendix 1: "有效期为7200秒").
const ticketLifetime = 7200 * time.Second

// getTicket serves GET /cgi-bin/ticket/getticket?type=jsapi with an
// official account's token. WeChat does not document whether a call
// replaces the previous ticket; the Sim issues a new one each call and lets
// the earlier ones live to their expiry, so a backend must neither rely on
// getting the same ticket back nor on an old one dying. A mini-program
// has no JS-SDK: 48001.
func (s *Sim) getTicket(r *http.Request, _ []byte) answer {
	if a, ok := s.checkToken(r); !ok {
		return a
	}
	if !s.officialAccount() {
		return s.failCode(48001)
	}
	if t := r.URL.Query().Get("type"); t != "jsapi" && t != "wx_card" {
		return s.fail(40097, "invalid args")
	}
	v := randomURLSafe(86)
	s.mu.Lock()
	s.st.tickets[v] = &jsTicket{expiresAt: s.now().Add(ticketLifetime)}
	s.st.issuedTickets++
	s.mu.Unlock()
	return s.ok(struct {
		ErrCode   int    `json:"errcode"`
		ErrMsg    string `json:"errmsg"`
		Ticket    string `json:"ticket"`
		ExpiresIn int    `json:"expires_in"`
	}{0, "ok", v, int(ticketLifetime.Seconds())})
}

// InvalidateTickets makes every jsapi_ticket issued so far fail wx.config's
// signature check, as a ticket WeChat no longer honours would.
func (s *Sim) InvalidateTickets() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.st.tickets {
		t.revoked = true
	}
}

// TicketsIssued is how many jsapi_tickets the Sim has issued since its start or Reset.
func (s *Sim) TicketsIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.issuedTickets
}

func (s *Sim) handleInvalidateTickets(w http.ResponseWriter, _ *http.Request) {
	s.InvalidateTickets()
	writeJSON(w, http.StatusOK, struct {
		OK bool `json:"ok"`
	}{true})
}

// JSSDKSignature is WeChat's JS-SDK signature: the SHA-1, in hex, of
// "jsapi_ticket=…&noncestr=…&timestamp=…&url=…" with the raw values (no
// escaping) and the URL without its fragment (JS-SDK documentation,
// appendix 1). The Sim computes it on its own, apart from wxsub's code, to
// check what wx.config is given.
func JSSDKSignature(ticket, nonceStr string, timestamp int64, pageURL string) string {
	pageURL, _, _ = strings.Cut(pageURL, "#")
	sum := sha1.Sum([]byte(fmt.Sprintf("jsapi_ticket=%s&noncestr=%s&timestamp=%d&url=%s", ticket, nonceStr, timestamp, pageURL)))
	return hex.EncodeToString(sum[:])
}

// VerifyConfig checks a wx.config call as WeChat's client does: the appId
// is the account's and the signature was made from a ticket that is still
// valid, over the page's URL. It answers the errMsg WeChat's wx.error
// reports ("config:invalid signature", the text developers meet) or
// "config:ok".
func (s *Sim) VerifyConfig(appID string, timestamp int64, nonceStr, signature, pageURL string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.officialAccount() {
		return "config:fail not an official account"
	}
	if appID != s.cfg.AppID {
		return "config:invalid appid"
	}
	now := s.now()
	for v, t := range s.st.tickets {
		if t.revoked || !now.Before(t.expiresAt) {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(JSSDKSignature(v, nonceStr, timestamp, pageURL)), []byte(signature)) == 1 {
			return "config:ok"
		}
	}
	return "config:invalid signature"
}

// handleVerifyConfig serves POST /__sim/jssdk/verify
// {"appId","timestamp","nonceStr","signature","url"} → {"errMsg"}: the
// stand-in JS-SDK's wx.config asks it.
func (s *Sim) handleVerifyConfig(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AppID       string          `json:"appId"`
		Timestamp   json.Number     `json:"timestamp"`
		NonceStr    string          `json:"nonceStr"`
		Signature   string          `json:"signature"`
		URL         string          `json:"url"`
		OpenTagList []string        `json:"openTagList"`
		JSAPIList   json.RawMessage `json:"jsApiList"`
	}
	if !s.decodeControl(w, r, &req) {
		return
	}
	ts, err := req.Timestamp.Int64()
	msg := "config:invalid timestamp"
	if err == nil {
		msg = s.VerifyConfig(req.AppID, ts, req.NonceStr, req.Signature, req.URL)
	}
	writeJSON(w, http.StatusOK, struct {
		ErrMsg string `json:"errMsg"`
	}{msg})
}

// userCookie remembers, in the browser, which WeChat user the authorize
// page logged in: the stand-in button's popup acts for that user.
const userCookie = "wechatsim_openid"

// browserUser is the openid the authorize page gave this browser, or "".
func browserUser(r *http.Request) string {
	if c, err := r.Cookie(userCookie); err == nil {
		return c.Value
	}
	return ""
}

// handleAuthorize stands in for WeChat's authorize page
// (https://open.weixin.qq.com/connect/oauth2/authorize?appid&redirect_uri&response_type=code&scope&state#wechat_redirect):
// with snsapi_base WeChat asks the user nothing and redirects at once to
// redirect_uri with code and state. The user is the browser's (a cookie),
// the one named by ?openid= (a Sim extension), or a new one.
func (s *Sim) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	problem := ""
	switch {
	case !s.officialAccount():
		problem = "this simulator plays a mini-program; web authorisation is for official accounts (-kind official_account)"
	case q.Get("appid") != s.Config().AppID:
		problem = "appid is not this account's"
	case q.Get("response_type") != "code":
		problem = "response_type must be code"
	case q.Get("scope") != "snsapi_base" && q.Get("scope") != "snsapi_userinfo":
		problem = "scope must be snsapi_base or snsapi_userinfo"
	}
	back, err := url.Parse(q.Get("redirect_uri"))
	if problem == "" && (err != nil || (back.Scheme != "http" && back.Scheme != "https") || back.Host == "") {
		problem = "redirect_uri must be an absolute http(s) URL"
	}
	if problem != "" {
		http.Error(w, "wechatsim: "+problem, http.StatusBadRequest)
		return
	}
	openid := q.Get("openid")
	if openid == "" {
		openid = browserUser(r)
	}
	code, openid, err := s.Login(openid)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: userCookie, Value: openid, Path: "/", SameSite: http.SameSiteLaxMode})
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	back.RawQuery = bq.Encode()
	back.Fragment = ""
	http.Redirect(w, r, back.String(), http.StatusFound)
}

//go:embed jweixin.js
var jweixinJS []byte

// handleJWeixin serves the stand-in JS-SDK. A page in a real WeChat browser
// loads https://res.wx.qq.com/open/js/jweixin-1.6.0.js; a page under test
// in an ordinary browser loads this one instead.
func (s *Sim) handleJWeixin(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(jweixinJS)
}

// allowCORS lets a page on another origin (the web page under test) call
// the control endpoints the stand-in JS-SDK uses, with the browser's
// cookie, and answers preflights; it reports whether the request is done.
func allowCORS(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || !strings.HasPrefix(r.URL.Path, "/__sim/") {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Add("Vary", "Origin")
	if r.Method != http.MethodOptions {
		return false
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}
