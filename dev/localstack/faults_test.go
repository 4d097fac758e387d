package localstack_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/store"
)

// want is one answer the contract allows: status, error code and the
// errcode of its "wechat" member (0 when the answer has none).
type want struct {
	status  int
	code    string
	errcode int
}

func (w want) String() string { return fmt.Sprintf("%d %s (wechat %d)", w.status, w.code, w.errcode) }

var (
	sent     = want{200, "", 0}
	noCredit = want{409, "no_credit", 0} // refused before WeChat was called
)

// shape reduces an answer to what want compares.
func (a answer) shape() want {
	w := want{status: a.status, code: a.errCode()}
	if e, ok := a.body["error"].(map[string]any); ok {
		if wx, ok := e["wechat"].(map[string]any); ok {
			if n, ok := wx["errcode"].(float64); ok {
				w.errcode = int(n)
			}
		}
	}
	return w
}

// messageID is the message an answer names: message_id of a 200, or the
// first details entry of a failure; "" when the send never reserved a credit.
func (a answer) messageID() (id, status string) {
	if a.status == 200 {
		id, _ = a.body["message_id"].(string)
		return id, string(ledger.Sent)
	}
	e, _ := a.body["error"].(map[string]any)
	details, _ := e["details"].([]any)
	if len(details) == 0 {
		return "", ""
	}
	d, _ := details[0].(map[string]any)
	id, _ = d["message_id"].(string)
	status, _ = d["status"].(string)
	return id, status
}

// sub is the harness for a subtest, so that its helpers fail the subtest.
func (h *harness) sub(t *testing.T) *harness {
	c := *h
	c.t = t
	return &c
}

// sendBurst sends perUser messages to every user at once and returns the
// answers, grouped by user.
func (h *harness) sendBurst(users []user, perUser int) map[string][]answer {
	h.t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string][]answer{}
	for _, u := range users {
		for i := 0; i < perUser; i++ {
			wg.Add(1)
			go func(openid string) {
				defer wg.Done()
				a := h.send(openid, oneTime)
				mu.Lock()
				out[openid] = append(out[openid], a)
				mu.Unlock()
			}(u.openid)
		}
	}
	wg.Wait()
	return out
}

// subscribers logs n users in and gives each one credits for oneTime.
func (h *harness) subscribers(prefix string, n, credits int) []user {
	h.t.Helper()
	users := make([]user, n)
	for i := range users {
		users[i] = h.login(fmt.Sprintf("o%s%0*d", prefix, 27-len(prefix), i))
		h.accept(users[i], oneTime, credits)
	}
	return users
}

// ledgerMatchesAnswers checks, for every user, the ledger invariant, that
// every answer names a message record in the state the answer gave, and that
// the simulator's inbox holds exactly the messages WeChat accepted (plus the
// unknown ones when unknownDelivered).
func (h *harness) ledgerMatchesAnswers(users []user, answers map[string][]answer, unknownDelivered bool) {
	h.t.Helper()
	h.s.Sim.Flush() // WeChat's sent events, before the stack closes
	for _, u := range users {
		r := h.checkInvariant(u.openid, oneTime)
		// Wait until gsi1 lists every message an answer names.
		msgs := h.messages(u.openid, func(ms []store.Message) bool {
			have := map[string]bool{}
			for _, m := range ms {
				have[m.ID] = true
			}
			for _, a := range answers[u.openid] {
				if id, _ := a.messageID(); id != "" && !have[id] {
					return false
				}
			}
			return true
		})
		byID := map[string]ledger.MessageStatus{}
		count := map[ledger.MessageStatus]int{}
		for _, m := range msgs {
			byID[m.ID] = m.Status
			count[m.Status]++
		}
		named := 0
		for _, a := range answers[u.openid] {
			id, status := a.messageID()
			if id == "" {
				continue
			}
			named++
			// WeChat's sent event may since have settled a sent or unknown message as delivered.
			got, ok := byID[id]
			settled := got == ledger.Delivered && (status == string(ledger.Sent) || status == string(ledger.Unknown))
			if !ok || string(got) != status && !settled {
				h.t.Errorf("%s: answer %d %s names message %s as %q; the record says %q", u.openid, a.status, a.raw, id, status, got)
			}
		}
		if int64(named) != int64(len(msgs))+r.Inflight {
			h.t.Errorf("%s: %d answers name a message, but there are %d records and %d sends in flight", u.openid, named, len(msgs), r.Inflight)
		}
		delivered := count[ledger.Sent] + count[ledger.Delivered] + int(r.Inflight)
		if unknownDelivered {
			delivered += count[ledger.Unknown]
		}
		if got := h.inbox(u.openid, oneTime); got != delivered {
			h.t.Errorf("%s: the simulator delivered %d messages; the ledger accounts for %d (row %+v, records %v)", u.openid, got, delivered, r, count)
		}
	}
}

