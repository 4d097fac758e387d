package localstack_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/store"
)

const (
	oneTime  = wechatsim.TmplOrderShipped
	longTerm = wechatsim.TmplClinicVisit
	sendPath = "/cgi-bin/message/subscribe/send"
)

// Not parallel: its 200 concurrent sends a round are answered within the
// functions' timeouts only on a machine they do not share with other tests.
func TestConcurrentSendsSpendExactlyTheCredits(t *testing.T) {
	h := start(t)
	for round := 0; round < 3; round++ {
		u := h.login(fmt.Sprintf("oConcurrent%017d", round))
		h.accept(u, oneTime, 7)
		var wg sync.WaitGroup
		statuses := make([]int, 200)
		for i := range statuses {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				statuses[i] = h.send(u.openid, oneTime).status
			}(i)
		}
		wg.Wait()
		count := map[int]int{}
		for _, s := range statuses {
			count[s]++
		}
		if count[200] != 7 || count[409] != 193 {
			t.Fatalf("round %d: answers %v, want 7×200 and 193×409", round, count)
		}
		if got := h.inbox(u.openid, oneTime); got != 7 {
			t.Fatalf("round %d: %d messages delivered, want 7", round, got)
		}
		r := h.checkInvariant(u.openid, oneTime)
		if r.Credits != 0 || r.Spent != 7 || r.Inflight != 0 {
			t.Fatalf("round %d: row %+v", round, r)
		}
	}
}

func TestInvalidatedTokenCostsOneForcedRefresh(t *testing.T) {
	t.Parallel()
	h := start(t)
	users := make([]user, 100)
	for i := range users {
		users[i] = h.login(fmt.Sprintf("oTokenUser%018d", i))
		h.accept(users[i], oneTime, 1)
	}
	// Warm the token cache of the send function.
	warm := h.login("oTokenWarm000000000000000000")
	h.accept(warm, oneTime, 1)
	if a := h.send(warm.openid, oneTime); a.status != 200 {
		t.Fatalf("warm-up send: %d %s", a.status, a.raw)
	}
	h.sim("POST", "/__sim/tokens/invalidate", map[string]any{})
	before := h.s.Sim.Stats().ForceRefreshes
	calls := tokenCalls(h.s.WeChatCalls())
	var wg sync.WaitGroup
	statuses := make([]int, len(users))
	for i, u := range users {
		wg.Add(1)
		go func(i int, u user) {
			defer wg.Done()
			statuses[i] = h.send(u.openid, oneTime).status
		}(i, u)
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Fatalf("send %d answered %d", i, s)
		}
	}
	if got := h.s.Sim.Stats().ForceRefreshes - before; got != 1 {
		t.Fatalf("%d forced refreshes, want exactly 1", got)
	}
	// Made by the refresher, which the send function invoked: only its IP
	// needs to be on the account's whitelist.
	after := tokenCalls(h.s.WeChatCalls())
	for fn, n := range after {
		if d := n - calls[fn]; fn == "RefreshTokenFunction" && d != 1 || fn != "RefreshTokenFunction" && d != 0 {
			t.Errorf("%s made %d token calls during the storm; want exactly one, by RefreshTokenFunction", fn, d)
		}
	}
}

// The first token, before the refresher's first scheduled run, is fetched by
// the refresher too: the send function that needs it invokes it.
func TestBootstrapTokenIsFetchedByTheRefresher(t *testing.T) {
	t.Parallel()
	h := startFresh(t)
	u := h.login("oBootstrapUser00000000000000")
	h.accept(u, oneTime, 1)
	if a := h.send(u.openid, oneTime); a.status != 200 {
		t.Fatalf("send: %d %s", a.status, a.raw)
	}
	calls := tokenCalls(h.s.WeChatCalls())
	if len(calls) != 1 || calls["RefreshTokenFunction"] != 1 {
		t.Fatalf("token calls by function: %v; want one, by RefreshTokenFunction", calls)
	}
}

// tokenCalls sums the calls to WeChat's token APIs by function.
func tokenCalls(byFn map[string]map[string]int) map[string]int {
	out := map[string]int{}
	for fn, paths := range byFn {
		for p, n := range paths {
			if p == "/cgi-bin/token" || p == "/cgi-bin/stable_token" {
				out[fn] += n
			}
		}
	}
	return out
}

