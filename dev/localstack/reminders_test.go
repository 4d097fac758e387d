package localstack_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/localstack"
	"github.com/wxsub/wxsub/shared/broadcasts"
	"github.com/wxsub/wxsub/shared/ids"
)

// remind schedules a reminder of the example data at sendAt.
func (h *harness) remind(openid, tmpl string, sendAt time.Time, headers ...string) answer {
	h.t.Helper()
	return h.admin("POST", "/v1/messages", map[string]any{
		"touser": openid, "template_id": tmpl, "page": "pages/index/index", "data": exampleData(tmpl),
		"send_at": sendAt.Format(time.RFC3339),
	}, headers...)
}

// later moves WeChat's clock (which reminders fall due by) forward by d and
// runs the dispatcher once, as its every-minute schedule would, then waits
// for the queue to send what it handed on.
func (h *harness) later(d time.Duration) {
	h.t.Helper()
	h.s.Sim.Advance(d)
	if err := h.s.RunSchedule(context.Background(), "RemindersFunction"); err != nil {
		h.t.Fatal(err)
	}
	h.s.BroadcastQueue.Wait()
}

// fastForwardReminders runs WeChat's clock 50 times fast, and the
// dispatcher as often, once a reminder is scheduled, until the test ends:
// the walk-through's reminder, a minute ahead, goes out in about a second.
func (h *harness) fastForwardReminders() {
	ctx, stop := context.WithCancel(context.Background())
	h.t.Cleanup(stop)
	go func() {
		for ; ctx.Err() == nil; time.Sleep(100 * time.Millisecond) {
			now := h.s.Sim.Now()
			if due, _ := h.s.Backend.Store.DueBetween(ctx, h.appid, now.Add(-time.Hour), now.Add(time.Hour)); len(due) == 0 {
				continue
			}
			h.s.Sim.Advance(5 * time.Second)
			h.s.RunSchedule(ctx, "RemindersFunction")
		}
	}()
}

func (h *harness) message(id string) answer {
	h.t.Helper()
	a := h.admin("GET", "/v1/messages/"+id, nil)
	if a.status != 200 {
		h.t.Fatalf("GET /v1/messages/%s: %d %s", id, a.status, a.raw)
	}
	return a
}

func TestReminderGoesOutAtItsTimeAndNotBefore(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oReminderTime0000000000000")
	h.accept(u, oneTime, 2)
	// The dispatcher has run before: its cursor is now.
	h.later(0)
	sendAt := h.s.Sim.Now().Add(10 * time.Minute).Truncate(time.Second)

	a := h.remind(u.openid, oneTime, sendAt.In(time.FixedZone("CST", 8*3600)))
	if a.status != 202 || a.body["status"] != "scheduled" || a.body["credits_left"] != float64(1) {
		t.Fatalf("schedule: %d %s", a.status, a.raw)
	}
	if got, _ := time.Parse(time.RFC3339Nano, a.body["send_at"].(string)); !got.Equal(sendAt) {
		t.Fatalf("send_at answered %v, want %v", a.body["send_at"], sendAt)
	}
	id := a.body["message_id"].(string)
	if r := h.checkInvariant(u.openid, oneTime); r.Credits != 1 || r.Held != 1 || r.Spent != 0 {
		t.Fatalf("the reminder did not hold its credit: %+v", r)
	}
	if m := h.message(id); m.body["status"] != "scheduled" || m.body["send_at"] == nil {
		t.Fatalf("a scheduled reminder reads %s", m.raw)
	}

	h.later(sendAt.Add(-time.Minute).Sub(h.s.Sim.Now())) // a minute early
	if n := h.inbox(u.openid, oneTime); n != 0 {
		t.Fatalf("the reminder went out %d time(s) a minute before its time", n)
	}
	// Two seconds early the dispatcher hands it on, held until it is due
	// (the queue's delay): it goes out at its time, not before.
	h.later(sendAt.Add(-2 * time.Second).Sub(h.s.Sim.Now()))
	if n := h.inbox(u.openid, oneTime); n != 1 {
		t.Fatalf("the reminder went out %d times at its time, want 1", n)
	}
	if d := h.s.Sim.Inbox(u.openid); d[0].SentAt.Before(sendAt) {
		t.Fatalf("WeChat got the reminder at %v, before its send_at %v", d[0].SentAt, sendAt)
	} else if late := d[0].SentAt.Sub(sendAt); late > 2*time.Second {
		t.Fatalf("the reminder went out %s late", late)
	}
	if m := h.message(id); m.body["status"] != "sent" {
		t.Fatalf("after its time the reminder reads %s", m.raw)
	}
	if r := h.checkInvariant(u.openid, oneTime); r.Credits != 1 || r.Held != 0 || r.Spent != 1 {
		t.Fatalf("after the reminder: %+v", r)
	}
}

