package ledger

import (
	"fmt"
	"testing"
	"time"
)

func TestOnTapFollowsTheContractTable(t *testing.T) {
	start := Row{Kind: OneTime, Status: Accept, Credits: 2, Granted: 3, Spent: 1}
	cases := []struct {
		kind        Kind
		tap         Tap
		wantStatus  Status
		wantCredits int64
		wantRevoked int64
	}{
		{OneTime, TapAccept, Accept, 3, 0},
		{OneTime, TapReject, Reject, 2, 0}, // credits unchanged
		{OneTime, TapBan, Ban, 2, 0},
		{OneTime, TapFilter, Accept, 2, 0}, // ignored
		{OneTime, TapSwitchReject, Reject, 0, 2},
		{OneTime, TapSwitchAccept, Accept, 2, 0}, // switched back on: no credit
		{OneTime, TapMainSwitchOff, Off, 0, 2},
		{LongTerm, TapAccept, Accept, 2, 0}, // not counted
		{LongTerm, TapReject, Reject, 2, 0},
		{LongTerm, TapBan, Ban, 2, 0},
		{LongTerm, TapSwitchReject, Reject, 2, 0},
		{LongTerm, TapMainSwitchOff, Off, 2, 0},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%s", c.kind, c.tap), func(t *testing.T) {
			r := start
			r.Kind = c.kind
			got := Apply(r, OnTap(c.kind, c.tap))
			if got.Status != c.wantStatus || got.Credits != c.wantCredits || got.Revoked != c.wantRevoked {
				t.Fatalf("got status %q credits %d revoked %d, want %q %d %d",
					got.Status, got.Credits, got.Revoked, c.wantStatus, c.wantCredits, c.wantRevoked)
			}
			if c.kind == OneTime && !got.Balanced() {
				t.Fatalf("row unbalanced after %s: %+v", c.tap, got)
			}
		})
	}
}

func TestEveryAcceptVariantIsAnAccept(t *testing.T) {
	for _, s := range []string{"accept", "acceptWithAudio", "acceptWithAlert", "acceptWithForcePush"} {
		if tap, ok := ParseTap(s); !ok || tap != TapAccept {
			t.Errorf("ParseTap(%q) = %q %v, want accept", s, tap, ok)
		}
	}
	for _, s := range []string{"Accept", "", "allow", " accept", "rejectWithAudio"} {
		if tap, ok := ParseTap(s); ok && tap == TapAccept {
			t.Errorf("ParseTap(%q) = accept", s)
		}
	}
	if tap, ok := ParseTap("rejectWithAudio"); ok {
		t.Errorf("ParseTap(rejectWithAudio) = %q, want refused", tap)
	}
}

func TestAcceptsAccumulateAndReservationsKeepBalance(t *testing.T) {
	r := Row{Kind: OneTime}
	for i := 0; i < 3; i++ {
		r = Apply(r, OnTap(OneTime, TapAccept))
	}
	if r.Credits != 3 || r.Granted != 3 {
		t.Fatalf("three accepts gave %+v", r)
	}
	for i := 0; i < 3; i++ {
		if CanReserve(r) != NoRefusal {
			t.Fatalf("reservation %d refused with %d credits", i, r.Credits)
		}
		r = Reserve(r)
		if !r.Balanced() {
			t.Fatalf("unbalanced after reservation: %+v", r)
		}
	}
	if got := CanReserve(r); got != RefusedNoCredit {
		t.Fatalf("CanReserve at zero = %q, want no_credit", got)
	}
}

func TestCanReserve(t *testing.T) {
	cases := []struct {
		row  Row
		want Refusal
	}{
		{Row{Kind: OneTime, Credits: 1, Status: Accept}, NoRefusal},
		{Row{Kind: OneTime, Credits: 1, Status: Reject}, NoRefusal}, // earlier accepts survive a reject tap
		{Row{Kind: OneTime, Credits: 1, Status: Ban}, RefusedBanned},
		{Row{Kind: OneTime, Credits: 0, Status: Accept}, RefusedNoCredit},
		{Row{Kind: LongTerm, Status: Accept}, NoRefusal},
		{Row{Kind: LongTerm, Status: Reject}, RefusedNotSubscribed},
		{Row{Kind: LongTerm, Status: Off}, RefusedNotSubscribed},
		{Row{Kind: LongTerm, Status: Ban}, RefusedBanned},
	}
	for _, c := range cases {
		if got := CanReserve(c.row); got != c.want {
			t.Errorf("CanReserve(%+v) = %q, want %q", c.row, got, c.want)
		}
	}
	lt := Reserve(Row{Kind: LongTerm, Status: Accept})
	if lt.Spent != 0 || lt.Credits != 0 || lt.Inflight != 1 {
		t.Errorf("a long-term reservation spent credits: %+v", lt)
	}
}

func TestZeroingWinsOverEarlierReservations(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := Row{Kind: OneTime, Status: Accept, Credits: 3, Granted: 3}
	before := t0
	r = Reserve(Reserve(r)) // two sends in flight, reserved at t0
	r = Zero(r, t0.Add(time.Second))
	if r.Credits != 0 || r.Revoked != 1 || !r.Balanced() {
		t.Fatalf("after the zeroing: %+v", r)
	}
	r = Apply(r, OnTap(OneTime, TapAccept)) // a new credit after the zeroing
	r = Reserve(r)
	after := t0.Add(2 * time.Second)
	// The sends reserved before the zeroing fail retryably: their credits stay revoked.
	r = Settle(r, Release, before, after)
	r = Settle(r, Release, before, after)
	if r.Credits != 0 || r.Revoked != 3 || r.Spent != 1 || !r.Balanced() {
		t.Fatalf("a release undid the zeroing: %+v", r)
	}
	// The send reserved after it gets its credit back.
	r = Settle(r, Release, after, after)
	if r.Credits != 1 || r.Revoked != 3 || r.Spent != 0 || r.Inflight != 0 || !r.Balanced() {
		t.Fatalf("a send reserved after the zeroing lost its credit: %+v", r)
	}
	if !RevokesRelease(t0, t0) || RevokesRelease(t0.Add(time.Millisecond), t0) || RevokesRelease(t0, time.Time{}) {
		t.Fatal("RevokesRelease: a reservation at or before the zeroing's time is revoked; none without a zeroing")
	}
	lt := Settle(Reserve(Row{Kind: LongTerm, Status: Accept, ZeroedAt: after}), Release, before, after)
	if lt.Credits != 0 || lt.Revoked != 0 || lt.Inflight != 0 {
		t.Fatalf("a long-term release moved credits: %+v", lt)
	}
	// A 43101 is a zeroing too: a send reserved before it and released after it loses its credit.
	sz := Reserve(Reserve(Row{Kind: OneTime, Credits: 3, Granted: 3}))
	sz = Settle(sz, SpendAndZero, before, after)
	if sz.Credits != 0 || sz.Spent != 2 || sz.Revoked != 1 || !sz.ZeroedAt.Equal(after) || !sz.Balanced() {
		t.Fatalf("row after 43101: %+v", sz)
	}
	sz = Settle(sz, Release, before, after.Add(time.Second))
	if sz.Credits != 0 || sz.Spent != 1 || sz.Revoked != 2 || !sz.Balanced() {
		t.Fatalf("release after 43101: %+v", sz)
	}
}

func TestKindOf(t *testing.T) {
	if KindOf(2) != OneTime || KindOf(3) != LongTerm || KindOf(0) != OneTime {
		t.Fatal("KindOf maps 2→one_time, 3→long_term, unknown→one_time")
	}
}