func TestOutcomeTable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		fault      map[string]any
		status     int
		code       string
		msgStatus  ledger.MessageStatus // after WeChat's sent event, if any
		creditsNow int64                // of 3 granted, one send
		revoked    int64
		delivered  int
	}{
		{"0", nil, 200, "", ledger.Delivered, 2, 0, 1},
		{"43101", map[string]any{"errcode": 43101}, 409, "no_credit", ledger.Failed, 0, 2, 0},
		{"40003", map[string]any{"errcode": 40003}, 404, "unknown_user", ledger.Failed, 3, 0, 0},
		{"40037", map[string]any{"errcode": 40037}, 404, "unknown_template", ledger.Failed, 3, 0, 0},
		{"41030", map[string]any{"errcode": 41030}, 422, "invalid_page", ledger.Failed, 3, 0, 0},
		{"47001", map[string]any{"errcode": 47001}, 422, "invalid_data", ledger.Failed, 3, 0, 0},
		{"47003", map[string]any{"errcode": 47003}, 422, "invalid_data", ledger.Failed, 3, 0, 0},
		{"45168", map[string]any{"errcode": 45168}, 422, "sensitive_content", ledger.Failed, 3, 0, 0},
		{"43107", map[string]any{"errcode": 43107}, 403, "subscription_banned", ledger.Failed, 3, 0, 0},
		{"40001 once, retried", map[string]any{"errcode": 40001}, 200, "", ledger.Delivered, 2, 0, 1},
		{"42001 twice", map[string]any{"errcode": 42001, "count": 2}, 502, "wechat_error", ledger.Failed, 3, 0, 0},
		{"43108 once, retried", map[string]any{"errcode": 43108}, 200, "", ledger.Delivered, 2, 0, 1},
		{"43108 for good", map[string]any{"errcode": 43108, "count": 100}, 429, "rate_limited", ledger.Failed, 3, 0, 0},
		{"45009", map[string]any{"errcode": 45009}, 429, "quota_exhausted", ledger.Failed, 3, 0, 0},
		{"45011", map[string]any{"errcode": 45011}, 429, "rate_limited", ledger.Failed, 3, 0, 0},
		{"-1", map[string]any{"errcode": -1}, 502, "wechat_error", ledger.Failed, 3, 0, 0},
		// A gateway's 5xx without errcode: WeChat may have delivered, so the
		// credit stays spent; when it did, its sent event settles the message.
		{"HTTP 500", map[string]any{"http_status": 500}, 502, "outcome_unknown", ledger.Unknown, 2, 0, 0},
		{"HTTP 502 after delivery", map[string]any{"http_status": 502, "deliver": true}, 502, "outcome_unknown", ledger.Delivered, 2, 0, 1},
		// WeChat delivered these; its sent event settles the unknown message.
		{"timeout", map[string]any{"delay_ms": 2500}, 504, "wechat_timeout", ledger.Delivered, 2, 0, 1},
		{"dropped", map[string]any{"drop": true}, 504, "wechat_timeout", ledger.Delivered, 2, 0, 1},
		{"malformed", map[string]any{"body": `{"errcode":0,`}, 504, "wechat_timeout", ledger.Unknown, 2, 0, 0},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := start(t)
			u := h.login(fmt.Sprintf("oOutcome%020d", i))
			h.accept(u, oneTime, 3)
			if c.fault != nil {
				f := map[string]any{"path": sendPath, "count": 1}
				for k, v := range c.fault {
					f[k] = v
				}
				h.fault(f)
			}
			a := h.send(u.openid, oneTime)
			if a.status != c.status || a.errCode() != c.code {
				t.Fatalf("answer %d %s, want %d %s", a.status, a.raw, c.status, c.code)
			}
			h.s.Sim.Flush() // WeChat's sent event, for a message it delivered
			if c.fault != nil && c.fault["errcode"] != nil && c.status != 200 {
				w, _ := a.body["error"].(map[string]any)["wechat"].(map[string]any)
				if w == nil || fmt.Sprint(w["errcode"]) != fmt.Sprint(c.fault["errcode"]) {
					t.Fatalf("answer lacks wechat.errcode: %s", a.raw)
				}
			}
			r := h.checkInvariant(u.openid, oneTime)
			if r.Credits != c.creditsNow || r.Revoked != c.revoked {
				t.Fatalf("row %+v, want credits %d revoked %d", r, c.creditsNow, c.revoked)
			}
			if got := h.inbox(u.openid, oneTime); got != c.delivered {
				t.Fatalf("%d delivered, want %d", got, c.delivered)
			}
			msgs := h.messages(u.openid, func(ms []store.Message) bool { return len(ms) == 1 && ms[0].Status == c.msgStatus })
			if len(msgs) != 1 || msgs[0].Status != c.msgStatus {
				t.Fatalf("message records %+v, want one %s\nlogs:\n%s", msgs, c.msgStatus, h.logs)
			}
			id := msgs[0].ID
			got := h.admin("GET", "/v1/messages/"+id, nil)
			if got.status != 200 || got.body["status"] != string(c.msgStatus) {
				t.Fatalf("GET /v1/messages/%s: %d %s", id, got.status, got.raw)
			}
		})
	}
}