func TestBadSendAtIsRefusedAndChangesNothing(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oReminderBad00000000000000")
	h.accept(u, oneTime, 1)
	now := h.s.Sim.Now()
	for _, v := range []string{
		now.Add(30 * time.Second).Format(time.RFC3339),         // less than a minute ahead
		now.Add(-time.Hour).Format(time.RFC3339),               // in the past
		now.Add(366 * 24 * time.Hour).Format(time.RFC3339),     // more than a year ahead
		now.Add(time.Hour).UTC().Format("2006-01-02T15:04:05"), // no offset
		"tomorrow at eight",
	} {
		a := h.admin("POST", "/v1/messages", map[string]any{
			"touser": u.openid, "template_id": oneTime, "data": exampleData(oneTime), "send_at": v,
		})
		if a.status != 400 || a.errCode() != "invalid_send_at" {
			t.Errorf("send_at %q: %d %s", v, a.status, a.raw)
		}
	}
	if r := h.checkInvariant(u.openid, oneTime); r.Credits != 1 || r.Held != 0 {
		t.Fatalf("a refused reminder changed the ledger: %+v", r)
	}
	if n := len(h.messages(u.openid, nil)); n != 0 {
		t.Fatalf("a refused reminder left %d message records", n)
	}
}

func TestReminderCreditIsHeldAgainstConcurrentSends(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oReminderHeld0000000000000")
	h.accept(u, oneTime, 1)
	h.later(0)
	a := h.remind(u.openid, oneTime, h.s.Sim.Now().Add(5*time.Minute))
	if a.status != 202 || a.body["credits_left"] != float64(0) {
		t.Fatalf("schedule: %d %s", a.status, a.raw)
	}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if a := h.send(u.openid, oneTime); a.status != 409 || a.errCode() != "no_credit" {
				t.Errorf("a send took the reminder's credit: %d %s", a.status, a.raw)
			}
		}()
	}
	wg.Wait()
	h.later(6 * time.Minute)
	if n := h.inbox(u.openid, oneTime); n != 1 {
		t.Fatalf("%d messages delivered, want exactly the reminder", n)
	}
	if m := h.message(a.body["message_id"].(string)); m.body["status"] != "sent" {
		t.Fatalf("the reminder reads %s", m.raw)
	}
	h.checkInvariant(u.openid, oneTime)
}

func TestCancelReleasesTheHeldCredit(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oReminderCancel00000000000")
	h.accept(u, oneTime, 1)
	h.later(0)
	a := h.remind(u.openid, oneTime, h.s.Sim.Now().Add(time.Hour))
	id := a.body["message_id"].(string)
	h.waitListed(u.openid, "scheduled", 1)

	c := h.admin("DELETE", "/v1/messages/"+id, nil)
	if c.status != 200 || c.body["status"] != "cancelled" || c.body["reason"] == nil {
		t.Fatalf("cancel: %d %s", c.status, c.raw)
	}
	if r := h.checkInvariant(u.openid, oneTime); r.Credits != 1 || r.Held != 0 || r.Revoked != 0 {
		t.Fatalf("the cancelled reminder's credit did not come back: %+v", r)
	}
	if again := h.admin("DELETE", "/v1/messages/"+id, nil); again.status != 409 || again.errCode() != "not_scheduled" {
		t.Fatalf("cancel twice: %d %s", again.status, again.raw)
	}
	h.waitListed(u.openid, "scheduled", 0)
	h.later(2 * time.Hour)
	if n := h.inbox(u.openid, oneTime); n != 0 {
		t.Fatalf("a cancelled reminder went out")
	}
	// The credit is the user's again: an immediate send spends it.
	if s := h.send(u.openid, oneTime); s.status != 200 {
		t.Fatalf("send after cancel: %d %s", s.status, s.raw)
	}
}

