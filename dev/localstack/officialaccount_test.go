package localstack_test

import (
	"context"
	"encoding/json"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/localstack"
	"github.com/wxsub/wxsub/dev/wechatsim"
)

// officialAccount starts the stack as `WECHAT_APP_KIND=official_account make run` does.
func officialAccount() option {
	return func(o *localstack.Options) {
		prev := o.Getenv
		o.Getenv = func(name string) string {
			if name == "WECHAT_APP_KIND" {
				return "official_account"
			}
			return prev(name)
		}
	}
}

// jssdkConfig asks for the page's wx.config values.
func (h *harness) jssdkConfig(page string, extra ...string) answer {
	h.t.Helper()
	q := url.Values{"url": {page}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return h.api("GET", "/v1/jssdk-config?"+q.Encode(), "", nil)
}

// wxConfig runs wx.config as WeChat's client would: the simulator checks
// the signature against the tickets it issued.
func (h *harness) wxConfig(c answer, page string) string {
	h.t.Helper()
	ts, _ := c.body["timestamp"].(float64)
	appID, _ := c.body["appId"].(string)
	nonce, _ := c.body["nonceStr"].(string)
	sig, _ := c.body["signature"].(string)
	return h.s.Sim.VerifyConfig(appID, int64(ts), nonce, sig, page)
}

// TestOfficialAccountFlow is the whole flow of an official account's web
// page: OAuth login, the JS-SDK configuration, the button's success detail
// reported, a bizsend, and the sent event.
func TestOfficialAccountFlow(t *testing.T) {
	t.Parallel()
	h := start(t, officialAccount())
	if got := h.sim("GET", "/__sim/config", nil).body["kind"]; got != "official_account" {
		t.Fatalf("simulator kind %v", got)
	}

	// 1. WeChat's web authorisation redirected to the page with a code.
	code := h.sim("POST", "/__sim/login", map[string]string{"openid": "oOfficial0000000000000000001"}).body["code"].(string)
	s := h.api("POST", "/v1/session", "", map[string]string{"code": code})
	if s.status != 200 || s.body["openid"] != "oOfficial0000000000000000001" || s.body["token"] == nil {
		t.Fatalf("session: %d %s", s.status, s.raw)
	}
	if strings.Contains(s.raw, "access_token") || strings.Contains(s.raw, "refresh_token") || len(s.body) != 3 {
		t.Errorf("the session answer carries more than token, expires_at and openid: %s", s.raw)
	}
	if again := h.api("POST", "/v1/session", "", map[string]string{"code": code}); again.status != 400 || again.errCode() != "invalid_code" {
		t.Errorf("a reused code: %d %s", again.status, again.raw)
	}
	calls := h.s.WeChatCalls()["SessionFunction"]
	if calls[wechatsim.PathOAuthToken] != 2 || calls[wechatsim.PathCode2Session] != 0 {
		t.Errorf("the session function called %v", calls)
	}
	u := user{openid: s.body["openid"].(string), token: s.body["token"].(string)}

	// 2. The page's wx.config values, accepted by WeChat (the simulator).
	page := h.s.URL + "/web/demo/?code=" + code + "&state=wxsub"
	c := h.jssdkConfig(page + "#subscribe")
	if c.status != 200 || c.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("jssdk-config: %d %s", c.status, c.raw)
	}
	for _, k := range []string{"appId", "timestamp", "nonceStr", "signature"} {
		if _, ok := c.body[k]; !ok || len(c.body) != 4 {
			t.Fatalf("jssdk-config answer %s: want exactly appId, timestamp, nonceStr, signature", c.raw)
		}
	}
	if v := h.wxConfig(c, page); v != "config:ok" {
		t.Fatalf("wx.config with the answer: %s", v)
	}
	if v := h.wxConfig(c, h.s.URL+"/web/other.html"); v != "config:invalid signature" {
		t.Errorf("the signature also fits another page: %s", v)
	}

	// 3. The user allows in <wx-open-subscribe>; the page reports the
	// success detail as it came, with a report_id. WeChat's popup event
	// (PopupScene 1) is the same tap: one credit.
	p := h.sim("POST", "/__sim/popup", map[string]any{"openid": u.openid, "results": map[string]string{oneTime: "accept"}})
	if p.body["errMsg"] != "subscribe:ok" {
		t.Fatalf("popup: %s", p.raw)
	}
	report := map[string]any{"result": p.body, "report_id": "r-1"}
	a := h.api("POST", "/v1/subscriptions", u.token, report)
	if a.status != 200 || !strings.Contains(a.raw, `"credits":1`) {
		t.Fatalf("report: %d %s", a.status, a.raw)
	}
	h.s.Sim.Flush()
	if again := h.api("POST", "/v1/subscriptions", u.token, report); again.status != 200 || !strings.Contains(again.raw, `"credits":1`) {
		t.Fatalf("the repeated report_id: %d %s", again.status, again.raw)
	}
	if r := h.row(u.openid, oneTime); r.Credits != 1 || r.Granted != 1 {
		t.Fatalf("after the report and the popup event: credits %d granted %d, want 1 and 1", r.Credits, r.Granted)
	}
	// cancel changes nothing.
	p = h.sim("POST", "/__sim/popup", map[string]any{"openid": u.openid, "results": map[string]string{oneTime: "cancel"}})
	if a := h.api("POST", "/v1/subscriptions", u.token, map[string]any{"result": p.body}); a.status != 200 || !strings.Contains(a.raw, `"credits":1`) {
		t.Fatalf("cancel: %d %s", a.status, a.raw)
	}

	// 4. bizsend, with a web page and a mini-program link.
	body := map[string]any{"touser": u.openid, "template_id": oneTime, "page": "https://shop.example.com/orders/1",
		"miniprogram": map[string]string{"appid": "wx0123456789abcdef", "pagepath": "pages/order?id=1"}, "data": exampleData(oneTime)}
	m := h.admin("POST", "/v1/messages", body, "Idempotency-Key", "oa-1")
	if m.status != 200 || m.body["credits_left"] != float64(0) {
		t.Fatalf("send: %d %s", m.status, m.raw)
	}
	if r := h.admin("POST", "/v1/messages", body, "Idempotency-Key", "oa-1"); r.status != 200 || r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: %d %v", r.status, r.header)
	}
	if n := h.admin("POST", "/v1/messages", body); n.status != 409 || n.errCode() != "no_credit" {
		t.Errorf("third send: %d %s", n.status, n.raw)
	}
	sent := h.s.WeChatCalls()["SendFunction"]
	if sent[wechatsim.PathBizSend] != 1 || sent[wechatsim.PathSend] != 0 {
		t.Errorf("send function's WeChat calls %v, want one bizsend", sent)
	}
	if in := h.s.Sim.Inbox(u.openid); len(in) != 1 || in[0].Page == "" {
		t.Fatalf("inbox %+v", in)
	}

	// 5. WeChat's sent event settles the message.
	h.s.Sim.Flush()
	id := m.body["message_id"].(string)
	var got answer
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got = h.admin("GET", "/v1/messages/"+id, nil); got.body["status"] == "delivered" {
			break
		}
	}
	if got.body["status"] != "delivered" {
		t.Fatalf("message after the sent event: %s", got.raw)
	}
	l := h.admin("GET", "/v1/users/"+u.openid+"/subscriptions", nil)
	if l.status != 200 || !strings.Contains(l.raw, `"template_id":"`+oneTime+`"`) {
		t.Fatalf("ledger: %s", l.raw)
	}
	h.checkInvariant(u.openid, oneTime)

	// 6. The user switches the notice off in WeChat's settings: the change
	// event (the official account's push) zeroes the balance.
	p = h.sim("POST", "/__sim/popup", map[string]any{"openid": u.openid, "results": map[string]string{oneTime: "accept"}})
	h.api("POST", "/v1/subscriptions", u.token, map[string]any{"result": p.body, "report_id": "r-2"})
	h.s.Sim.Flush()
	if r := h.row(u.openid, oneTime); r.Credits != 1 {
		t.Fatalf("credits %d before the switch, want 1", r.Credits)
	}
	if a := h.sim("POST", "/__sim/switch", map[string]string{"openid": u.openid, "template_id": oneTime}); a.status != 200 {
		t.Fatalf("switch: %s", a.raw)
	}
	h.s.Sim.Flush()
	if r := h.checkInvariant(u.openid, oneTime); r.Credits != 0 || r.Status != "reject" || r.Revoked != 1 {
		t.Fatalf("after the change event: credits %d status %s revoked %d", r.Credits, r.Status, r.Revoked)
	}
}

