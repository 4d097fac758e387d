package localstack_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/localstack"
	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/broadcasts"
)

// wechatSendPath is subscribe/send's path in the simulator's counters.
const wechatSendPath = "/cgi-bin/message/subscribe/send"

// withEnv sets environment variables of the stack (BROADCAST_RATE, ...).
func withEnv(kv map[string]string) option {
	return func(o *localstack.Options) {
		getenv := o.Getenv
		o.Getenv = func(name string) string {
			if v, ok := kv[name]; ok {
				return v
			}
			return getenv(name)
		}
	}
}

// subscribed logs n users in, 8 at a time; those for whom accept is true
// tap "allow" once for the one-time template, the others "reject" (no
// credit). It waits until gsi1 lists every one, as a page job reads it.
func (h *harness) subscribed(prefix string, n int, accept func(i int) bool) []user {
	h.t.Helper()
	users := make([]user, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range users {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			u := h.login(fmt.Sprintf("o%s%0*d", prefix, 27-len(prefix), i))
			status := "reject"
			if accept(i) {
				status = "accept"
			}
			p := h.sim("POST", "/__sim/popup", map[string]any{"openid": u.openid, "results": map[string]string{oneTime: status}})
			if a := h.api("POST", "/v1/subscriptions", u.token, map[string]any{"result": p.body}); a.status != 200 {
				h.t.Errorf("report: %d %s", a.status, a.raw)
			}
			users[i] = u
		}()
	}
	wg.Wait()
	h.s.Sim.Flush()
	h.waitIndexed(oneTime, n)
	return users
}

// broadcastDone posts a broadcast of the one-time template, waits until
// the local queue has run every job, and returns its id and status.
func (h *harness) broadcastDone() (string, answer) {
	h.t.Helper()
	a := h.broadcast(oneTime, exampleData(oneTime))
	if a.status != 202 {
		h.t.Fatalf("POST /v1/broadcasts: %d %s", a.status, a.raw)
	}
	id := a.body["broadcast_id"].(string)
	h.s.BroadcastQueue.Wait()
	h.drain()
	return id, h.admin("GET", "/v1/broadcasts/"+id, nil)
}

func (h *harness) sendCalls() int64 { return h.s.Sim.Stats().Calls[wechatSendPath] }

// wantCounts checks a broadcast's GET answer.
func wantCounts(t *testing.T, got answer, state string, counts map[string]int) {
	t.Helper()
	if got.status != 200 || got.body["state"] != state {
		t.Fatalf("broadcast: %d %s, want state %s", got.status, got.raw, state)
	}
	for k, n := range counts {
		if got.body[k] != float64(n) {
			t.Fatalf("broadcast %s = %v, want %d: %s", k, got.body[k], n, got.raw)
		}
	}
}

// TestBroadcastRateHoldsAcrossWorkers is not parallel: it measures the pace
// of 200 sends, which other tests' load would blur.
func TestBroadcastRateHoldsAcrossWorkers(t *testing.T) {
	const rate, workers, n = 100, 4, 200
	h := start(t, withEnv(map[string]string{"BROADCAST_RATE": strconv.Itoa(rate), "BROADCAST_WORKERS": strconv.Itoa(workers)}),
		withSim(func(c *wechatsim.Config) { c.SendLatency = 50 * time.Millisecond }))
	if h.s.BroadcastPace != (broadcasts.Pace{Rate: rate, Workers: workers}) {
		t.Fatalf("the stack runs at %+v, want the environment's", h.s.BroadcastPace)
	}
	users := h.subscribed("Rate", n, func(int) bool { return true })
	before := h.sendCalls()
	_, got := h.broadcastDone()
	wantCounts(t, got, "done", map[string]int{"queued": n, "sent": n, "failed": 0, "unknown": 0})
	if calls := h.sendCalls() - before; calls != n {
		t.Fatalf("%d subscribe/send calls for %d users", calls, n)
	}

	var sent []time.Time
	for _, u := range users {
		box := h.s.Sim.Inbox(u.openid)
		if len(box) != 1 {
			t.Fatalf("%s received %d messages", u.openid, len(box))
		}
		sent = append(sent, box[0].SentAt)
	}
	slices.SortFunc(sent, func(a, b time.Time) int { return a.Compare(b) })
	// Only upper bounds on the rate: a busy machine makes sends slower, never
	// faster. Each worker may send one more than its share in a window (its
	// bucket's token), and the round trips vary a little, hence the slack.
	most, span := busiestSecond(sent), sent[len(sent)-1].Sub(sent[0])
	t.Logf("%d sends in %s, at most %d within a second", n, span, most)
	if limit := rate*115/100 + workers; most > limit {
		t.Errorf("%d sends within one second, want at most %d (%d a second over %d workers)", most, limit, rate, workers)
	}
	if span < 1600*time.Millisecond {
		t.Errorf("%d sends took %s, want at least 1.6 s at %d a second", n, span, rate)
	}
}

