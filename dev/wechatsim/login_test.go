package wechatsim_test

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/wechatsim"
)

func (e *env) code2session(code string) obj {
	e.t.Helper()
	return e.wx("GET", wechatsim.PathCode2Session+"?"+url.Values{
		"appid": {e.cfg.AppID}, "secret": {e.cfg.Secret}, "js_code": {code}, "grant_type": {"authorization_code"}}.Encode(), nil)
}

func TestLoginGeneratesRealisticOpenIDs(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	a, _ := e.login("")
	b, _ := e.login("")
	for _, id := range []string{a, b} {
		if len(id) != 28 || id[0] != 'o' {
			t.Fatalf("openid %q: want 28 characters starting with o", id)
		}
	}
	if a == b {
		t.Fatal("two logins without openid got the same openid")
	}
	if a[:6] != b[:6] {
		t.Errorf("openids %s and %s of one app do not share WeChat's per-app prefix", a, b)
	}
}

func TestCode2SessionExchangesACodeOnce(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	openid, code := e.login("oTestUser")
	if openid != "oTestUser" {
		t.Fatalf("login kept openid %q", openid)
	}
	o := e.code2session(code)
	if o.str("openid") != "oTestUser" {
		t.Fatalf("jscode2session: %v", o)
	}
	if _, has := o["errcode"]; has {
		t.Errorf("jscode2session success carries errcode: %v", o)
	}
	key, err := base64.StdEncoding.DecodeString(o.str("session_key"))
	if err != nil || len(key) != 16 {
		t.Fatalf("session_key %q: want base64 of 16 bytes", o.str("session_key"))
	}
	wantErr(t, e.code2session(code), 40163, "code been used")
}

func TestCode2SessionRejectsUnknownAndStaleCodes(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	wantErr(t, e.code2session("0a3XXXXXXXXXXXXXXXXXXXXXXXXXXXXX"), 40029, "invalid code")
	_, code := e.login("")
	e.sim.Advance(5 * time.Minute)
	wantErr(t, e.code2session(code), 40029, "invalid code")
	_, fresh := e.login("")
	e.sim.Advance(5*time.Minute - time.Second)
	wantOK(t, e.code2session(fresh))
}

func TestCode2SessionCredentials(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	_, code := e.login("")
	call := func(v url.Values) obj { return e.wx("GET", wechatsim.PathCode2Session+"?"+v.Encode(), nil) }
	wantErr(t, call(url.Values{"appid": {"wx1111111111111111"}, "secret": {e.cfg.Secret}, "js_code": {code}}), 40013, "invalid appid")
	wantErr(t, call(url.Values{"appid": {e.cfg.AppID}, "secret": {"x"}, "js_code": {code}}), 40125, "invalid appsecret")
	wantErr(t, call(url.Values{"secret": {e.cfg.Secret}, "js_code": {code}}), 41002, "appid missing")
	wantErr(t, call(url.Values{"appid": {e.cfg.AppID}, "secret": {e.cfg.Secret}}), 41008, "missing code")
	// None of those spent the code.
	wantOK(t, e.code2session(code))
}

func TestControlRejectsBadJSON(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	for _, c := range []struct{ path, body string }{
		{"/__sim/login", `{"openid":`},
		{"/__sim/login", `{"open_id":"x"}`},
		{"/__sim/popup", `[]`},
		{"/__sim/faults", `{"path":"/cgi-bin/token","errcode":"x"}`},
		{"/__sim/quota", `{"path":"/cgi-bin/token"}{}`},
		{"/__sim/clock", `nope`},
	} {
		status, body := e.do("POST", c.path, c.body)
		var answer struct{ Error string }
		if status != 400 || json.Unmarshal(body, &answer) != nil || answer.Error == "" {
			t.Errorf("POST %s %s: HTTP %d %s, want 400 with a JSON error", c.path, c.body, status, body)
		}
	}
	if status, body := e.do("POST", "/__sim/login", `{"openid":"has space"}`); status != 400 || !strings.Contains(string(body), "error") {
		t.Errorf("login with a malformed openid: HTTP %d %s", status, body)
	}
}