func TestOfficialAccountRefusesMiniProgramShapes(t *testing.T) {
	t.Parallel()
	h := start(t, officialAccount())
	u := h.login("")
	// wx.requestSubscribeMessage's object is not the open tag's detail.
	mp := map[string]any{"result": map[string]string{"errMsg": "requestSubscribeMessage:ok", oneTime: "accept"}}
	if a := h.api("POST", "/v1/subscriptions", u.token, mp); a.status != 400 || a.errCode() != "invalid_result" {
		t.Errorf("a mini-program result: %d %s", a.status, a.raw)
	}
	for name, detail := range map[string]any{
		"details not a string": map[string]any{"errMsg": "subscribe:ok", "subscribeDetails": map[string]string{oneTime: "accept"}},
		"bad status":           map[string]any{"errMsg": "subscribe:ok", "subscribeDetails": `{"` + oneTime + `":"{\"status\":\"ban\"}"}`},
		"not JSON":             map[string]any{"errMsg": "subscribe:ok", "subscribeDetails": `{"x`},
	} {
		if a := h.api("POST", "/v1/subscriptions", u.token, map[string]any{"result": detail}); a.status != 400 {
			t.Errorf("%s: %d %s", name, a.status, a.raw)
		}
	}
	if r := h.s.Backend.Store; r == nil {
		t.Fatal("no store")
	}
	rows, err := h.s.Backend.Store.UserRows(context.Background(), h.appid, u.openid)
	if err != nil || len(rows) != 0 {
		t.Errorf("refused reports changed the ledger: %v %v", rows, err)
	}
	// A bad miniprogram link is refused before WeChat is called.
	for _, link := range []map[string]string{{"appid": "nope", "pagepath": "pages/a"}, {"appid": "wx0123456789abcdef", "pagepath": ""}} {
		a := h.admin("POST", "/v1/messages", map[string]any{"touser": u.openid, "template_id": oneTime, "miniprogram": link, "data": exampleData(oneTime)})
		if a.status != 400 || a.errCode() != "invalid_miniprogram" {
			t.Errorf("link %v: %d %s", link, a.status, a.raw)
		}
	}
}

