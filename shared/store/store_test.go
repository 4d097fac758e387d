package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/localdb"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/store"
)

func newStore(t *testing.T) (*store.Store, localdb.Table) {
	tb := localdb.NewTestTable(t)
	return store.New(tb.Client, tb.Name), tb
}

func requests(tb localdb.Table) int64 {
	if tb.Server == nil {
		return -1
	}
	n, _ := tb.Server.Requests()
	return n
}

var seq atomic.Int64

// pending is a new pending message for a send to k.
func pending(k store.RowKey, kind ledger.Kind) store.Message {
	now := time.Now()
	id := fmt.Sprintf("m%025d", seq.Add(1))
	return store.Message{ID: id, AppID: k.AppID, OpenID: k.OpenID, TemplateID: k.TemplateID,
		Status: ledger.Pending, Kind: kind, Attempt: "a" + id[1:], CreatedAt: now, UpdatedAt: now}
}

// reserve reserves a credit of k for a new one-time message.
func reserve(ctx context.Context, s *store.Store, k store.RowKey, kind ledger.Kind) (store.Message, error) {
	m := pending(k, kind)
	return m, s.Reserve(ctx, store.Reservation{Row: k, Message: m})
}

func grant(t *testing.T, s *store.Store, k store.RowKey, n int) ledger.Row {
	t.Helper()
	var r ledger.Row
	var err error
	for i := 0; i < n; i++ {
		r, err = s.ApplyTap(context.Background(), k, ledger.OneTime, ledger.OnTap(ledger.OneTime, ledger.TapAccept))
		if err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func TestApplyTapCreatesThenUpdatesInOneRequest(t *testing.T) {
	s, tb := newStore(t)
	ctx := context.Background()
	k := store.RowKey{AppID: "wx1", OpenID: "oUser000001", TemplateID: "tplA"}
	before := requests(tb)
	r := grant(t, s, k, 1)
	if r.Credits != 1 || r.Granted != 1 || r.Status != ledger.Accept {
		t.Fatalf("first accept: %+v", r)
	}
	first := requests(tb) - before
	r = grant(t, s, k, 1)
	second := requests(tb) - before - first
	if r.Credits != 2 {
		t.Fatalf("second accept: %+v", r)
	}
	if tb.Server != nil && (first != 2 || second != 1) {
		t.Fatalf("DynamoDB requests: first report %d (want 2), later report %d (want 1)", first, second)
	}
	got, err := s.Row(ctx, k)
	if err != nil || got.Credits != 2 || !got.Balanced() {
		t.Fatalf("Row = %+v, %v", got, err)
	}
	r, err = s.ApplyTap(ctx, k, ledger.OneTime, ledger.OnTap(ledger.OneTime, ledger.TapSwitchReject))
	if err != nil || r.Credits != 0 || r.Revoked != 2 || r.Status != ledger.Reject || !r.Balanced() {
		t.Fatalf("switch reject: %+v, %v", r, err)
	}
	rows, err := s.UserRows(ctx, "wx1", "oUser000001")
	if err != nil || len(rows) != 1 {
		t.Fatalf("UserRows = %v, %v", rows, err)
	}
}

func TestConcurrentFirstReportsCountEveryTap(t *testing.T) {
	s, _ := newStore(t)
	k := store.RowKey{AppID: "wx1", OpenID: "oUser000002", TemplateID: "tplA"}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.ApplyTap(context.Background(), k, ledger.OneTime, ledger.OnTap(ledger.OneTime, ledger.TapAccept)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	r, err := s.Row(context.Background(), k)
	if err != nil || r.Credits != 20 || r.Granted != 20 {
		t.Fatalf("20 concurrent accepts left %+v, %v", r, err)
	}
}

func TestReserveNeverSpendsMoreThanGranted(t *testing.T) {
	s, _ := newStore(t)
	k := store.RowKey{AppID: "wx1", OpenID: "oUser000003", TemplateID: "tplA"}
	grant(t, s, k, 7)
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 60; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := reserve(context.Background(), s, k, ledger.OneTime)
			var re *store.RefusedError
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &re) && re.Refusal == ledger.RefusedNoCredit:
				refused.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 7 || refused.Load() != 53 {
		t.Fatalf("reserved %d, refused %d; want 7 and 53", ok.Load(), refused.Load())
	}
	r, _ := s.Row(context.Background(), k)
	if r.Credits != 0 || r.Spent != 7 || r.Inflight != 7 || !r.Balanced() {
		t.Fatalf("row after reservations: %+v", r)
	}
}

func TestReserveRefusals(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	none := store.RowKey{AppID: "wx1", OpenID: "oNobody0001", TemplateID: "tplA"}
	var re *store.RefusedError
	if _, err := reserve(ctx, s, none, ledger.OneTime); !errors.As(err, &re) || re.Refusal != ledger.RefusedNoCredit {
		t.Fatalf("no row: %v", err)
	}
	banned := store.RowKey{AppID: "wx1", OpenID: "oBanned0001", TemplateID: "tplA"}
	grant(t, s, banned, 2)
	s.ApplyTap(ctx, banned, ledger.OneTime, ledger.OnTap(ledger.OneTime, ledger.TapBan))
	if _, err := reserve(ctx, s, banned, ledger.OneTime); !errors.As(err, &re) || re.Refusal != ledger.RefusedBanned {
		t.Fatalf("banned: %v", err)
	}
	lt := store.RowKey{AppID: "wx1", OpenID: "oLong000001", TemplateID: "tplL"}
	s.ApplyTap(ctx, lt, ledger.LongTerm, ledger.OnTap(ledger.LongTerm, ledger.TapReject))
	if _, err := reserve(ctx, s, lt, ledger.LongTerm); !errors.As(err, &re) || re.Refusal != ledger.RefusedNotSubscribed {
		t.Fatalf("long-term rejected: %v", err)
	}
	s.ApplyTap(ctx, lt, ledger.LongTerm, ledger.OnTap(ledger.LongTerm, ledger.TapAccept))
	for i := 0; i < 3; i++ {
		_, err := reserve(ctx, s, lt, ledger.LongTerm)
		r, _ := s.Row(ctx, lt)
		if err != nil || r.Spent != 0 {
			t.Fatalf("long-term accepted send %d: %+v %v", i, r, err)
		}
	}
}

func TestSettleAppliesEachCreditEffect(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	cases := []struct {
		effect                        ledger.CreditEffect
		status                        ledger.MessageStatus
		credits, spent, revoked, left int64
	}{
		{ledger.Spend, ledger.Sent, 2, 1, 0, 0},
		{ledger.Release, ledger.Failed, 3, 0, 0, 0},
		{ledger.SpendAndZero, ledger.Failed, 0, 1, 2, 0},
		{ledger.Spend, ledger.Unknown, 2, 1, 0, 0},
	}
	for i, c := range cases {
		k := store.RowKey{AppID: "wx1", OpenID: "oSettle" + string(rune('a'+i)) + "0001", TemplateID: "tplA"}
		grant(t, s, k, 3)
		m, err := reserve(ctx, s, k, ledger.OneTime)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.Message(ctx, m.ID); err != nil || got.Status != ledger.Pending {
			t.Fatalf("after the reservation the message is %+v, %v; want it recorded pending", got, err)
		}
		m.Status, m.AnswerStatus, m.Answer = c.status, 200, "{}"
		if err := s.Settle(ctx, store.Settlement{Row: k, Kind: ledger.OneTime, Effect: c.effect, Message: m}); err != nil {
			t.Fatal(err)
		}
		// A retry of a settlement that was written (its answer lost) is done.
		if err := s.Settle(ctx, store.Settlement{Row: k, Kind: ledger.OneTime, Effect: c.effect, Message: m}); err != nil {
			t.Fatalf("a repeated settlement: %v", err)
		}
		r, _ := s.Row(ctx, k)
		if r.Credits != c.credits || r.Spent != c.spent || r.Revoked != c.revoked || r.Inflight != 0 || !r.Balanced() {
			t.Errorf("effect %d: row %+v", c.effect, r)
		}
		got, err := s.Message(ctx, m.ID)
		if err != nil || got.Status != c.status || got.OpenID != k.OpenID {
			t.Errorf("message after settle: %+v %v", got, err)
		}
		// The user's messages are read from gsi1, which DynamoDB updates
		// asynchronously: the message appears there within the index lag.
		var msgs []store.Message
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if msgs, err = s.UserMessages(ctx, "wx1", k.OpenID); err != nil || len(msgs) == 1 && msgs[0].Status == c.status {
				break
			}
		}
		if err != nil || len(msgs) != 1 || msgs[0].ID != m.ID || msgs[0].Status != c.status {
			t.Errorf("UserMessages = %+v %v", msgs, err)
		}
	}
}

func TestReserveDetectsRepeatedKeysWithinTheWindow(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	k := store.RowKey{AppID: "wx1", OpenID: "oUser000009", TemplateID: "tplA"}
	grant(t, s, k, 3)
	m := pending(k, ledger.OneTime)
	m.ID, m.IdempotencyKey = "kaaaaaaaaaaaaaaaaaaaaaaaaa", "order-1"
	if err := s.Reserve(ctx, store.Reservation{Row: k, Message: m, Window: time.Hour}); err != nil {
		t.Fatal(err)
	}
	// The same reservation again (its first answer lost) is this one.
	if err := s.Reserve(ctx, store.Reservation{Row: k, Message: m, Window: time.Hour}); err != nil {
		t.Fatalf("the same reservation again: %v", err)
	}
	// Another send with the key is a duplicate.
	repeat := m
	repeat.Attempt = "arepeat"
	var dup *store.DuplicateError
	if err := s.Reserve(ctx, store.Reservation{Row: k, Message: repeat, Window: time.Hour}); !errors.As(err, &dup) || dup.Existing.IdempotencyKey != "order-1" {
		t.Fatalf("second reservation with the key: %v", err)
	}
	if r, _ := s.Row(ctx, k); r.Credits != 2 || r.Inflight != 1 {
		t.Fatalf("a refused repeat changed the row: %+v", r)
	}
	// A settlement that frees the key (nothing delivered, credit released)
	// lets the next use of the key be a new attempt.
	m.Status, m.AnswerStatus, m.Answer = ledger.Failed, 503, "{}"
	if err := s.Settle(ctx, store.Settlement{Row: k, Kind: ledger.OneTime, Effect: ledger.Release, Message: m, FreeKey: true}); err != nil {
		t.Fatal(err)
	}
	again := m
	again.Status, again.Attempt = ledger.Pending, "aother"
	if err := s.Reserve(ctx, store.Reservation{Row: k, Message: again, Window: time.Hour}); err != nil {
		t.Fatalf("a freed key was not free: %v", err)
	}
	// Past the window the record is replaced.
	later := again
	later.CreatedAt, later.Attempt = again.CreatedAt.Add(2*time.Hour), "alater"
	if err := s.Reserve(ctx, store.Reservation{Row: k, Message: later, Window: time.Hour}); err != nil {
		t.Fatalf("a reservation after the window should replace the old record: %v", err)
	}
	// A settlement of an attempt that is not the record's changes nothing.
	again.Status, again.AnswerStatus = ledger.Sent, 200
	if err := s.Settle(ctx, store.Settlement{Row: k, Kind: ledger.OneTime, Effect: ledger.Spend, Message: again}); !errors.Is(err, store.ErrSettled) {
		t.Fatalf("settling a replaced attempt: %v, want ErrSettled", err)
	}
}

func TestTokenLeaseHasOneWinner(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if _, err := s.Token(ctx, "wx1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Token before any fetch: %v", err)
	}
	var wins atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := s.LeaseToken(ctx, "wx1", string(rune('a'+i)), 0, time.Now(), time.Now().Add(time.Minute))
			if err == nil {
				wins.Add(1)
			} else if !errors.Is(err, store.ErrLeaseHeld) {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d callers won the lease", wins.Load())
	}
	if _, err := s.SaveToken(ctx, "wx1", "not-the-owner", store.TokenRecord{Token: "T"}); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("a non-owner saved the token: %v", err)
	}
	rec, err := s.Token(ctx, "wx1")
	if err != nil {
		t.Fatal(err)
	}
	saved, err := s.SaveToken(ctx, "wx1", rec.LeaseOwner, store.TokenRecord{Token: "T1", ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil || saved.Version != 1 || saved.Token != "T1" {
		t.Fatalf("SaveToken = %+v, %v", saved, err)
	}
	if _, err := s.LeaseToken(ctx, "wx1", "x", 0, time.Now(), time.Now().Add(time.Minute)); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("a lease on a stale version was granted: %v", err)
	}
	if _, err := s.LeaseToken(ctx, "wx1", "x", 1, time.Now(), time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("a lease on the current version was refused: %v", err)
	}
}