// TestWeChatFaultsDuringConcurrentSends injects every failure of the
// contract's outcome table into a burst of concurrent sends: every answer is
// one the contract gives for that failure, and the ledger accounts for every
// credit (nothing invented, nothing lost, nothing sent twice).
func TestWeChatFaultsDuringConcurrentSends(t *testing.T) {
	t.Parallel()
	const (
		users   = 6
		credits = 3
		perUser = credits + 1 // the last send of each user finds no credit unless one was released
		count   = 5           // sends that meet the fault
	)
	cases := []struct {
		name  string
		fault map[string]any
		// hit is the answer of a send that meets the fault.
		hit want
		// exact: each faulted call is one send's final answer (no retry).
		exact bool
		// delivered: a send answered unknown was processed by WeChat.
		delivered bool
	}{
		{"43101", map[string]any{"errcode": 43101}, want{409, "no_credit", 43101}, true, false},
		{"40003", map[string]any{"errcode": 40003}, want{404, "unknown_user", 40003}, true, false},
		{"40037", map[string]any{"errcode": 40037}, want{404, "unknown_template", 40037}, true, false},
		{"41030", map[string]any{"errcode": 41030}, want{422, "invalid_page", 41030}, true, false},
		{"47001", map[string]any{"errcode": 47001}, want{422, "invalid_data", 47001}, true, false},
		{"47003", map[string]any{"errcode": 47003}, want{422, "invalid_data", 47003}, true, false},
		{"45168", map[string]any{"errcode": 45168}, want{422, "sensitive_content", 45168}, true, false},
		{"43107", map[string]any{"errcode": 43107}, want{403, "subscription_banned", 43107}, true, false},
		{"40001", map[string]any{"errcode": 40001}, want{502, "wechat_error", 40001}, false, false},
		{"40014", map[string]any{"errcode": 40014}, want{502, "wechat_error", 40014}, false, false},
		{"42001", map[string]any{"errcode": 42001}, want{502, "wechat_error", 42001}, false, false},
		{"43108", map[string]any{"errcode": 43108}, want{429, "rate_limited", 43108}, false, false},
		{"45009", map[string]any{"errcode": 45009}, want{429, "quota_exhausted", 45009}, true, false},
		{"45011", map[string]any{"errcode": 45011}, want{429, "rate_limited", 45011}, true, false},
		{"-1", map[string]any{"errcode": -1}, want{502, "wechat_error", -1}, true, false},
		{"HTTP 500", map[string]any{"http_status": 500}, want{502, "outcome_unknown", 0}, true, false},
		{"HTTP 502 after delivery", map[string]any{"http_status": 502, "deliver": true}, want{502, "outcome_unknown", 0}, true, true},
		{"past the timeout", map[string]any{"delay_ms": 2500}, want{504, "wechat_timeout", 0}, true, true},
		{"dropped connection", map[string]any{"drop": true}, want{504, "wechat_timeout", 0}, true, true},
		{"malformed JSON", map[string]any{"body": `{"errcode":0,"errmsg":"ok"`}, want{504, "wechat_timeout", 0}, true, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := start(t)
			us := h.subscribers(fmt.Sprintf("Fault%02d", i), users, credits)
			f := map[string]any{"path": sendPath, "count": count}
			for k, v := range c.fault {
				f[k] = v
			}
			h.fault(f)
			answers := h.sendBurst(us, perUser)

			hits := 0
			for _, as := range answers {
				for _, a := range as {
					switch a.shape() {
					case c.hit:
						hits++
					case sent, noCredit:
					default:
						t.Errorf("answer %d %s; want 200, 409 no_credit or %v", a.status, a.raw, c.hit)
					}
				}
			}
			if c.exact && hits != count {
				t.Errorf("%d sends answered %v, want %d (one per injected fault)", hits, c.hit, count)
			}
			if !c.exact && hits > count {
				t.Errorf("%d sends answered %v for %d injected faults", hits, c.hit, count)
			}
			h.ledgerMatchesAnswers(us, answers, c.delivered)
			for _, u := range us {
				if r := h.row(u.openid, oneTime); r.Inflight != 0 {
					t.Errorf("%s: %d sends still in flight with DynamoDB healthy", u.openid, r.Inflight)
				}
			}
		})
	}
}

