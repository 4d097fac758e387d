package wechatsim_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/wechatsim"
)

// check returns the errcode gettemplate answers with token (0: it works).
func (e *env) check(token string) int {
	e.t.Helper()
	return e.wx("GET", wechatsim.PathGetTemplate+"?access_token="+url.QueryEscape(token), nil).code()
}

func TestClassicTokenOverlapAndExpiry(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	first := e.classic()
	if first.int("expires_in") != 7200 || len(first.str("access_token")) < 100 {
		t.Fatalf("token answer %v: want a long token with expires_in 7200", first)
	}
	if _, has := first["errcode"]; has {
		t.Errorf("token success carries errcode: %v", first)
	}
	t1 := first.str("access_token")

	e.sim.Advance(time.Minute)
	t2 := e.classic().str("access_token")
	if t2 == t1 {
		t.Fatal("second call returned the same token")
	}
	e.sim.Advance(5*time.Minute - time.Second)
	if c := e.check(t1); c != 0 {
		t.Fatalf("previous token 4:59 after the new one: errcode %d, want it still valid", c)
	}
	e.sim.Advance(time.Second)
	if c := e.check(t1); c != 40001 {
		t.Fatalf("previous token 5 min after the new one: errcode %d, want 40001", c)
	}
	if c := e.check(t2); c != 0 {
		t.Fatalf("newest token: errcode %d, want valid", c)
	}
	e.sim.Advance(7200*time.Second - 5*time.Minute) // t2 issued 7200 s ago now
	if c := e.check(t2); c != 42001 {
		t.Fatalf("token past its expiry: errcode %d, want 42001", c)
	}
}

func TestClassicTokenOverlapNeverOutlivesExpiry(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	t1 := e.classic().str("access_token")
	e.sim.Advance(7100 * time.Second)
	e.classic()
	e.sim.Advance(99 * time.Second)
	if c := e.check(t1); c != 0 {
		t.Fatalf("old token inside overlap and lifetime: errcode %d", c)
	}
	e.sim.Advance(time.Second)
	if c := e.check(t1); c != 42001 {
		t.Fatalf("old token at its own expiry inside the overlap: errcode %d, want 42001", c)
	}
}

func TestStableTokenNormalMode(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	a := e.stable(false)
	tok := a.str("access_token")
	if a.int("expires_in") != 7200 {
		t.Fatalf("first stable token: %v", a)
	}
	e.sim.Advance(time.Hour)
	b := e.stable(false)
	if b.str("access_token") != tok || b.int("expires_in") != 3600 {
		t.Fatalf("after 1 h got %v, want the same token with expires_in 3600", b)
	}
	e.sim.Advance(3600*time.Second - 301*time.Second)
	if c := e.stable(false); c.str("access_token") != tok || c.int("expires_in") != 301 {
		t.Fatalf("with 301 s left got %v, want the same token", c)
	}
	e.sim.Advance(2 * time.Second) // 299 s left: inside the last 5 minutes
	n := e.stable(false)
	if n.str("access_token") == tok || n.int("expires_in") != 7200 {
		t.Fatalf("in the last 5 minutes got %v, want a new token with expires_in 7200", n)
	}
	if c := e.check(tok); c != 0 {
		t.Fatalf("old stable token before its expiry: errcode %d", c)
	}
	e.sim.Advance(299 * time.Second)
	if c := e.check(tok); c != 42001 {
		t.Fatalf("old stable token after its expiry: errcode %d, want 42001", c)
	}
	if c := e.check(n.str("access_token")); c != 0 {
		t.Fatalf("new stable token: errcode %d", c)
	}
}

func TestStableTokenEveryAnswerHasFiveMinutes(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	for range 300 {
		if o := e.stable(false); o.int("expires_in") < 300 {
			t.Fatalf("expires_in %d < 300", o.int("expires_in"))
		}
		e.sim.Advance(37 * time.Second)
	}
}

func TestStableAndClassicAreIsolated(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	st := e.stable(false).str("access_token")
	cl := e.classic().str("access_token")
	e.classic()
	e.stable(true)
	e.sim.Advance(10 * time.Minute)
	e.classic()
	if c := e.check(cl); c != 40001 {
		t.Fatalf("classic token two generations back: %d, want 40001", c)
	}
	// The force refresh revoked st; classic calls did not touch stable ones.
	if c := e.check(st); c != 40001 {
		t.Fatalf("force-refreshed stable token: %d, want 40001", c)
	}
	st2 := e.stable(false).str("access_token")
	for range 3 {
		e.classic()
	}
	e.sim.Advance(10 * time.Minute)
	if c := e.check(st2); c != 0 {
		t.Fatalf("stable token after classic calls: errcode %d, want valid", c)
	}
	if got := e.stable(false).str("access_token"); got != st2 {
		t.Fatal("classic calls changed the stable token")
	}
}