func TestCancelOfAStartedMessageIsRefused(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oReminderStarted000000000")
	h.accept(u, oneTime, 1)
	s := h.send(u.openid, oneTime)
	id := s.body["message_id"].(string)
	if c := h.admin("DELETE", "/v1/messages/"+id, nil); c.status != 409 || c.errCode() != "not_scheduled" {
		t.Fatalf("cancel of a sent message: %d %s", c.status, c.raw)
	}
	if c := h.admin("DELETE", "/v1/messages/"+ids.Random('m'), nil); c.status != 404 {
		t.Fatalf("cancel of an unknown message: %d %s", c.status, c.raw)
	}
}

// listed polls the user's listing (from gsi1, which lags) for up to d until
// it shows n messages in status, and returns whether it did with the last
// answer.
func (h *harness) listed(openid, status string, n int, d time.Duration) (bool, answer) {
	h.t.Helper()
	q := ""
	if status != "" {
		q = "?status=" + status
	}
	var last answer
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		last = h.admin("GET", "/v1/users/"+openid+"/messages"+q, nil)
		if ms, _ := last.body["messages"].([]any); last.status == 200 && len(ms) == n {
			return true, last
		}
	}
	return false, last
}

// listedWithin reports whether the user's listing shows n messages in
// status within d.
func (h *harness) listedWithin(openid, status string, n int, d time.Duration) bool {
	h.t.Helper()
	ok, _ := h.listed(openid, status, n, d)
	return ok
}

// waitListed waits up to 10 s until the user's listing shows n messages in
// status.
func (h *harness) waitListed(openid, status string, n int) {
	h.t.Helper()
	if ok, last := h.listed(openid, status, n, 10*time.Second); !ok {
		h.t.Fatalf("listing %s messages: %d %s, want %d", status, last.status, last.raw, n)
	}
}

func TestZeroingCancelsTheReminderWithoutCallingWeChat(t *testing.T) {
	t.Parallel()
	for _, zero := range []struct {
		name    string
		revoked int64 // the held credit, and the rest of the balance
		do      func(h *harness, u user)
	}{
		{"change event reject", 2, func(h *harness, u user) {
			if a := h.sim("POST", "/__sim/switch", map[string]any{"openid": u.openid, "template_id": oneTime}); a.status != 200 {
				h.t.Fatalf("switch: %d %s", a.status, a.raw)
			}
		}},
		{"main switch off", 2, func(h *harness, u user) {
			if a := h.sim("POST", "/__sim/switch", map[string]any{"openid": u.openid, "main_switch_off": true}); a.status != 200 {
				h.t.Fatalf("switch: %d %s", a.status, a.raw)
			}
		}},
		{"43101 to another send", 1, func(h *harness, u user) {
			// WeChat counts one credit fewer than the ledger (a tap it never
			// granted): the other credit's send is answered 43101.
			h.fault(map[string]any{"path": sendPath, "errcode": 43101, "count": 1})
			if a := h.send(u.openid, oneTime); a.status != 409 || a.errCode() != "no_credit" {
				h.t.Fatalf("send: %d %s", a.status, a.raw)
			}
		}},
	} {
		t.Run(zero.name, func(t *testing.T) {
			h := start(t)
			u := h.login("oReminderZeroed00000000000")
			h.accept(u, oneTime, 2)
			h.later(0)
			a := h.remind(u.openid, oneTime, h.s.Sim.Now().Add(30*time.Minute))
			id := a.body["message_id"].(string)
			zero.do(h, u)
			h.s.Sim.Flush()
			h.drain() // the tally sees the zeroing and ends the reminder
			m := h.message(id)
			if m.body["status"] != "cancelled" || m.body["reason"] == nil {
				t.Fatalf("after the zeroing the reminder reads %s", m.raw)
			}
			if r := h.checkInvariant(u.openid, oneTime); r.Credits != 0 || r.Held != 0 || r.Revoked != zero.revoked {
				t.Fatalf("the held credit was not revoked with the balance: %+v", r)
			}
			calls := h.s.Sim.Stats().Calls[sendPath]
			h.later(time.Hour)
			if n := h.s.Sim.Stats().Calls[sendPath]; n != calls {
				t.Fatalf("WeChat was called for a cancelled reminder")
			}
		})
	}
}