// TestDynamoDBThrottlingDuringConcurrentSends throttles the table while
// sends run: a brief throttle is retried away (every send 200), a lasting one
// refuses every send with 503 store_unavailable before WeChat is called, and
// no credit moves.
func TestDynamoDBThrottlingDuringConcurrentSends(t *testing.T) {
	t.Parallel()
	storeDown := want{503, "store_unavailable", 0}
	h := start(t)
	if h.s.DB == nil {
		t.Skip("DYNAMODB_ENDPOINT names an external DynamoDB; its faults cannot be injected")
	}
	sendCalls := func() int64 { return h.s.Sim.Stats().Calls[sendPath] }
	// The template catalogue is cached in memory; a cold read during an
	// outage is TestColdCatalogueDuringOutage's subject.
	if _, err := h.s.Backend.Catalog.All(t.Context()); err != nil {
		t.Fatal(err)
	}

	t.Run("throttled briefly", func(t *testing.T) {
		h := h.sub(t)
		us := h.subscribers("Throttle", 6, 1)
		h.s.Sim.Flush()
		h.s.DB.Throttle(2) // the SDK's retryer absorbs this
		answers := h.sendBurst(us, 1)
		for _, as := range answers {
			if a := as[0]; a.shape() != sent {
				t.Errorf("answer %d %s; a brief throttle should be retried away", a.status, a.raw)
			}
		}
		h.ledgerMatchesAnswers(us, answers, false)
	})

	t.Run("throttled for good", func(t *testing.T) {
		h := h.sub(t)
		us := h.subscribers("ThrottleLong", 6, 1)
		h.s.Sim.Flush()
		before := sendCalls()
		h.s.DB.Throttle(1 << 20)
		answers := h.sendBurst(us, 1)
		h.s.DB.Throttle(0)
		for _, as := range answers {
			if a := as[0]; a.shape() != storeDown {
				t.Errorf("answer %d %s; want %v", a.status, a.raw, storeDown)
			}
		}
		if n := sendCalls() - before; n != 0 {
			t.Errorf("WeChat was called %d times while the table refused every request", n)
		}
		h.ledgerMatchesAnswers(us, answers, false)
		for _, u := range us {
			if r := h.row(u.openid, oneTime); r.Credits != 1 || r.Spent != 0 {
				t.Errorf("%s: refused sends changed the row: %+v", u.openid, r)
			}
		}
	})
}