// busiestSecond is the most of the sorted times within one second.
func busiestSecond(ts []time.Time) int {
	most, j := 0, 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= time.Second {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

func TestBroadcastSlowsDownOn45011(t *testing.T) {
	t.Parallel()
	h := start(t, withEnv(map[string]string{"BROADCAST_RATE": "100", "BROADCAST_WORKERS": "2"}))
	users := h.subscribed("Slow", 20, func(int) bool { return true })
	h.fault(map[string]any{"path": wechatSendPath, "errcode": 45011, "count": 1})
	before := h.sendCalls()
	id, got := h.broadcastDone()
	// The user WeChat refused counts failed, keeps the credit and is not
	// sent again: the answer is kept under the send's Idempotency-Key.
	wantCounts(t, got, "done", map[string]int{"queued": 20, "sent": 19, "failed": 1})
	if calls := h.sendCalls() - before; calls != 20 {
		t.Fatalf("%d subscribe/send calls for 20 users", calls)
	}
	refused := h.refusedUser(id, users, 45011)
	if r := h.checkInvariant(refused.openid, oneTime); r.Credits != 1 {
		t.Fatalf("the user refused with 45011 holds %d credits, want 1 (released)", r.Credits)
	}
	if !strings.Contains(h.logs.String(), "broadcast pace halved") {
		t.Error("no log line says the worker halved its pace")
	}
	if strings.Contains(h.logs.String(), "broadcast job failed") {
		t.Error("a 45011 failed the job; it only slows the worker down")
	}
}

func TestBroadcastQuotaUsedUpFailsTheJobAndSendsNothingTwice(t *testing.T) {
	t.Parallel()
	h := start(t, withEnv(map[string]string{"BROADCAST_RATE": "100", "BROADCAST_WORKERS": "2"}))
	users := h.subscribed("Quota", 20, func(int) bool { return true })
	h.fault(map[string]any{"path": wechatSendPath, "errcode": 45009, "count": 1})
	before := h.sendCalls()
	id, got := h.broadcastDone()
	logs := h.logs.String()
	for _, line := range []string{"broadcast sends held", "broadcast job failed; it will be retried"} {
		if !strings.Contains(logs, line) {
			t.Errorf("no %q log line: 45009 must stop and fail the job", line)
		}
	}
	// The job was delivered again: those it had served got their answer
	// replayed without a call to WeChat, the others were sent once.
	wantCounts(t, got, "done", map[string]int{"queued": 20, "sent": 19, "failed": 1})
	if calls := h.sendCalls() - before; calls != 20 {
		t.Fatalf("%d subscribe/send calls for 20 users: a redelivered job sent twice", calls)
	}
	refused := h.refusedUser(id, users, 45009)
	if r := h.checkInvariant(refused.openid, oneTime); r.Credits != 1 {
		t.Fatalf("the user refused with 45009 holds %d credits, want 1 (released)", r.Credits)
	}
	for _, u := range users {
		want := 1
		if u == refused {
			want = 0
		}
		if got := h.inbox(u.openid, oneTime); got != want {
			t.Fatalf("%s received %d messages, want %d", u.openid, got, want)
		}
	}
}

// refusedUser finds the one user whose broadcast message WeChat refused
// with errcode, checking every other one was sent.
func (h *harness) refusedUser(id string, users []user, errcode int) user {
	h.t.Helper()
	var refused []user
	for _, u := range users {
		m, err := h.s.Backend.Store.Message(context.Background(), broadcasts.MessageID(h.appid, id, u.openid))
		if err != nil {
			h.t.Fatalf("%s: %v", u.openid, err)
		}
		switch {
		case m.ErrCode == errcode && m.Status == "failed":
			refused = append(refused, u)
		case m.Status != "sent" && m.Status != "delivered":
			h.t.Fatalf("%s: message %s %d", u.openid, m.Status, m.ErrCode)
		}
	}
	if len(refused) != 1 {
		h.t.Fatalf("%d users refused with %d, want 1", len(refused), errcode)
	}
	return refused[0]
}

func TestBroadcastMessagesPagesThroughEveryOutcomeOnce(t *testing.T) {
	t.Parallel()
	h := start(t, withEnv(map[string]string{"BROADCAST_RATE": "200", "BROADCAST_WORKERS": "4"}))
	// One user in four rejects: no credit, no message, not listed.
	users := h.subscribed("Page", 60, func(i int) bool { return i%4 != 0 })
	h.fault(map[string]any{"path": wechatSendPath, "errcode": 45011, "count": 1})
	id, got := h.broadcastDone()
	wantCounts(t, got, "done", map[string]int{"queued": 45, "sent": 44, "failed": 1})

	seen := map[string]string{} // openid → status
	pages, next := 0, ""
	for {
		path := "/v1/broadcasts/" + id + "/messages?limit=7"
		if next != "" {
			path += "&next=" + url.QueryEscape(next)
		}
		a := h.admin("GET", path, nil)
		if a.status != 200 {
			t.Fatalf("GET %s: %d %s", path, a.status, a.raw)
		}
		pages++
		msgs, _ := a.body["messages"].([]any)
		if len(msgs) > 7 {
			t.Fatalf("a page of limit 7 holds %d messages", len(msgs))
		}
		for _, x := range msgs {
			m := x.(map[string]any)
			openid, _ := m["touser"].(string)
			if _, dup := seen[openid]; dup {
				t.Fatalf("%s is listed twice", openid)
			}
			if m["message_id"] != broadcasts.MessageID(h.appid, id, openid) {
				t.Fatalf("%s: message_id %v is not the broadcast's message", openid, m["message_id"])
			}
			seen[openid], _ = m["status"].(string)
		}
		next, _ = a.body["next"].(string)
		if next == "" {
			break
		}
		if pages > 20 {
			t.Fatal("the pages never end")
		}
	}
	if pages < 60/7 {
		t.Errorf("%d pages of 7 rows for 60 users", pages)
	}
	failed := 0
	for i, u := range users {
		status, listed := seen[u.openid]
		switch {
		case i%4 == 0 && listed:
			t.Errorf("%s, who rejected, is listed", u.openid)
		case i%4 != 0 && !listed:
			t.Errorf("%s, sent to, is not listed", u.openid)
		case status == "failed":
			failed++
		case listed && status != "sent" && status != "delivered":
			t.Errorf("%s: status %q", u.openid, status)
		}
	}
	if len(seen) != 45 || failed != 1 {
		t.Errorf("listed %d users, %d failed; want 45, 1 failed (45011)", len(seen), failed)
	}
	for _, q := range []string{"limit=0", "next=%2E%2E"} {
		if a := h.admin("GET", "/v1/broadcasts/"+id+"/messages?"+q, nil); a.status != 400 {
			t.Errorf("?%s: %d %s, want 400", q, a.status, a.raw)
		}
	}
	if a := h.admin("GET", "/v1/broadcasts/baaaaaaaaaaaaaaaaaaaaaaaaa/messages", nil); a.status != 404 || a.errCode() != "broadcast_not_found" {
		t.Errorf("unknown broadcast: %d %s", a.status, a.raw)
	}
}

func TestBroadcastPaceDefaultsAreTheTemplates(t *testing.T) {
	t.Parallel()
	h := start(t)
	if h.s.BroadcastPace != broadcasts.DefaultPace() {
		t.Errorf("without BROADCAST_RATE and BROADCAST_WORKERS the stack runs at %+v, want %+v", h.s.BroadcastPace, broadcasts.DefaultPace())
	}
	params := h.s.Template.Parameters
	if params["BroadcastRate"].Default != strconv.Itoa(broadcasts.DefaultRate) ||
		params["BroadcastWorkers"].Default != strconv.Itoa(broadcasts.DefaultWorkers) {
		t.Errorf("template.yaml's defaults %+v, %+v differ from the worker's %+v",
			params["BroadcastRate"], params["BroadcastWorkers"], broadcasts.DefaultPace())
	}
	// A job stops starting sends DrainTime before the worker's timeout: the
	// timeout must leave it time to send at all.
	for _, fn := range h.s.Template.Functions {
		if fn.LogicalID == "BroadcastWorkerFunction" && fn.Timeout < 2*broadcasts.DrainTime {
			t.Errorf("the worker's timeout %s leaves less than %s to send after DrainTime", fn.Timeout, broadcasts.DrainTime)
		}
	}
}