func TestZeroingFoundAtTheReminderTime(t *testing.T) {
	t.Parallel()
	// Without the tally's follow-up (its stream is paused), the dispatch
	// itself finds that a zeroing revoked the held credit.
	h := start(t, func(o *localstack.Options) { o.ManualStreams = true })
	u := h.login("oReminderLateZero00000000")
	h.accept(u, oneTime, 1)
	h.later(0)
	a := h.remind(u.openid, oneTime, h.s.Sim.Now().Add(5*time.Minute))
	id := a.body["message_id"].(string)
	if s := h.sim("POST", "/__sim/switch", map[string]any{"openid": u.openid, "template_id": oneTime}); s.status != 200 {
		t.Fatalf("switch: %d %s", s.status, s.raw)
	}
	h.s.Sim.Flush()
	calls := h.s.Sim.Stats().Calls[sendPath]
	h.later(6 * time.Minute)
	if m := h.message(id); m.body["status"] != "cancelled" {
		t.Fatalf("the reminder reads %s", m.raw)
	}
	if n := h.s.Sim.Stats().Calls[sendPath]; n != calls {
		t.Fatalf("WeChat was called for a revoked reminder")
	}
	if r := h.checkInvariant(u.openid, oneTime); r.Held != 0 || r.Revoked != 1 {
		t.Fatalf("after the dispatch: %+v", r)
	}
}

func TestRepeatedOrLateDispatchSendsNothingTwice(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.later(0)
	const n = 25
	var users []user
	var ids []string
	base := h.s.Sim.Now().Add(2 * time.Minute)
	for i := 0; i < n; i++ {
		u := h.login(fmt.Sprintf("oReminderTwice%012d", i))
		h.accept(u, oneTime, 1)
		users = append(users, u)
		a := h.remind(u.openid, oneTime, base.Add(time.Duration(i)*time.Second))
		if a.status != 202 {
			t.Fatalf("schedule: %d %s", a.status, a.raw)
		}
		ids = append(ids, a.body["message_id"].(string))
	}
	// The dispatcher comes 3 hours late: it catches up an hour a run.
	h.s.Sim.Advance(3 * time.Hour)
	var wg sync.WaitGroup
	for run := 0; run < 4; run++ {
		// Two runs at once, as a repeated delivery of the schedule would.
		for k := 0; k < 2; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := h.s.RunSchedule(context.Background(), "RemindersFunction"); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	h.s.BroadcastQueue.Wait()
	// And the queue hands the same job over again.
	if err := h.s.Broadcasts.Work(context.Background(), broadcasts.Job{Type: "remind", MessageIDs: ids}); err != nil {
		t.Fatal(err)
	}
	for i, u := range users {
		if got := h.inbox(u.openid, oneTime); got != 1 {
			t.Fatalf("user %d got the reminder %d times", i, got)
		}
		h.checkInvariant(u.openid, oneTime)
	}
}

func TestReminderIdempotencyKey(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oReminderKey0000000000000")
	h.accept(u, oneTime, 2)
	h.later(0)
	at := h.s.Sim.Now().Add(10 * time.Minute)
	first := h.remind(u.openid, oneTime, at, "Idempotency-Key", "reminder-1")
	again := h.remind(u.openid, oneTime, at, "Idempotency-Key", "reminder-1")
	if first.status != 202 || again.status != 202 || again.body["message_id"] != first.body["message_id"] {
		t.Fatalf("repeat: %d %s then %d %s", first.status, first.raw, again.status, again.raw)
	}
	if r := h.checkInvariant(u.openid, oneTime); r.Held != 1 || r.Credits != 1 {
		t.Fatalf("a repeated key held twice: %+v", r)
	}
	if again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the repeat was not marked replayed: %v", again.header)
	}
	// A reminder refused for want of credit replays its 409, not a 202.
	v := h.login("oReminderKeyNone000000000")
	refused := h.remind(v.openid, oneTime, at, "Idempotency-Key", "reminder-2")
	repeat := h.remind(v.openid, oneTime, at, "Idempotency-Key", "reminder-2")
	if refused.status != 409 || repeat.status != 409 || repeat.errCode() != "no_credit" {
		t.Fatalf("refused reminder: %d %s then %d %s", refused.status, refused.raw, repeat.status, repeat.raw)
	}
	h.later(11 * time.Minute)
	if n := h.inbox(u.openid, oneTime); n != 1 {
		t.Fatalf("%d reminders delivered", n)
	}
}