// TestDynamoDBOutageDuringConcurrentSends fails every DynamoDB request for
// 400 ms while sends reserve and settle: every answer is 200 or 503
// store_unavailable, a send WeChat accepted is answered 200 and counted, and
// a settlement that could not be written leaves its credit in flight.
func TestDynamoDBOutageDuringConcurrentSends(t *testing.T) {
	t.Parallel()
	storeDown := want{503, "store_unavailable", 0}
	h := start(t)
	if h.s.DB == nil {
		t.Skip("DYNAMODB_ENDPOINT names an external DynamoDB; its faults cannot be injected")
	}
	sendCalls := func() int64 { return h.s.Sim.Stats().Calls[sendPath] }
	if _, err := h.s.Backend.Catalog.All(t.Context()); err != nil {
		t.Fatal(err)
	}
	us := h.subscribers("Outage", 8, 2)
	h.s.Sim.Flush()
	// The first burst is held at WeChat so that its settlements meet the
	// outage; the second starts during it, so its reservations meet it.
	h.fault(map[string]any{"path": sendPath, "delay_ms": 250, "count": len(us)})
	before := sendCalls()
	h.s.DB.ResetCounts()
	var wg sync.WaitGroup
	var first, second map[string][]answer
	wg.Add(1)
	go func() { defer wg.Done(); first = h.sendBurst(us, 1) }()
	for sendCalls()-before < int64(len(us)) {
		time.Sleep(2 * time.Millisecond)
	}
	h.s.DB.FailAll(true)
	restored := make(chan struct{})
	go func() {
		time.Sleep(400 * time.Millisecond)
		h.s.DB.FailAll(false)
		close(restored)
	}()
	second = h.sendBurst(us, 1)
	wg.Wait()
	<-restored
	if _, byOp := h.s.DB.Requests(); byOp["TransactWriteItems"] <= int64(len(us)) {
		t.Errorf("%d settlement requests for %d settlements: the outage did not meet them", byOp["TransactWriteItems"], len(us))
	}

	answers := map[string][]answer{}
	refused := 0
	for _, u := range us {
		answers[u.openid] = append(first[u.openid], second[u.openid]...)
		for _, a := range answers[u.openid] {
			switch a.shape() {
			case storeDown:
				refused++
			case sent:
			default:
				t.Errorf("answer %d %s; want 200 or %v", a.status, a.raw, storeDown)
			}
		}
		for _, a := range first[u.openid] {
			if a.status != 200 {
				t.Errorf("a send WeChat accepted answered %d %s", a.status, a.raw)
			}
		}
	}
	t.Logf("during the outage: %d sends answered 503, %d answered 200", refused, 2*len(us)-refused)
	h.ledgerMatchesAnswers(us, answers, false)
	var inflight int64
	for _, u := range us {
		inflight += h.row(u.openid, oneTime).Inflight
	}
	stuck := int64(strings.Count(h.logs.String(), "settle failed; the credit stays in flight"))
	if inflight != stuck {
		t.Errorf("%d credits in flight after the outage, but %d settlements were given up", inflight, stuck)
	}
	// A settlement retries for longer than this outage lasted.
	if inflight != 0 {
		t.Errorf("%d credits still in flight after a 400 ms outage", inflight)
	}
}

// TestColdCatalogueDuringOutage: a send whose template catalogue must be read
// from a failing table is refused like any other send the store cannot serve.
func TestColdCatalogueDuringOutage(t *testing.T) {
	t.Parallel()
	h := start(t)
	if h.s.DB == nil {
		t.Skip("DYNAMODB_ENDPOINT names an external DynamoDB; its faults cannot be injected")
	}
	u := h.login("oColdCatalogue00000000000000")
	h.accept(u, oneTime, 1)
	h.s.Sim.Flush()
	h.s.Backend.Catalog.Invalidate()
	h.s.DB.Throttle(1 << 20)
	a := h.send(u.openid, oneTime)
	h.s.DB.Throttle(0)
	if a.status != 503 || a.errCode() != "store_unavailable" {
		t.Fatalf("answer %d %s; want 503 store_unavailable", a.status, a.raw)
	}
	if r := h.checkInvariant(u.openid, oneTime); r.Credits != 1 || h.inbox(u.openid, oneTime) != 0 {
		t.Fatalf("a refused send moved the credit: %+v", r)
	}
}

// TestKeyedSendRetriesAfterAStoreFailure: the store failed the reservation
// of a keyed send (503). The retry that the 503 asks for, with the same
// Idempotency-Key, must send rather than replay it.
func TestKeyedSendRetriesAfterAStoreFailure(t *testing.T) {
	t.Parallel()
	h := start(t)
	if h.s.DB == nil {
		t.Skip("needs the in-process DynamoDB's fault injection")
	}
	u := h.login("oKeyedRetry00000000000000000")
	h.accept(u, oneTime, 1)
	// The reservation (one transaction) fails on every attempt: nothing is
	// written, and the answer is 503.
	h.s.DB.FailNext("TransactWriteItems", 1000)
	first := h.send(u.openid, oneTime, "Idempotency-Key", "order-7")
	if first.status != 503 || first.errCode() != "store_unavailable" {
		t.Fatalf("first attempt: %d %s, want 503 store_unavailable", first.status, first.raw)
	}
	h.s.DB.FailNext("TransactWriteItems", 0)
	if n := h.inbox(u.openid, oneTime); n != 0 {
		t.Fatalf("the failed attempt sent %d messages", n)
	}
	again := h.send(u.openid, oneTime, "Idempotency-Key", "order-7")
	if again.status != 200 || again.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("retry with the same key: %d %s, want a fresh 200", again.status, again.raw)
	}
	if n := h.inbox(u.openid, oneTime); n != 1 {
		t.Fatalf("%d messages delivered, want 1", n)
	}
	h.checkInvariant(u.openid, oneTime)
}
