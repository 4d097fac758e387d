package localstack_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/store"
)

// statsCredits is WeChat's own count of a user's one-time credits for a
// template, as GET /__sim/stats reports it.
func (h *harness) statsCredits(openid, tmpl string) int64 {
	h.t.Helper()
	st := h.sim("GET", "/__sim/stats", nil)
	credits, _ := st.body["credits"].(map[string]any)
	byTmpl, _ := credits[openid].(map[string]any)
	n, _ := byTmpl[tmpl].(float64)
	return int64(n)
}

// TestGatewayErrorAfterDeliveryIsUnknownAndNotResent: WeChat delivers a
// message and a gateway in front of it answers 502 without errcode. The send
// answers 502 outcome_unknown with its credit spent (WeChat spent it too),
// the repeat of its Idempotency-Key replays that answer and sends nothing,
// and WeChat's sent event settles the message as delivered.
func TestGatewayErrorAfterDeliveryIsUnknownAndNotResent(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oGatewayAfterDelivery0000000")
	h.accept(u, oneTime, 2)
	h.fault(map[string]any{"path": sendPath, "http_status": 502, "deliver": true})
	first := h.send(u.openid, oneTime, "Idempotency-Key", "gw-1")
	if first.status != 502 || first.errCode() != "outcome_unknown" {
		t.Fatalf("answer %d %s, want 502 outcome_unknown", first.status, first.raw)
	}
	id, status := first.messageID()
	if status != string(ledger.Unknown) {
		t.Fatalf("answer names message %s as %q, want unknown", id, status)
	}
	for i := 0; i < 3; i++ {
		again := h.send(u.openid, oneTime, "Idempotency-Key", "gw-1")
		if again.status != 502 || again.raw != first.raw || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry %d: %d %s, want the first answer replayed", i, again.status, again.raw)
		}
	}
	h.s.Sim.Flush()
	if n := h.inbox(u.openid, oneTime); n != 1 {
		t.Fatalf("WeChat delivered %d messages for one key, want 1", n)
	}
	r := h.checkInvariant(u.openid, oneTime)
	if sim := h.statsCredits(u.openid, oneTime); r.Credits != sim || r.Credits != 1 {
		t.Fatalf("ledger holds %d credits, WeChat %d; want 1 each", r.Credits, sim)
	}
	msgs := h.messages(u.openid, func(ms []store.Message) bool { return len(ms) == 1 && ms[0].Status == ledger.Delivered })
	if len(msgs) != 1 || msgs[0].Status != ledger.Delivered || msgs[0].ID != id {
		t.Fatalf("records %+v, want message %s delivered by its sent event", msgs, id)
	}
}

// TestZeroingWinsOverInFlightReleases: three sends are in flight when the
// user takes the template back (a change event's reject, or the main switch
// off); WeChat then answers each 45011 (nothing delivered). Their credits do
// not come back: they count as revoked, and the ledger ends with WeChat's 0.
func TestZeroingWinsOverInFlightReleases(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		zeroBy func(openid string) map[string]any
	}{
		{"change event reject", func(o string) map[string]any { return map[string]any{"openid": o, "template_id": oneTime} }},
		{"main switch off", func(o string) map[string]any { return map[string]any{"openid": o, "main_switch_off": true} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := start(t)
			u := h.login(fmt.Sprintf("oZeroWins%019d", len(c.name)))
			h.accept(u, oneTime, 3)
			h.fault(map[string]any{"path": sendPath, "errcode": 45011, "delay_ms": 1200, "count": 3})
			var wg sync.WaitGroup
			answers := make([]answer, 3)
			for i := range answers {
				wg.Add(1)
				go func(i int) { defer wg.Done(); answers[i] = h.send(u.openid, oneTime) }(i)
			}
			for deadline := time.Now().Add(5 * time.Second); h.row(u.openid, oneTime).Inflight < 3; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("sends not in flight: %+v", h.row(u.openid, oneTime))
				}
			}
			if a := h.sim("POST", "/__sim/switch", c.zeroBy(u.openid)); a.status != 200 {
				t.Fatalf("switch: %d %s", a.status, a.raw)
			}
			h.s.Sim.Flush() // the change event, while the sends wait for WeChat
			if r := h.row(u.openid, oneTime); r.Inflight != 3 {
				t.Fatalf("the zeroing did not land while the sends were in flight: %+v", r)
			}
			wg.Wait()
			for _, a := range answers {
				if a.status != 429 || a.errCode() != "rate_limited" {
					t.Fatalf("answer %d %s, want 429 rate_limited", a.status, a.raw)
				}
			}
			r := h.checkInvariant(u.openid, oneTime)
			if sim := h.statsCredits(u.openid, oneTime); r.Credits != sim || r.Credits != 0 || r.Revoked != 3 || r.Spent != 0 {
				t.Fatalf("row %+v; WeChat holds %d credits: want 0 credits, 3 revoked, 0 spent", r, sim)
			}
			// A credit granted after the zeroing comes back after a retryable failure.
			if c.zeroBy(u.openid)["main_switch_off"] != nil {
				h.sim("POST", "/__sim/switch", map[string]any{"openid": u.openid, "main_switch_off": false})
			}
			h.accept(u, oneTime, 1)
			h.fault(map[string]any{"path": sendPath, "errcode": 45011})
			if a := h.send(u.openid, oneTime); a.status != 429 {
				t.Fatalf("send after the new grant: %d %s", a.status, a.raw)
			}
			r = h.checkInvariant(u.openid, oneTime)
			if sim := h.statsCredits(u.openid, oneTime); r.Credits != 1 || sim != 1 || r.Revoked != 3 {
				t.Fatalf("row %+v, WeChat %d: the new credit must come back", r, sim)
			}
		})
	}
}