func TestStableForceRefresh(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	old := e.token()
	f1 := e.stable(true)
	if f1.str("access_token") == old || f1.int("expires_in") != 7200 {
		t.Fatalf("force refresh: %v", f1)
	}
	if c := e.check(old); c != 40001 {
		t.Fatalf("token replaced by force: errcode %d, want 40001 at once", c)
	}
	e.sim.Advance(29 * time.Second)
	if f := e.stable(true); f.str("access_token") != f1.str("access_token") || f.int("expires_in") != 7171 {
		t.Fatalf("force inside 30 s: %v, want the current token unchanged", f)
	}
	e.sim.Advance(time.Second)
	f2 := e.stable(true)
	if f2.str("access_token") == f1.str("access_token") {
		t.Fatal("force 30 s after the last one did not refresh")
	}
	if n := e.stable(false); n.str("access_token") != f2.str("access_token") {
		t.Fatal("normal mode after force does not return the forced token")
	}
	if s := e.sim.Stats(); s.ForceRefreshes != 2 || s.TokensIssued.Stable != 3 {
		t.Fatalf("stats %+v: want 2 force refreshes and 3 stable tokens", s)
	}
}

func TestStableForceLimitPerShanghaiDay(t *testing.T) {
	e := newEnv(t, wechatsim.Config{}) // 10:00 Shanghai
	var last string
	for i := range 20 {
		o := e.stable(true)
		wantOK(t, o)
		if o.str("access_token") == last {
			t.Fatalf("force %d did not refresh", i+1)
		}
		last = o.str("access_token")
		e.sim.Advance(31 * time.Second)
	}
	wantErr(t, e.stable(true), 45009, "reach max api daily quota limit")
	if o := e.stable(false); o.str("access_token") != last {
		t.Fatalf("normal mode after the force budget: %v, want the current token", o)
	}
	e.sim.Advance(13*time.Hour + 49*time.Minute) // 23:59:20 in Shanghai
	wantErr(t, e.stable(true), 45009, "reach max api daily quota limit")
	e.sim.Advance(time.Minute) // past midnight in Shanghai
	wantOK(t, e.stable(true))
}

func TestInvalidateTokens(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	cl := e.classic().str("access_token")
	st := e.token()
	e.control("POST", "/__sim/tokens/invalidate", nil)
	for _, tok := range []string{cl, st} {
		if c := e.check(tok); c != 40001 {
			t.Fatalf("invalidated token: errcode %d, want 40001", c)
		}
	}
	fresh := e.token()
	if fresh == st || e.check(fresh) != 0 {
		t.Fatal("stable_token after invalidation does not give a new working token")
	}
}

func TestClockEndpointDrivesExpiry(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	o := e.control("POST", "/__sim/clock", map[string]int64{"advance_ms": 7200 * 1000})
	if got, _ := time.Parse(time.RFC3339Nano, o.str("now")); !got.Equal(start.Add(2 * time.Hour)) {
		t.Fatalf("clock answered %v", o)
	}
	if c := e.check(tok); c != 42001 {
		t.Fatalf("errcode %d after advancing past expiry, want 42001", c)
	}
	if status, _ := e.do("POST", "/__sim/clock", `{"advance_ms":-1}`); status != 400 {
		t.Fatalf("negative advance: HTTP %d, want 400", status)
	}
}

func TestTokenErrors(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	q := func(appid, secret, grant string) string {
		v := url.Values{}
		for k, s := range map[string]string{"appid": appid, "secret": secret, "grant_type": grant} {
			if s != "" {
				v.Set(k, s)
			}
		}
		return wechatsim.PathToken + "?" + v.Encode()
	}
	body := func(appid, secret string) map[string]any {
		return map[string]any{"grant_type": "client_credential", "appid": appid, "secret": secret}
	}
	app, sec := e.cfg.AppID, e.cfg.Secret
	cases := []struct {
		name string
		got  obj
		code int
		msg  string
	}{
		{"classic wrong appid", e.wx("GET", q("wx0000000000000000", sec, "client_credential"), nil), 40013, "invalid appid"},
		{"classic wrong secret", e.wx("GET", q(app, "nope", "client_credential"), nil), 40125, "invalid appsecret"},
		{"classic no appid", e.wx("GET", q("", sec, "client_credential"), nil), 41002, "appid missing"},
		{"classic no secret", e.wx("GET", q(app, "", "client_credential"), nil), 41004, "appsecret missing"},
		{"classic bad grant", e.wx("GET", q(app, sec, "password"), nil), 40002, "invalid grant_type"},
		{"stable wrong appid", e.wx("POST", wechatsim.PathStableToken, body("wx0000000000000000", sec)), 40013, "invalid appid"},
		{"stable wrong secret", e.wx("POST", wechatsim.PathStableToken, body(app, "nope")), 40125, "invalid appsecret"},
		{"stable no appid", e.wx("POST", wechatsim.PathStableToken, body("", sec)), 41002, "appid missing"},
		{"stable no secret", e.wx("POST", wechatsim.PathStableToken, body(app, "")), 41004, "appsecret missing"},
		{"stable GET", e.wx("GET", wechatsim.PathStableToken+"?appid="+app+"&secret="+sec, nil), 43002, "require POST method"},
		{"stable not JSON", e.wx("POST", wechatsim.PathStableToken, "appid="+app), 47001, "data format error"},
		{"no token", e.wx("GET", wechatsim.PathGetTemplate, nil), 41001, "access_token missing"},
		{"unknown token", e.wx("GET", wechatsim.PathGetTemplate+"?access_token=forged", nil), 40001, "invalid credential"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantErr(t, c.got, c.code, c.msg) })
	}
	if s := e.sim.Stats(); s.TokensIssued.Classic != 0 || s.TokensIssued.Stable != 0 {
		t.Fatalf("failed calls issued tokens: %+v", s.TokensIssued)
	}
}