func TestMiniProgramStackHasNoJSSDKAndNoBizSendFields(t *testing.T) {
	t.Parallel()
	h := start(t)
	if a := h.jssdkConfig("https://shop.example.com/"); a.status != 404 || a.errCode() != "not_official_account" {
		t.Errorf("jssdk-config on a mini-program: %d %s", a.status, a.raw)
	}
	u := h.login("")
	h.accept(u, oneTime, 1)
	a := h.admin("POST", "/v1/messages", map[string]any{"touser": u.openid, "template_id": oneTime,
		"miniprogram": map[string]string{"appid": "wx0123456789abcdef", "pagepath": "pages/a"}, "data": exampleData(oneTime)})
	if a.status != 400 || a.errCode() != "unknown_field" {
		t.Errorf("miniprogram on a mini-program's send: %d %s", a.status, a.raw)
	}
	if n := h.s.Sim.Stats().Calls[wechatsim.PathGetTicket]; n != 0 {
		t.Errorf("a mini-program stack fetched %d tickets", n)
	}
}

func TestJSSDKConfigRepairsABadTicketOnce(t *testing.T) {
	t.Parallel()
	h := start(t, officialAccount())
	page := "https://shop.example.com/notify?from=menu"
	first := h.jssdkConfig(page)
	if h.wxConfig(first, page) != "config:ok" {
		t.Fatal("the first signature is refused")
	}
	tickets := h.s.Sim.TicketsIssued()
	h.s.Sim.InvalidateTickets()
	refused := h.jssdkConfig(page)
	if h.wxConfig(refused, page) != "config:invalid signature" {
		t.Fatal("the simulator still takes the invalidated ticket")
	}
	// The page's wx.error saw "invalid signature": it asks again, naming the nonce that failed.
	fixed := h.jssdkConfig(page, "failed", refused.body["nonceStr"].(string))
	if fixed.status != 200 || h.wxConfig(fixed, page) != "config:ok" {
		t.Fatalf("after the report: %d %s", fixed.status, fixed.raw)
	}
	if n := h.s.Sim.TicketsIssued() - tickets; n != 1 {
		t.Fatalf("%d getticket calls for the repair, want 1", n)
	}
	// Other pages reporting the same old nonce do not fetch again.
	for range 5 {
		if a := h.jssdkConfig(page, "failed", refused.body["nonceStr"].(string)); a.status != 200 || h.wxConfig(a, page) != "config:ok" {
			t.Fatalf("a late report: %d %s", a.status, a.raw)
		}
	}
	if n := h.s.Sim.TicketsIssued() - tickets; n != 1 {
		t.Fatalf("%d getticket calls after late reports, want 1", n)
	}
	// Only the refresher calls WeChat's token and ticket APIs.
	for fn, calls := range h.s.WeChatCalls() {
		if fn != "RefreshTokenFunction" && (calls[wechatsim.PathGetTicket] > 0 || calls[wechatsim.PathStableToken] > 0) {
			t.Errorf("%s called %v", fn, calls)
		}
	}
	for name, q := range map[string][]string{
		"no url":       {"url", ""},
		"relative url": {"url", "/notify"},
		"bad failed":   {"url", page, "failed", "whatever"},
	} {
		v := url.Values{}
		for i := 0; i+1 < len(q); i += 2 {
			v.Set(q[i], q[i+1])
		}
		if a := h.api("GET", "/v1/jssdk-config?"+v.Encode(), "", nil); a.status != 400 {
			t.Errorf("%s: %d %s", name, a.status, a.raw)
		}
	}
}

