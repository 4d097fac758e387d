package localstack_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wxsub/wxsub/shared/sessiontoken"
)

func TestWalkThroughRunsAsPrinted(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	h := start(t)
	script := h.s.WalkThrough()
	h.fastForwardReminders()
	out, err := exec.Command("bash", "-euo", "pipefail", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("walk-through failed: %v\n%s\n--- script ---\n%s", err, out, script)
	}
	text := string(out)
	if !strings.Contains(text, `"status":"scheduled","send_at"`) || !strings.Contains(text, `"credits_left":0`) {
		t.Fatalf("the reminder was not scheduled with its credit held:\n%s", text)
	}
	if last := text[strings.LastIndex(text, `{"message_id"`):]; !strings.Contains(last, `"status":"sent"`) && !strings.Contains(last, `"status":"delivered"`) {
		t.Fatalf("the reminder did not go out after the clock moved:\n%s", text)
	}
	if strings.Count(text, "HTTP 200") != 2 || strings.Count(text, "HTTP 409") != 1 || !strings.Contains(text, `"no_credit"`) {
		t.Fatalf("sends did not answer 200, 200, 409 no_credit:\n%s", text)
	}
	if !strings.Contains(text, `"credits":1`) || !strings.Contains(text, `"credits":2`) {
		t.Fatalf("the two reports did not show 1 then 2 credits:\n%s", text)
	}
	if strings.Count(text, `"template_id":"`+oneTime+`"`) < 2 || !strings.Contains(text, `"messages":[`) {
		t.Fatalf("the inbox does not show the delivered messages:\n%s", text)
	}
}

func TestSessionRoute(t *testing.T) {
	t.Parallel()
	h := start(t)
	code := h.sim("POST", "/__sim/login", map[string]string{"openid": "oSession00000000000000000000"}).body["code"].(string)
	a := h.api("POST", "/v1/session", "", map[string]string{"code": code})
	if a.status != 200 || a.body["openid"] != "oSession00000000000000000000" {
		t.Fatalf("login: %d %s", a.status, a.raw)
	}
	if _, err := time.Parse(time.RFC3339, a.body["expires_at"].(string)); err != nil {
		t.Fatalf("expires_at: %v", err)
	}
	if strings.Contains(a.raw, "session_key") {
		t.Fatal("the answer carries WeChat's session_key")
	}
	cases := []struct {
		name   string
		body   any
		fault  map[string]any
		status int
		code   string
	}{
		{"reused code", map[string]string{"code": code}, nil, 400, "invalid_code"},
		{"unknown code", map[string]string{"code": "made-up"}, nil, 400, "invalid_code"},
		{"empty code", map[string]string{"code": ""}, nil, 400, "invalid_code"},
		{"unknown field", map[string]any{"code": "x", "openid": "o"}, nil, 400, "unknown_field"},
		{"45011", map[string]string{"code": "any"}, map[string]any{"path": "/sns/jscode2session", "errcode": 45011}, 429, "rate_limited"},
		{"40226", map[string]string{"code": "any"}, map[string]any{"path": "/sns/jscode2session", "errcode": 40226}, 403, "login_blocked"},
		{"-1", map[string]string{"code": "any"}, map[string]any{"path": "/sns/jscode2session", "errcode": -1}, 502, "wechat_error"},
	}
	// Codes that are obviously not wx.login codes are refused without
	// spending WeChat's jscode2session quota.
	calls := h.s.Sim.Stats().Calls["/sns/jscode2session"]
	for _, bad := range []string{"not a code", strings.Repeat("a", 129), "code\u0000", "代码", `{"$ne":1}`} {
		if a := h.api("POST", "/v1/session", "", map[string]string{"code": bad}); a.status != 400 || a.errCode() != "invalid_code" {
			t.Errorf("code %q: %d %s, want 400 invalid_code", bad, a.status, a.raw)
		}
	}
	if n := h.s.Sim.Stats().Calls["/sns/jscode2session"]; n != calls {
		t.Errorf("%d jscode2session calls for codes that are obviously not codes, want 0", n-calls)
	}
	for _, c := range cases {
		if c.fault != nil {
			h.fault(c.fault)
		}
		a := h.api("POST", "/v1/session", "", c.body)
		if a.status != c.status || a.errCode() != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, a.status, a.raw, c.status, c.code)
		}
		if strings.Contains(a.raw, h.s.Config.Secret) {
			t.Errorf("%s: the answer leaks the AppSecret", c.name)
		}
	}
}