func TestUserMessagesArePaged(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oReminderList000000000000")
	h.accept(u, oneTime, 7)
	h.later(0)
	for i := 0; i < 5; i++ {
		if a := h.remind(u.openid, oneTime, h.s.Sim.Now().Add(time.Duration(i+2)*time.Minute)); a.status != 202 {
			t.Fatalf("schedule: %d %s", a.status, a.raw)
		}
	}
	for i := 0; i < 2; i++ {
		if a := h.send(u.openid, oneTime); a.status != 200 {
			t.Fatalf("send: %d %s", a.status, a.raw)
		}
	}
	h.waitListed(u.openid, "scheduled", 5)
	seen := map[string]bool{}
	var created []string
	next := ""
	for pages := 0; ; pages++ {
		q := url.Values{"status": {"scheduled"}, "limit": {"2"}}
		if next != "" {
			q.Set("next", next)
		}
		a := h.admin("GET", "/v1/users/"+u.openid+"/messages?"+q.Encode(), nil)
		if a.status != 200 {
			t.Fatalf("page: %d %s", a.status, a.raw)
		}
		for _, x := range a.body["messages"].([]any) {
			m := x.(map[string]any)
			if m["status"] != "scheduled" || seen[m["message_id"].(string)] {
				t.Fatalf("page lists %v", m)
			}
			seen[m["message_id"].(string)] = true
			created = append(created, m["created_at"].(string))
		}
		next, _ = a.body["next"].(string)
		if next == "" || pages > 5 {
			break
		}
	}
	if len(seen) != 5 {
		t.Fatalf("the pages listed %d scheduled reminders, want 5", len(seen))
	}
	for i := 1; i < len(created); i++ {
		if created[i] > created[i-1] {
			t.Fatalf("not newest first: %v", created)
		}
	}
	h.waitListed(u.openid, "", 7)
	for _, bad := range []string{"?status=nope", "?limit=0", "?limit=101", "?next=%25%25"} {
		if a := h.admin("GET", "/v1/users/"+u.openid+"/messages"+bad, nil); a.status != 400 {
			t.Errorf("%s: %d %s", bad, a.status, a.raw)
		}
	}
}

func TestScheduledBroadcastStartsAtItsTime(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.later(0)
	var users []user
	for i := 0; i < 12; i++ {
		u := h.login(fmt.Sprintf("oReminderCast%013d", i))
		h.accept(u, oneTime, 1)
		users = append(users, u)
	}
	h.waitIndexed(oneTime, len(users))
	at := h.s.Sim.Now().Add(20 * time.Minute)
	a := h.admin("POST", "/v1/broadcasts", map[string]any{"template_id": oneTime, "data": exampleData(oneTime),
		"send_at": at.Format(time.RFC3339)})
	if a.status != 202 || a.body["send_at"] == nil {
		t.Fatalf("schedule a broadcast: %d %s", a.status, a.raw)
	}
	id := a.body["broadcast_id"].(string)
	h.later(10 * time.Minute)
	if b := h.admin("GET", "/v1/broadcasts/"+id, nil); b.body["state"] != "scheduled" || h.inbox(users[0].openid, oneTime) != 0 {
		t.Fatalf("before its time the broadcast reads %s", b.raw)
	}
	h.later(11 * time.Minute)
	h.drain()
	if b := h.admin("GET", "/v1/broadcasts/"+id, nil); b.body["state"] != "done" || b.body["sent"] != float64(len(users)) {
		t.Fatalf("after its time the broadcast reads %s", b.raw)
	}
	// A repeated dispatch does not start it again.
	h.later(0)
	for _, u := range users {
		if n := h.inbox(u.openid, oneTime); n != 1 {
			t.Fatalf("%s got %d messages", u.openid, n)
		}
	}
	if bad := h.admin("POST", "/v1/broadcasts", map[string]any{"template_id": oneTime, "data": exampleData(oneTime),
		"send_at": "soon"}); bad.status != 400 || bad.errCode() != "invalid_send_at" {
		t.Fatalf("bad send_at: %d %s", bad.status, bad.raw)
	}
}