// TestIdempotencyKeyFreedAfterRetryableFailures: after an answer that
// delivered nothing and released the credit for a passing reason, the retry
// with the same key is a new attempt and sends; a final answer is replayed
// for good.
func TestIdempotencyKeyFreedAfterRetryableFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		fault  map[string]any
		status int
		code   string
		freed  bool
	}{
		{"-1", map[string]any{"errcode": -1}, 502, "wechat_error", true},
		{"45009", map[string]any{"errcode": 45009}, 429, "quota_exhausted", true},
		{"45011", map[string]any{"errcode": 45011}, 429, "rate_limited", true},
		{"43108 after its retries", map[string]any{"errcode": 43108, "count": 100}, 429, "rate_limited", true},
		{"42001 after its retry", map[string]any{"errcode": 42001, "count": 2}, 502, "wechat_error", true},
		{"47003", map[string]any{"errcode": 47003}, 422, "invalid_data", false},
		{"40037", map[string]any{"errcode": 40037}, 404, "unknown_template", false},
		{"timeout", map[string]any{"delay_ms": 2500}, 504, "wechat_timeout", false},
		{"HTTP 502", map[string]any{"http_status": 502}, 502, "outcome_unknown", false},
	}
	h := start(t)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			h.sim("DELETE", "/__sim/faults", nil)
			u := h.login(fmt.Sprintf("oKeyFreed%019d", i))
			h.accept(u, oneTime, 2)
			f := map[string]any{"path": sendPath, "count": 1}
			for k, v := range c.fault {
				f[k] = v
			}
			h.fault(f)
			key := fmt.Sprintf("retry-%d", i)
			first := h.send(u.openid, oneTime, "Idempotency-Key", key)
			if first.status != c.status || first.errCode() != c.code {
				t.Fatalf("first: %d %s, want %d %s", first.status, first.raw, c.status, c.code)
			}
			h.sim("DELETE", "/__sim/faults", nil)
			h.s.Sim.Flush()
			delivered := h.inbox(u.openid, oneTime)
			again := h.send(u.openid, oneTime, "Idempotency-Key", key)
			h.s.Sim.Flush()
			if c.freed {
				if again.status != 200 || again.header.Get("Idempotent-Replayed") == "true" {
					t.Fatalf("retry: %d %s (replayed %q), want a new attempt that sends", again.status, again.raw, again.header.Get("Idempotent-Replayed"))
				}
				if n := h.inbox(u.openid, oneTime); n != 1 {
					t.Fatalf("WeChat delivered %d, want 1", n)
				}
			} else {
				if again.status != first.status || again.raw != first.raw || again.header.Get("Idempotent-Replayed") != "true" {
					t.Fatalf("retry: %d %s, want the first answer replayed", again.status, again.raw)
				}
				if n := h.inbox(u.openid, oneTime); n != delivered {
					t.Fatalf("the replay delivered: %d then %d", delivered, n)
				}
			}
			r := h.checkInvariant(u.openid, oneTime)
			if sim := h.statsCredits(u.openid, oneTime); c.freed && r.Credits != sim {
				t.Fatalf("ledger %d credits, WeChat %d", r.Credits, sim)
			}
		})
	}
}

// TestIdempotencyKeyRemembersValidationRefusals: wxsub's own 422
// invalid_data and 404 unknown_template are final answers too. A repeat of
// the key gets the same answer (even with a corrected body: a key names one
// request), and a key that already sent replays its 200 rather than judging
// the repeat's data.
func TestIdempotencyKeyRemembersValidationRefusals(t *testing.T) {
	t.Parallel()
	h := start(t)
	if a := h.admin("POST", "/v1/templates/sync", nil); a.status != 200 {
		t.Fatalf("sync: %d %s", a.status, a.raw)
	}
	u := h.login("oKeyValidation00000000000000")
	h.accept(u, oneTime, 2)
	bad := map[string]any{"touser": u.openid, "template_id": oneTime, "data": map[string]any{"thing2": map[string]string{"value": "x"}}}
	first := h.admin("POST", "/v1/messages", bad, "Idempotency-Key", "v-1")
	if first.status != 422 || first.errCode() != "invalid_data" {
		t.Fatalf("first: %d %s, want 422 invalid_data", first.status, first.raw)
	}
	again := h.send(u.openid, oneTime, "Idempotency-Key", "v-1")
	if again.status != 422 || again.raw != first.raw || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("repeat: %d %s, want the 422 replayed", again.status, again.raw)
	}
	ok := h.send(u.openid, oneTime, "Idempotency-Key", "v-2")
	if ok.status != 200 {
		t.Fatalf("good send: %d %s", ok.status, ok.raw)
	}
	if a := h.admin("POST", "/v1/messages", bad, "Idempotency-Key", "v-2"); a.status != 200 || a.raw != ok.raw {
		t.Fatalf("repeat of a sent key with bad data: %d %s, want its 200 replayed", a.status, a.raw)
	}
	h.s.Sim.Flush()
	if n := h.inbox(u.openid, oneTime); n != 1 {
		t.Fatalf("WeChat delivered %d, want 1", n)
	}
	if r := h.checkInvariant(u.openid, oneTime); r.Credits != 1 || h.statsCredits(u.openid, oneTime) != 1 {
		t.Fatalf("row %+v, WeChat %d; want 1 each", r, h.statsCredits(u.openid, oneTime))
	}
}
