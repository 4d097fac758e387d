package localstack_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/wxsub/wxsub/shared/ledger"
)

// These tests run with the local DynamoDB's realism on, as every test does:
// transactions hold their items for tens of milliseconds and cancel each
// other, single writes to a held item fail, hot items are throttled, and
// gsi1 lags. They prove that no send loses its record or its count then.

// TestSendStormWithConflicts sends 200 messages at once to 100 users holding
// 2 credits each, three times: every send is answered 200 and recorded as
// sent, today's count is exact, every balance ends at 0 with nothing in
// flight, and no settlement was given up.
//
// Not parallel: its 200 concurrent sends load the machine on their own.
func TestSendStormWithConflicts(t *testing.T) {
	h := start(t)
	if h.s.DB != nil {
		h.s.DB.ResetCounts()
	}
	total := 0
	for round := range 3 {
		users := h.subscribersParallel(fmt.Sprintf("Storm%d", round), 100, 2)
		answers := h.sendBurst(users, 2)
		for _, u := range users {
			for _, a := range answers[u.openid] {
				if a.status != 200 {
					t.Fatalf("round %d: %s: %d %s", round, u.openid, a.status, a.raw)
				}
				id, _ := a.messageID()
				if id == "" {
					id, _ = a.body["message_id"].(string)
				}
				m := h.admin("GET", "/v1/messages/"+id, nil)
				if m.status != 200 || (m.body["status"] != "sent" && m.body["status"] != "delivered") {
					t.Fatalf("round %d: GET /v1/messages/%s: %d %s", round, id, m.status, m.raw)
				}
			}
		}
		h.s.Sim.Flush()
		for _, u := range users {
			if r := h.checkInvariant(u.openid, oneTime); r.Credits != 0 || r.Inflight != 0 || r.Spent != 2 {
				t.Fatalf("round %d: %s: row %+v", round, u.openid, r)
			}
			if n := h.inbox(u.openid, oneTime); n != 2 {
				t.Fatalf("round %d: %s received %d messages, want 2", round, u.openid, n)
			}
		}
		total += 200
		today, _ := h.quota().body["today"].(map[string]any)
		if today["sent"] != float64(total) {
			t.Fatalf("round %d: today.sent %v, want %d", round, today["sent"], total)
		}
	}
	if strings.Contains(h.logs.String(), "settle failed") {
		t.Fatal(`a settlement was given up ("settle failed" in the logs)`)
	}
	if h.s.DB != nil {
		st := h.s.DB.Stats()
		t.Logf("conflicts met: %d transactions cancelled, %d writes refused; %d throttles", st.TxnConflicts, st.WriteConflicts, st.Throttles)
		if st.TxnConflicts+st.WriteConflicts == 0 {
			t.Error("600 sends, two at a time per user, met no conflict: is the local DynamoDB's realism off?")
		}
	}
}

// TestBroadcastAlongsideDirectSends broadcasts to 500 users holding 2
// credits while 100 of them also get a direct send: the broadcast ends done
// with exact counts, every direct send succeeds, and nobody gets a message
// twice.
//
// Not parallel: 500 subscribers and 100 concurrent direct sends during the
// broadcast outlast the functions' timeouts when other tests share the machine.
func TestBroadcastAlongsideDirectSends(t *testing.T) {
	h := start(t)
	users := h.subscribersParallel("Bcast", 500, 2)
	h.waitIndexed(oneTime, len(users))
	a := h.broadcast(oneTime, exampleData(oneTime))
	if a.status != 202 {
		t.Fatalf("POST /v1/broadcasts: %d %s", a.status, a.raw)
	}
	id := a.body["broadcast_id"].(string)
	direct := h.sendBurst(users[:100], 1)
	h.s.BroadcastQueue.Wait()
	h.drain()
	h.s.Sim.Flush()
	for _, u := range users[:100] {
		sent := direct[u.openid]
		if len(sent) == 0 {
			t.Fatalf("the direct send to %s got no answer", u.openid)
		}
		if d := sent[0]; d.status != 200 {
			t.Fatalf("direct send to %s: %d %s", u.openid, d.status, d.raw)
		}
	}
	got := h.admin("GET", "/v1/broadcasts/"+id, nil)
	if got.status != 200 || got.body["state"] != "done" || got.body["queued"] != float64(500) || got.body["sent"] != float64(500) ||
		got.body["no_credit"] != float64(0) || got.body["failed"] != float64(0) || got.body["unknown"] != float64(0) {
		t.Fatalf("broadcast: %d %s", got.status, got.raw)
	}
	for i, u := range users {
		want := 1
		if i < 100 {
			want = 2
		}
		if n := h.inbox(u.openid, oneTime); n != want {
			t.Fatalf("%s received %d messages, want %d", u.openid, n, want)
		}
		if r := h.checkInvariant(u.openid, oneTime); r.Credits != int64(2-want) || r.Inflight != 0 {
			t.Fatalf("%s: row %+v", u.openid, r)
		}
	}
}

// subscribersParallel is subscribers with the logins and taps of 8 users
// at a time.
func (h *harness) subscribersParallel(prefix string, n, credits int) []user {
	h.t.Helper()
	users := make([]user, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range users {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			users[i] = h.login(fmt.Sprintf("o%s%0*d", prefix, 27-len(prefix), i))
			h.accept(users[i], oneTime, credits)
		}(i)
	}
	wg.Wait()
	for _, u := range users {
		if r := h.row(u.openid, oneTime); r.Credits != int64(credits) {
			h.t.Fatalf("%s holds %d credits after %d taps", u.openid, r.Credits, credits)
		}
	}
	return users
}

var _ = ledger.OneTime