func TestIdempotencyKeySendsOnce(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oIdempotent00000000000000000")
	h.accept(u, oneTime, 3)
	first := h.send(u.openid, oneTime, "Idempotency-Key", "order-42-shipped")
	if first.status != 200 {
		t.Fatalf("first: %d %s", first.status, first.raw)
	}
	var wg sync.WaitGroup
	repeats := make([]answer, 10)
	for i := range repeats {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			repeats[i] = h.send(u.openid, oneTime, "Idempotency-Key", "order-42-shipped")
		}(i)
	}
	wg.Wait()
	for _, r := range repeats {
		if r.status != 200 || r.raw != first.raw || r.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("repeat answered %d %s, want the first answer %s", r.status, r.raw, first.raw)
		}
	}
	if n := h.inbox(u.openid, oneTime); n != 1 {
		t.Fatalf("%d messages delivered for one key", n)
	}
	if r := h.checkInvariant(u.openid, oneTime); r.Credits != 2 {
		t.Fatalf("credits %d after one keyed send", r.Credits)
	}
	other := h.login("oIdempotentOther000000000000")
	h.accept(other, oneTime, 1)
	if a := h.send(other.openid, oneTime, "Idempotency-Key", "order-42-shipped"); a.status != 422 || a.errCode() != "idempotency_key_reused" {
		t.Fatalf("same key, other user: %d %s", a.status, a.raw)
	}
	// Concurrent first uses of one key: exactly one send.
	var wg2 sync.WaitGroup
	answers := make([]answer, 8)
	for i := range answers {
		wg2.Add(1)
		go func(i int) {
			defer wg2.Done()
			answers[i] = h.send(u.openid, oneTime, "Idempotency-Key", "burst-key")
		}(i)
	}
	wg2.Wait()
	if n := h.inbox(u.openid, oneTime); n != 2 {
		t.Fatalf("a burst on one key delivered %d messages, want 1 more", n-1)
	}
	for _, a := range answers {
		if a.status != 200 && !(a.status == 409 && a.errCode() == "request_in_progress") {
			t.Fatalf("burst answer %d %s", a.status, a.raw)
		}
	}
	h.checkInvariant(u.openid, oneTime)
}

func TestSendRefusalsChangeNothing(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oRefusals0000000000000000000")
	h.accept(u, oneTime, 1)
	calls := func() int64 { return h.s.Sim.Stats().Calls[sendPath] }
	before := calls()
	cases := []struct {
		name   string
		body   any
		auth   string
		status int
		code   string
	}{
		{"no admin key", map[string]any{"touser": u.openid, "template_id": oneTime, "data": exampleData(oneTime)}, "-", 401, "unauthorized"},
		{"bad touser", map[string]any{"touser": "x", "template_id": oneTime, "data": exampleData(oneTime)}, "", 400, "invalid_touser"},
		{"no data", map[string]any{"touser": u.openid, "template_id": oneTime}, "", 400, "invalid_data"},
		{"unknown field", map[string]any{"touser": u.openid, "template_id": oneTime, "data": exampleData(oneTime), "extra": 1}, "", 400, "unknown_field"},
		{"bad lang", map[string]any{"touser": u.openid, "template_id": oneTime, "data": exampleData(oneTime), "lang": "fr"}, "", 400, "invalid_lang"},
		{"not json", "touser=x", "", 400, "invalid_json"},
		{"no credit (other user)", map[string]any{"touser": "oNobody00000000000000000000", "template_id": oneTime, "data": exampleData(oneTime)}, "", 409, "no_credit"},
	}
	for _, c := range cases {
		auth := h.s.AdminKey
		if c.auth == "-" {
			auth = ""
		}
		a := h.api("POST", "/v1/messages", auth, c.body)
		if a.status != c.status || a.errCode() != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, a.status, a.raw, c.status, c.code)
		}
	}
	if calls() != before {
		t.Fatalf("refused sends called WeChat %d times", calls()-before)
	}
	if r := h.row(u.openid, oneTime); r.Credits != 1 || r.Spent != 0 {
		t.Fatalf("refused sends changed the ledger: %+v", r)
	}
	if a := h.admin("GET", "/v1/messages/mnotanidatallaaaaaaaaaaaaa", nil); a.status != 404 {
		t.Fatalf("unknown message id: %d %s", a.status, a.raw)
	}
	if a := h.admin("GET", "/v1/messages/../../etc", nil); a.status != 400 && a.status != 404 {
		t.Fatalf("malformed message id: %d %s", a.status, a.raw)
	}
}

func TestLongTermTemplatesAreNotConsumed(t *testing.T) {
	t.Parallel()
	h := start(t)
	if _, err := h.s.Backend.Catalog.Sync(t.Context(), h.s.Backend.WeChat, mustToken(t, h)); err != nil {
		t.Fatal(err)
	}
	u := h.login("oLongTerm0000000000000000000")
	p := h.sim("POST", "/__sim/popup", map[string]any{"openid": u.openid, "results": map[string]string{longTerm: "accept"}})
	a := h.api("POST", "/v1/subscriptions", u.token, map[string]any{"result": p.body})
	if a.status != 200 || !strings.Contains(a.raw, `"credits":null`) {
		t.Fatalf("long-term report: %d %s", a.status, a.raw)
	}
	for i := 0; i < 3; i++ {
		if s := h.send(u.openid, longTerm); s.status != 200 || !strings.Contains(s.raw, `"credits_left":null`) {
			t.Fatalf("long-term send %d: %d %s", i, s.status, s.raw)
		}
	}
	if n := h.inbox(u.openid, longTerm); n != 3 {
		t.Fatalf("%d long-term messages delivered", n)
	}
}

func mustToken(t *testing.T, h *harness) string {
	tok, err := h.s.Backend.Tokens.Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return tok.Value
}