func TestOfficialAccountBroadcastGoesThroughBizSend(t *testing.T) {
	t.Parallel()
	h := start(t, officialAccount())
	var users []user
	for range 3 {
		u := h.login("")
		p := h.sim("POST", "/__sim/popup", map[string]any{"openid": u.openid, "results": map[string]string{oneTime: "accept"}})
		if a := h.api("POST", "/v1/subscriptions", u.token, map[string]any{"result": p.body}); a.status != 200 {
			t.Fatalf("report: %s", a.raw)
		}
		users = append(users, u)
	}
	h.s.Sim.Flush()
	h.waitIndexed(oneTime, 3)
	b := h.admin("POST", "/v1/broadcasts", map[string]any{"template_id": oneTime, "data": exampleData(oneTime),
		"miniprogram": map[string]string{"appid": "wx0123456789abcdef", "pagepath": "pages/news"}})
	if b.status != 202 {
		t.Fatalf("broadcast: %d %s", b.status, b.raw)
	}
	id := b.body["broadcast_id"].(string)
	var st answer
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		h.drain()
		if st = h.admin("GET", "/v1/broadcasts/"+id, nil); st.body["state"] == "done" {
			break
		}
	}
	if st.body["state"] != "done" || st.body["sent"] != float64(3) {
		t.Fatalf("broadcast state: %s", st.raw)
	}
	for _, u := range users {
		if h.inbox(u.openid, oneTime) != 1 {
			t.Errorf("user %s got %d messages", u.openid, h.inbox(u.openid, oneTime))
		}
	}
	if n := h.s.Sim.Stats().Calls[wechatsim.PathSend]; n != 0 {
		t.Errorf("%d subscribe/send calls from an official account", n)
	}
	_ = json.Valid
}

func TestOfficialAccountWalkThroughRunsAsPrinted(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	h := start(t, officialAccount())
	script := h.s.WalkThrough()
	out, err := exec.Command("bash", "-euo", "pipefail", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("walk-through failed: %v\n%s\n--- script ---\n%s", err, out, script)
	}
	text := string(out)
	for _, want := range []string{`"errMsg":"config:ok"`, `"credits":1`, `"credits":2`, `"status":"delivered"`, `"messages":[`, "/web/demo/?sim="} {
		if !strings.Contains(text, want) {
			t.Errorf("the walk-through's output lacks %s:\n%s", want, text)
		}
	}
	if strings.Count(text, "HTTP 200") != 2 || strings.Count(text, "HTTP 409") != 1 || !strings.Contains(text, `"no_credit"`) {
		t.Errorf("sends did not answer 200, 200, 409 no_credit:\n%s", text)
	}
	if n := h.s.Sim.Stats().Calls[wechatsim.PathBizSend]; n != 2 {
		t.Errorf("%d bizsend calls, want 2", n)
	}
}
