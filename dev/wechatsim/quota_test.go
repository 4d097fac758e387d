package wechatsim_test

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/wechatsim"
)

func (e *env) quotaGet(tok, path string) obj {
	e.t.Helper()
	return e.wx("POST", wechatsim.PathQuotaGet+"?access_token="+url.QueryEscape(tok), map[string]string{"cgi_path": path})
}

// quota returns daily_limit, used and remain of a quota/get answer.
func quota(t *testing.T, o obj) (limit, used, remain int64) {
	t.Helper()
	wantOK(t, o)
	q, _ := o["quota"].(map[string]any)
	get := func(k string) int64 { n, _ := q[k].(json.Number).Int64(); return n }
	return get("daily_limit"), get("used"), get("remain")
}

func TestDailyQuotaAnswers45009UntilTheNextShanghaiDay(t *testing.T) {
	e := newEnv(t, wechatsim.Config{}) // 10:00 Shanghai
	tok := e.token()
	openid := e.user(wechatsim.TmplOrderShipped, 5)
	e.control("POST", "/__sim/quota", map[string]any{"path": wechatsim.PathSend, "daily_limit": 2})
	wantOK(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)))
	wantOK(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)))
	wantErr(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)), 45009, "reach max api daily quota limit")
	if n := e.sim.Credits(openid, wechatsim.TmplOrderShipped); n != 3 {
		t.Fatalf("a 45009 spent a credit: %d left, want 3", n)
	}
	if l, u, r := quota(t, e.quotaGet(tok, wechatsim.PathSend)); l != 2 || u != 2 || r != 0 {
		t.Fatalf("quota/get: limit %d used %d remain %d, want 2 2 0", l, u, r)
	}
	e.sim.Advance(13*time.Hour + 59*time.Minute) // 23:59 Shanghai
	wantErr(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)), 45009, "reach max api daily quota limit")
	e.sim.Advance(time.Minute)
	tok = e.token()
	wantOK(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)))
}

func TestQuotaGetCountsRealCalls(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	for range 3 {
		e.classic()
	}
	if l, u, r := quota(t, e.quotaGet(tok, wechatsim.PathToken)); l != 2000 || u != 3 || r != 1997 {
		t.Fatalf("token quota: %d %d %d, want 2000 3 1997", l, u, r)
	}
	o := e.quotaGet(tok, wechatsim.PathStableToken)
	if l, u, _ := quota(t, o); l != 500000 || u != 1 {
		t.Fatalf("stable_token quota: %d used %d", l, u)
	}
	if rate, _ := o["rate_limit"].(map[string]any); rate["call_count"] != json.Number("10000") || rate["refresh_second"] != json.Number("60") {
		t.Fatalf("stable_token rate_limit %v", o["rate_limit"])
	}
	if l, u, _ := quota(t, e.quotaGet(tok, wechatsim.PathSend)); l != 10000000 || u != 0 {
		t.Fatalf("send quota: %d used %d", l, u)
	}
	wantErr(t, e.quotaGet(tok, "/cgi-bin/no/such/api"), 76021, "")
	wantErr(t, e.quotaGet(tok, "cgi-bin/token"), 76003, "")
	wantErr(t, e.quotaGet(tok, wechatsim.PathCode2Session), 76022, "")
	wantErr(t, e.quotaGet("", wechatsim.PathSend), 41001, "access_token missing")
}

func TestClearQuota(t *testing.T) {
	e := newEnv(t, wechatsim.Config{}) // 2024-05-18
	e.sim.SetQuota(wechatsim.PathToken, 1)
	tok := e.token()
	clearV1 := func(appid string) obj {
		return e.wx("POST", wechatsim.PathClearQuota+"?access_token="+tok, map[string]string{"appid": appid})
	}
	wantOK(t, e.classic())
	wantErr(t, e.classic(), 45009, "reach max api daily quota limit")
	wantErr(t, clearV1("wx0000000000000000"), 40013, "invalid appid")
	wantOK(t, clearV1(e.cfg.AppID))
	wantOK(t, e.classic())

	// v2 takes appid and appsecret in the query or in the body, without a token.
	v2query := func(secret string) obj {
		return e.wx("POST", wechatsim.PathClearQuotaV2+"?"+url.Values{"appid": {e.cfg.AppID}, "appsecret": {secret}}.Encode(), nil)
	}
	wantErr(t, v2query("wrong"), 40125, "invalid appsecret")
	wantOK(t, v2query(e.cfg.Secret))
	wantOK(t, e.wx("POST", wechatsim.PathClearQuotaV2, map[string]string{"appid": e.cfg.AppID, "appsecret": e.cfg.Secret}))
	wantErr(t, e.wx("POST", wechatsim.PathClearQuotaV2, map[string]string{"appsecret": e.cfg.Secret}), 41002, "appid missing")

	for range 7 { // 3 clears so far: 10 in all
		wantOK(t, v2query(e.cfg.Secret))
	}
	wantErr(t, v2query(e.cfg.Secret), 48006, "forbid to clear quota because of reaching the limit")
	wantErr(t, clearV1(e.cfg.AppID), 48006, "forbid to clear quota")
	e.sim.Advance(14 * 24 * time.Hour) // June in Shanghai
	wantOK(t, v2query(e.cfg.Secret))
}
