package wechatsim_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/wxpush"
)

func oaEnv(t *testing.T) *env {
	return newEnv(t, wechatsim.Config{Kind: wechatsim.KindOfficialAccount})
}

func (e *env) oauth(code string) obj {
	e.t.Helper()
	return e.wx("GET", wechatsim.PathOAuthToken+"?"+url.Values{"appid": {e.cfg.AppID}, "secret": {e.cfg.Secret},
		"code": {code}, "grant_type": {"authorization_code"}}.Encode(), nil)
}

func TestOfficialAccountConfigSaysItsKind(t *testing.T) {
	for kind, e := range map[string]*env{"official_account": oaEnv(t), "miniprogram": newEnv(t, wechatsim.Config{})} {
		if got := e.control("GET", "/__sim/config", nil).str("kind"); got != kind {
			t.Errorf("kind = %q, want %q", got, kind)
		}
	}
}

func TestOAuthCodesAreSingleUseAndOnlyForWebAuthorisation(t *testing.T) {
	e := oaEnv(t)
	openid, code := e.login("")
	// A web code is not a wx.login code.
	wantErr(t, e.wx("GET", wechatsim.PathCode2Session+"?"+url.Values{"appid": {e.cfg.AppID}, "secret": {e.cfg.Secret},
		"js_code": {code}, "grant_type": {"authorization_code"}}.Encode(), nil), 40029, "invalid code")
	o := e.oauth(code)
	wantOK(t, o)
	if o.str("openid") != openid || o.str("scope") != "snsapi_base" || o.str("access_token") == "" || o.int("expires_in") != 7200 {
		t.Errorf("answer %v", o)
	}
	wantErr(t, e.oauth(code), 40163, "code been used")
	wantErr(t, e.oauth("nosuchcode"), 40029, "invalid code")

	// A mini-program's wx.login code is not a web code.
	mp := newEnv(t, wechatsim.Config{})
	_, mcode := mp.login("")
	wantErr(t, mp.oauth(mcode), 40029, "invalid code")
}

func TestAuthorizePageRedirectsWithACodeForTheBrowsersUser(t *testing.T) {
	e := oaEnv(t)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	authorize := func(cookie *http.Cookie) (*url.URL, *http.Cookie) {
		q := url.Values{"appid": {e.cfg.AppID}, "redirect_uri": {"https://shop.example.com/page?x=1"},
			"response_type": {"code"}, "scope": {"snsapi_base"}, "state": {"s1"}}
		req, _ := http.NewRequest("GET", e.url+"/connect/oauth2/authorize?"+q.Encode(), nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("status %d", resp.StatusCode)
		}
		loc, _ := url.Parse(resp.Header.Get("Location"))
		var c *http.Cookie
		for _, k := range resp.Cookies() {
			c = k
		}
		return loc, c
	}
	loc, cookie := authorize(nil)
	if loc.Host != "shop.example.com" || loc.Query().Get("x") != "1" || loc.Query().Get("state") != "s1" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect to %s", loc)
	}
	first := e.oauth(loc.Query().Get("code")).str("openid")
	loc, _ = authorize(cookie)
	if again := e.oauth(loc.Query().Get("code")).str("openid"); again != first || first == "" {
		t.Errorf("the same browser came back as %q, was %q", again, first)
	}
	status, _ := e.do("GET", "/connect/oauth2/authorize?appid=wrong&redirect_uri=https://a.example/&response_type=code&scope=snsapi_base", nil)
	if status != http.StatusBadRequest {
		t.Errorf("wrong appid: status %d, want 400", status)
	}
}

