package ledger

import (
	"errors"
	"fmt"
	"testing"

	"github.com/wxsub/wxsub/shared/wechat"
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

func TestDecideCoversEveryRowOfTheOutcomeTable(t *testing.T) {
	we := func(code int) error { return &wechat.Error{Op: "subscribe/send", Code: code, Msg: "x"} }
	cases := []struct {
		name string
		err  error
		want Outcome
	}{
		{"0", nil, Outcome{Status: Sent, Credit: Spend}},
		{"43101", we(43101), Outcome{Status: Failed, Credit: SpendAndZero}},
		{"40001", we(40001), Outcome{Status: Failed, Credit: Release, Retry: RetryFreshToken, Retryable: true}},
		{"40014", we(40014), Outcome{Status: Failed, Credit: Release, Retry: RetryFreshToken, Retryable: true}},
		{"42001", we(42001), Outcome{Status: Failed, Credit: Release, Retry: RetryFreshToken, Retryable: true}},
		{"43108", we(43108), Outcome{Status: Failed, Credit: Release, Retry: RetryBackoff, Retryable: true}},
		{"45009", we(45009), Outcome{Status: Failed, Credit: Release, Retryable: true}},
		{"45011", we(45011), Outcome{Status: Failed, Credit: Release, Retryable: true}},
		{"-1", we(-1), Outcome{Status: Failed, Credit: Release, Retryable: true}},
		{"http 500", &wechat.Error{HTTPStatus: 500}, Outcome{Status: Failed, Credit: Release, Retryable: true}},
		{"timeout", &wechat.Error{Err: fmt.Errorf("%w: deadline", wechat.ErrOutcomeUnknown)}, Outcome{Status: Unknown, Credit: Spend}},
		{"refused", &wechat.Error{Err: errors.New("connection refused")}, Outcome{Status: Failed, Credit: Release, Retryable: true}},
	}
	for _, code := range []int{40003, 40037, 41030, 47001, 47003, 45168, 43107} {
		cases = append(cases, struct {
			name string
			err  error
			want Outcome
		}{fmt.Sprint(code), we(code), Outcome{Status: Failed, Credit: Release}})
	}
	for _, c := range cases {
		if got := Decide(c.err); got != c.want {
			t.Errorf("Decide(%s) = %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestKindOf(t *testing.T) {
	if KindOf(2) != OneTime || KindOf(3) != LongTerm || KindOf(0) != OneTime {
		t.Fatal("KindOf maps 2→one_time, 3→long_term, unknown→one_time")
	}
}