func TestSubscriptionRoutes(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oSubscriber00000000000000000")
	other := h.login("oOtherUser000000000000000000")

	// The raw object of wx.requestSubscribeMessage, several templates at once.
	p := h.sim("POST", "/__sim/popup", map[string]any{"openid": u.openid, "results": map[string]string{
		oneTime: "accept", "nSWNoq_mrqwk4Up-1XPfuiDm6x3KR-Jts6fVHAmLTkI": "reject"}})
	a := h.api("POST", "/v1/subscriptions", u.token, map[string]any{"result": p.body, "scene": "checkout"})
	if a.status != 200 || !strings.Contains(a.raw, `"status":"accept","credits":1`) || !strings.Contains(a.raw, `"status":"reject","credits":0`) {
		t.Fatalf("raw report: %d %s", a.status, a.raw)
	}
	// The normalised form.
	a = h.api("POST", "/v1/subscriptions", u.token, map[string]any{"results": []map[string]string{{"template_id": oneTime, "status": "accept"}}})
	if a.status != 200 || !strings.Contains(a.raw, `"credits":2`) {
		t.Fatalf("normalised report: %d %s", a.status, a.raw)
	}
	// Refusals change nothing.
	bad := []struct {
		name   string
		auth   string
		body   any
		status int
		code   string
	}{
		{"no session", "", map[string]any{"results": []map[string]string{{"template_id": oneTime, "status": "accept"}}}, 401, "unauthorized"},
		{"forged session", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig", map[string]any{"results": []map[string]string{{"template_id": oneTime, "status": "accept"}}}, 401, "unauthorized"},
		{"bad status", u.token, map[string]any{"results": []map[string]string{{"template_id": oneTime, "status": "maybe"}}}, 400, "invalid_status"},
		{"bad template id", u.token, map[string]any{"results": []map[string]string{{"template_id": "a/b", "status": "accept"}}}, 400, "invalid_template_id"},
		{"fail object", u.token, map[string]any{"result": map[string]any{"errMsg": "requestSubscribeMessage:fail", "errCode": 20001}}, 422, "subscribe_failed"},
		{"not ok", u.token, map[string]any{"result": map[string]any{"errMsg": "something", oneTime: "accept"}}, 400, "invalid_result"},
		{"six templates", u.token, map[string]any{"results": []map[string]string{
			{"template_id": "a1", "status": "accept"}, {"template_id": "a2", "status": "accept"}, {"template_id": "a3", "status": "accept"},
			{"template_id": "a4", "status": "accept"}, {"template_id": "a5", "status": "accept"}, {"template_id": "a6", "status": "accept"}}}, 400, "too_many_templates"},
		{"one bad among good", u.token, map[string]any{"results": []map[string]string{{"template_id": oneTime, "status": "accept"}, {"template_id": "x", "status": "nope"}}}, 400, "invalid_status"},
		{"both shapes", u.token, map[string]any{"result": p.body, "results": []map[string]string{}}, 400, "invalid_body"},
		{"unknown field", u.token, map[string]any{"results": []map[string]string{}, "openid": other.openid}, 400, "unknown_field"},
	}
	for _, c := range bad {
		a := h.api("POST", "/v1/subscriptions", c.auth, c.body)
		if a.status != c.status || a.errCode() != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, a.status, a.raw, c.status, c.code)
		}
	}
	if r := h.row(u.openid, oneTime); r.Credits != 2 || r.Granted != 2 {
		t.Fatalf("refused reports changed the ledger: %+v", r)
	}
	// An expired session.
	signer, _ := sessiontoken.NewSigner(h.s.Config.SessionKey, time.Hour)
	old, _, _ := signer.WithClock(func() time.Time { return time.Now().Add(-2 * time.Hour) }).Issue(h.appid, u.openid)
	if a := h.api("GET", "/v1/subscriptions", old, nil); a.status != 401 || a.errCode() != "session_expired" {
		t.Fatalf("expired session: %d %s", a.status, a.raw)
	}

	// GET for the user, and the server view of the same ledger.
	mine := h.api("GET", "/v1/subscriptions", u.token, nil)
	if mine.status != 200 || !strings.Contains(mine.raw, `"template_id":"`+oneTime+`"`) || !strings.Contains(mine.raw, `"credits":2`) {
		t.Fatalf("GET /v1/subscriptions: %d %s", mine.status, mine.raw)
	}
	theirs := h.api("GET", "/v1/subscriptions", other.token, nil)
	if strings.Contains(theirs.raw, `"credits":2`) {
		t.Fatalf("another user sees this user's credits: %s", theirs.raw)
	}
	server := h.admin("GET", "/v1/users/"+u.openid+"/subscriptions", nil)
	if server.status != 200 || !strings.Contains(server.raw, `"credits":2`) {
		t.Fatalf("server view: %d %s", server.status, server.raw)
	}
	if a := h.api("GET", "/v1/users/"+u.openid+"/subscriptions", u.token, nil); a.status != 401 {
		t.Fatalf("a session token opened a server route: %d", a.status)
	}
	if a := h.admin("GET", "/v1/users/bad!id/subscriptions", nil); a.status != 400 {
		t.Fatalf("malformed openid: %d %s", a.status, a.raw)
	}

	// errCode 20004 (main switch off) zeroes the user's one-time credits.
	a = h.api("POST", "/v1/subscriptions", u.token, map[string]any{"result": map[string]any{
		"errMsg": "requestSubscribeMessage:fail The main switch is switched off", "errCode": 20004}})
	if a.status != 200 || !strings.Contains(a.raw, `"status":"off","credits":0`) {
		t.Fatalf("20004: %d %s", a.status, a.raw)
	}
	h.checkInvariant(u.openid, oneTime)
	if a := h.send(u.openid, oneTime); a.status != 409 {
		t.Fatalf("send after the main switch went off: %d %s", a.status, a.raw)
	}
}