func TestTicketsSignWXConfigUntilInvalidated(t *testing.T) {
	e := oaEnv(t)
	tok := e.token()
	o := e.wx("GET", wechatsim.PathGetTicket+"?access_token="+url.QueryEscape(tok)+"&type=jsapi", nil)
	wantOK(t, o)
	ticket := o.str("ticket")
	if ticket == "" || o.int("expires_in") != 7200 {
		t.Fatalf("answer %v", o)
	}
	page := "https://shop.example.com/sub?from=menu"
	verify := func(sig, pageURL string) string {
		return e.control("POST", "/__sim/jssdk/verify", map[string]any{"appId": e.cfg.AppID, "timestamp": 1700000000,
			"nonceStr": "n0nce", "signature": sig, "url": pageURL}).str("errMsg")
	}
	sig := wechatsim.JSSDKSignature(ticket, "n0nce", 1700000000, page)
	if got := verify(sig, page+"#section"); got != "config:ok" {
		t.Errorf("a good signature (fragment on the page URL) = %q", got)
	}
	if got := verify(sig, "https://shop.example.com/other"); got != "config:invalid signature" {
		t.Errorf("another page = %q", got)
	}
	e.control("POST", "/__sim/tickets/invalidate", nil)
	if got := verify(sig, page); got != "config:invalid signature" {
		t.Errorf("after invalidation = %q", got)
	}
	wantErr(t, e.wx("GET", wechatsim.PathGetTicket+"?access_token=bad&type=jsapi", nil), 40001, "invalid credential")
	// A mini-program has no JS-SDK.
	mp := newEnv(t, wechatsim.Config{})
	wantErr(t, mp.wx("GET", wechatsim.PathGetTicket+"?access_token="+url.QueryEscape(mp.token())+"&type=jsapi", nil), 48001, "api unauthorized")
}

// The JS-SDK documentation's worked example (appendix 1), with the query on
// the URL as the current page shows it.
func TestJSSDKSignatureMatchesWeChatsExample(t *testing.T) {
	const ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
	if got := wechatsim.JSSDKSignature(ticket, "Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com?params=value"); got != "0f9de62fce790f9a083d5c99e95740ceb90c27ed" {
		t.Errorf("signature %s", got)
	}
}

func TestOpenTagPopupAnswersTheDetailAndPushesScene1(t *testing.T) {
	rc := &receiver{}
	e := pushEnv(t, wechatsim.Config{Kind: wechatsim.KindOfficialAccount}, rc)
	oneTime := ""
	for _, tpl := range e.cfg.Templates {
		if tpl.Type == wechatsim.OneTime && oneTime == "" {
			oneTime = tpl.ID
		}
	}
	openid, _ := e.login("")
	o := e.popup(openid, map[string]string{oneTime: "accept"})
	if o.str("errMsg") != "subscribe:ok" {
		t.Fatalf("answer %v", o)
	}
	var details map[string]string
	if err := json.Unmarshal([]byte(o.str("subscribeDetails")), &details); err != nil {
		t.Fatalf("subscribeDetails is not a JSON string of an object of strings: %v (%v)", err, o)
	}
	var st struct{ Status string }
	if err := json.Unmarshal([]byte(details[oneTime]), &st); err != nil || st.Status != "accept" {
		t.Fatalf("detail of %s = %q", oneTime, details[oneTime])
	}
	if e.sim.Credits(openid, oneTime) != 1 {
		t.Errorf("credits %d", e.sim.Credits(openid, oneTime))
	}
	// cancel changes nothing and pushes nothing; a mini-program status is refused.
	e.popup(openid, map[string]string{oneTime: "cancel"})
	if e.sim.Credits(openid, oneTime) != 1 {
		t.Errorf("cancel changed the credits")
	}
	if status, body := e.do("POST", "/__sim/popup", map[string]any{"openid": openid, "results": map[string]string{oneTime: "ban"}}); status != 400 || !strings.Contains(string(body), "cancel") {
		t.Errorf("ban on an official account: %d %s", status, body)
	}
	e.sim.Flush()
	evs, _ := rc.got()
	if len(evs) != 1 || evs[0].Event != wxpush.EventPopup || len(evs[0].Items) != 1 || evs[0].Items[0].PopupScene != 1 {
		t.Fatalf("pushes %+v", evs)
	}
}

func TestStandInJSSDKIsServedWithCORSForPages(t *testing.T) {
	e := oaEnv(t)
	status, body := e.do("GET", "/__sim/jweixin.js", nil)
	if status != 200 || !strings.Contains(string(body), "wx-open-subscribe") {
		t.Fatalf("jweixin.js: %d", status)
	}
	req, _ := http.NewRequest("OPTIONS", e.url+"/__sim/popup", nil)
	req.Header.Set("Origin", "http://127.0.0.1:3000")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:3000" || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
}