// TestLostAnswersAreNotAppliedTwice: DynamoDB applied a transaction but its
// answer was lost (a 500 after the commit). The SDK retries with the same
// ClientRequestToken, which DynamoDB answers without applying it again: the
// reservation and the settlement each count once.
func TestLostAnswersAreNotAppliedTwice(t *testing.T) {
	s, tb := newStore(t)
	if tb.Server == nil {
		t.Skip("needs the in-process DynamoDB's fault injection")
	}
	ctx := context.Background()
	k := store.RowKey{AppID: "wxLost", OpenID: "oLostAnswer01", TemplateID: "tplA"}
	grant(t, s, k, 2)
	tb.Server.LoseAnswerNext("TransactWriteItems", 1)
	m, err := reserve(ctx, s, k, ledger.OneTime)
	if err != nil {
		t.Fatalf("a reservation whose first answer was lost: %v", err)
	}
	if r, _ := s.Row(ctx, k); r.Credits != 1 || r.Inflight != 1 || r.Spent != 1 {
		t.Fatalf("after the reservation: %+v; want one credit reserved once", r)
	}
	m.Status, m.AnswerStatus, m.Answer = ledger.Sent, 200, "{}"
	tb.Server.LoseAnswerNext("TransactWriteItems", 1)
	if err := s.Settle(ctx, store.Settlement{Row: k, Kind: ledger.OneTime, Effect: ledger.Spend, Message: m}); err != nil {
		t.Fatalf("a settlement whose first answer was lost: %v", err)
	}
	r, _ := s.Row(ctx, k)
	if r.Credits != 1 || r.Inflight != 0 || r.Spent != 1 || !r.Balanced() {
		t.Fatalf("after the settlement: %+v", r)
	}
	day, err := drained(t, s, tb).DayCounts(ctx, k.AppID, store.ChinaDay(time.Now()))
	if err != nil || day.Sent != 1 || day.Spent != 1 {
		t.Fatalf("today's counts %+v, %v; want the send counted once", day, err)
	}
}
