package store_test

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxsub/wxsub/dev/eventsource"
	"github.com/wxsub/wxsub/dev/localdb"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/store"
)

func TestChinaDayTurnsAtMidnightChinaTime(t *testing.T) {
	for utc, want := range map[time.Time]string{
		time.Date(2026, 3, 1, 15, 59, 59, 0, time.UTC): "2026-03-01",
		time.Date(2026, 3, 1, 16, 0, 0, 0, time.UTC):   "2026-03-02",
		time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC): "2027-01-01",
	} {
		if got := store.ChinaDay(utc); got != want {
			t.Errorf("ChinaDay(%s) = %s, want %s", utc, got, want)
		}
	}
}

// drained hands every record of the table's stream to s.ApplyChanges, as
// the tally function does, and returns s.
func drained(t *testing.T, s *store.Store, tb localdb.Table) *store.Store {
	t.Helper()
	src := &eventsource.Source{Streams: tb.Streams, Table: tb.Name, BatchSize: 1000,
		Handle: func(ctx context.Context, ev events.DynamoDBEvent) error {
			ch, err := store.ChangesFromStream(ev.Records)
			if err != nil {
				return err
			}
			_, err = s.ApplyChanges(ctx, ch)
			return err
		}}
	if err := src.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSettlementsAndGrantsCountToday(t *testing.T) {
	s, tb := newStore(t)
	ctx := context.Background()
	const app = "wxCounts"
	settle := func(i int, kind ledger.Kind, status ledger.MessageStatus, code int, effect ledger.CreditEffect) {
		t.Helper()
		k := store.RowKey{AppID: app, OpenID: fmt.Sprintf("oCount%06d", i), TemplateID: "tplA"}
		if _, err := s.ApplyTap(ctx, k, kind, ledger.OnTap(kind, ledger.TapAccept)); err != nil {
			t.Fatal(err)
		}
		m, err := reserve(ctx, s, k, kind)
		if err != nil {
			t.Fatal(err)
		}
		m.Status, m.ErrCode = status, code
		before := requests(tb)
		if err := s.Settle(ctx, store.Settlement{Row: k, Kind: kind, Effect: effect, Message: m}); err != nil {
			t.Fatal(err)
		}
		if n := requests(tb) - before; tb.Server != nil && n != 1 {
			t.Errorf("a settlement took %d DynamoDB requests; want 1 (the counters follow from the stream)", n)
		}
	}
	settle(1, ledger.OneTime, ledger.Sent, 0, ledger.Spend)
	settle(2, ledger.OneTime, ledger.Failed, 45009, ledger.Release)
	settle(3, ledger.OneTime, ledger.Failed, 43101, ledger.SpendAndZero)
	settle(4, ledger.OneTime, ledger.Unknown, 0, ledger.Spend)
	settle(5, ledger.OneTime, ledger.Failed, 0, ledger.Release) // no token: no errcode
	settle(6, ledger.LongTerm, ledger.Sent, 0, ledger.Spend)    // long-term: no credit
	settle(7, ledger.OneTime, ledger.Failed, 45009, ledger.Release)
	k := store.RowKey{AppID: app, OpenID: "oCountMore", TemplateID: "tplA"}
	grant(t, s, k, 2)

	today := store.ChinaDay(time.Now())
	if got, err := s.DayCounts(ctx, app, today); err != nil || got.Sent != 0 || got.Granted != 0 {
		t.Fatalf("before the stream is read: %+v, %v; want nothing counted yet", got, err)
	}
	got, err := drained(t, s, tb).DayCounts(ctx, app, today)
	if err != nil {
		t.Fatal(err)
	}
	// 6 one-time accepts in settle, 2 more in grant.
	want := store.DayCounts{Day: today, Sent: 2, Unknown: 1,
		Failed:  map[string]int64{"45009": 2, "43101": 1, "none": 1},
		Granted: 8, Spent: 3, Released: 3}
	if got.Day != want.Day || got.Sent != want.Sent || got.Unknown != want.Unknown || !maps.Equal(got.Failed, want.Failed) ||
		got.Granted != want.Granted || got.Spent != want.Spent || got.Released != want.Released {
		t.Errorf("DayCounts = %+v, want %+v", got, want)
	}

	for _, other := range []struct{ app, day string }{{"wxOther", want.Day}, {app, "2000-01-01"}} {
		c, err := s.DayCounts(ctx, other.app, other.day)
		if err != nil || c.Sent != 0 || c.Granted != 0 || c.Failed == nil || len(c.Failed) != 0 || c.Day != other.day {
			t.Errorf("DayCounts(%s, %s) = %+v, %v; want zero", other.app, other.day, c, err)
		}
	}
}

// A batch of the stream that comes again (Lambda retries a batch from its
// first record, possibly with more records after it) counts only what it
// did not count before.
func TestRedeliveredBatchCountsOnce(t *testing.T) {
	s, tb := newStore(t)
	ctx := context.Background()
	const app = "wxRedeliver"
	var (
		mu      sync.Mutex // shards are read side by side
		batches [][]events.DynamoDBEventRecord
	)
	src := &eventsource.Source{Streams: tb.Streams, Table: tb.Name, BatchSize: 1000,
		Handle: func(_ context.Context, ev events.DynamoDBEvent) error {
			mu.Lock()
			defer mu.Unlock()
			batches = append(batches, ev.Records)
			return nil
		}}
	for i := range 3 {
		grant(t, s, store.RowKey{AppID: app, OpenID: fmt.Sprintf("oR%d", i), TemplateID: "tplA"}, 1)
	}
	if err := src.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	grant(t, s, store.RowKey{AppID: app, OpenID: "oR3", TemplateID: "tplA"}, 1)
	if err := src.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	var all []events.DynamoDBEventRecord
	for _, b := range batches {
		all = append(all, b...)
	}
	if len(all) != 4 {
		t.Fatalf("%d stream records, want 4 (one per grant)", len(all))
	}
	apply := func(recs []events.DynamoDBEventRecord) int {
		t.Helper()
		ch, err := store.ChangesFromStream(recs)
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.ApplyChanges(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Records of different shards are separate batches in Lambda; here one
	// ordered list stands in for one shard: first two records, then the same
	// first record again with all four.
	if n := apply(all[:2]); n != 2 {
		t.Errorf("first batch counted %d records, want 2", n)
	}
	if n := apply(all); n != 2 {
		t.Errorf("the batch delivered again with more records counted %d, want the 2 new ones", n)
	}
	if n := apply(all); n != 0 {
		t.Errorf("the same batch a third time counted %d, want 0", n)
	}
	got, err := s.DayCounts(ctx, app, store.ChinaDay(time.Now()))
	if err != nil || got.Granted != 4 {
		t.Fatalf("granted today = %d, %v; want 4", got.Granted, err)
	}
}

// A release that a zeroing during the send turned into a revocation is not
// counted as released today: the credit did not come back.
func TestARevokedReleaseIsNotCountedReleased(t *testing.T) {
	s, tb := newStore(t)
	ctx := context.Background()
	k := store.RowKey{AppID: "wxRevoked", OpenID: "oRevoked", TemplateID: "tplA"}
	grant(t, s, k, 2)
	m, err := reserve(ctx, s, k, ledger.OneTime)
	if err != nil {
		t.Fatal(err)
	}
	// The user takes the template back while the send is in flight.
	time.Sleep(2 * time.Millisecond)
	if _, err := s.ApplyTap(ctx, k, ledger.OneTime, ledger.OnTap(ledger.OneTime, ledger.TapSwitchReject)); err != nil {
		t.Fatal(err)
	}
	m.Status, m.ErrCode = ledger.Failed, 45009
	if err := s.Settle(ctx, store.Settlement{Row: k, Kind: ledger.OneTime, Effect: ledger.Release, Message: m}); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Row(ctx, k); r.Credits != 0 || r.Revoked != 2 || !r.Balanced() {
		t.Fatalf("row %+v; want both credits revoked", r)
	}
	day, err := drained(t, s, tb).DayCounts(ctx, k.AppID, store.ChinaDay(time.Now()))
	if err != nil || day.Released != 0 || day.Failed["45009"] != 1 {
		t.Fatalf("today %+v, %v; want the failure counted and nothing released", day, err)
	}
}