func TestCatalogueMakesReportsAndSendsStrict(t *testing.T) {
	t.Parallel()
	h := start(t)
	if _, err := h.s.Backend.Catalog.Sync(t.Context(), h.s.Backend.WeChat, mustToken(t, h)); err != nil {
		t.Fatal(err)
	}
	u := h.login("oCatalogue000000000000000000")
	a := h.api("POST", "/v1/subscriptions", u.token, map[string]any{"results": []map[string]string{{"template_id": "NotOneOfOurTemplates", "status": "accept"}}})
	if a.status != 404 || a.errCode() != "unknown_template" {
		t.Fatalf("report of an unknown template: %d %s", a.status, a.raw)
	}
	h.accept(u, oneTime, 1)
	calls := h.s.Sim.Stats().Calls[sendPath]
	data := exampleData(oneTime)
	data["thing2"] = map[string]string{"value": strings.Repeat("长", 21)}
	delete(data, "phrase5")
	data["thing99"] = "extra" // not a problem: left out, with a warning, when the rest is valid
	s := h.admin("POST", "/v1/messages", map[string]any{"touser": u.openid, "template_id": oneTime, "data": data})
	if s.status != 422 || s.errCode() != "invalid_data" {
		t.Fatalf("invalid data: %d %s", s.status, s.raw)
	}
	details, _ := s.body["error"].(map[string]any)["details"].([]any)
	if len(details) != 2 {
		t.Fatalf("want one detail per bad keyword (thing2, phrase5): %s", s.raw)
	}
	if h.s.Sim.Stats().Calls[sendPath] != calls {
		t.Fatal("WeChat was called for invalid data")
	}
	if r := h.row(u.openid, oneTime); r.Credits != 1 {
		t.Fatalf("invalid data touched the credit: %+v", r)
	}
	if s := h.admin("POST", "/v1/messages", map[string]any{"touser": u.openid, "template_id": "NotOneOfOurTemplates", "data": data}); s.status != 404 {
		t.Fatalf("unknown template: %d %s", s.status, s.raw)
	}
	// Plain string values are accepted.
	plain := map[string]any{}
	for k, v := range exampleData(oneTime) {
		plain[k] = v.(map[string]string)["value"]
	}
	if s := h.admin("POST", "/v1/messages", map[string]any{"touser": u.openid, "template_id": oneTime, "data": plain}); s.status != 200 {
		t.Fatalf("plain string data: %d %s", s.status, s.raw)
	}
}

func TestLogsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oLogCheck0000000000000000000")
	h.accept(u, oneTime, 1)
	h.send(u.openid, oneTime)
	h.fault(map[string]any{"path": sendPath, "errcode": 40001})
	h.accept(u, oneTime, 1)
	h.send(u.openid, oneTime)
	tok := mustToken(t, h)
	logs := h.logs.String()
	if logs == "" {
		t.Fatal("no logs were written")
	}
	for name, secret := range map[string]string{"access_token": tok, "AppSecret": h.s.Config.Secret,
		"session token": u.token, "openid": u.openid, "signing key": string(h.s.Config.SessionKey)} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain the %s", name)
		}
	}
}
