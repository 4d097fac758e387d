package store_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

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
			t.Errorf("a settlement took %d DynamoDB requests; the counters must ride in its transaction", n)
		}
	}
	settle(1, ledger.OneTime, ledger.Sent, 0, ledger.Spend)
	settle(2, ledger.OneTime, ledger.Failed, 45009, ledger.Release)
	settle(3, ledger.OneTime, ledger.Failed, 43101, ledger.SpendAndZero)
	settle(4, ledger.OneTime, ledger.Unknown, 0, ledger.Spend)
	settle(5, ledger.OneTime, ledger.Failed, 0, ledger.Release) // no token: no errcode
	settle(6, ledger.LongTerm, ledger.Sent, 0, ledger.Spend)    // long-term: no credit
	settle(7, ledger.OneTime, ledger.Failed, 45009, ledger.Release)
	for _, n := range []int64{3, 0, 2} {
		if err := s.CountGrants(ctx, app, n); err != nil {
			t.Fatal(err)
		}
	}

	got, err := s.DayCounts(ctx, app, store.ChinaDay(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	want := store.DayCounts{Day: store.ChinaDay(time.Now()), Sent: 2, Unknown: 1,
		Failed:  map[string]int64{"45009": 2, "43101": 1, "none": 1},
		Granted: 5, Spent: 3, Released: 3}
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
