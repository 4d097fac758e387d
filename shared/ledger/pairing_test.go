package ledger

import (
	"testing"
	"time"
)

func TestOneTapReportedBothWaysCountsOnce(t *testing.T) {
	t0 := time.Date(2024, 5, 18, 6, 0, 0, 0, time.UTC)
	for _, first := range []Source{FromClient, FromPush} {
		r := Row{Kind: OneTime}
		r, paired := AcceptFrom(r, first, t0)
		if paired || r.Credits != 1 || r.Granted != 1 || r.UnpairedFrom(first).Count != 1 {
			t.Fatalf("%s first: paired=%v row %+v", first, paired, r)
		}
		r, paired = AcceptFrom(r, first.Other(), t0.Add(PairWindow))
		if !paired || r.Credits != 1 || r.Granted != 1 || r.UnpairedFrom(first).Count != 0 || r.UnpairedFrom(first.Other()).Count != 0 {
			t.Fatalf("%s then %s: paired=%v row %+v", first, first.Other(), paired, r)
		}
		if !r.Balanced() {
			t.Fatalf("unbalanced: %+v", r)
		}
	}
}

func TestReportsOutsideTheWindowAreTwoTaps(t *testing.T) {
	t0 := time.Date(2024, 5, 18, 6, 0, 0, 0, time.UTC)
	r, _ := AcceptFrom(Row{Kind: OneTime}, FromClient, t0)
	r, paired := AcceptFrom(r, FromPush, t0.Add(PairWindow+time.Second))
	if paired || r.Credits != 2 {
		t.Fatalf("a push 10 min 1 s after the report paired: %v %+v", paired, r)
	}
}

func TestSameSourceNeverPairsWithItself(t *testing.T) {
	t0 := time.Date(2024, 5, 18, 6, 0, 0, 0, time.UTC)
	r := Row{Kind: OneTime}
	for i := 0; i < 3; i++ {
		var paired bool
		if r, paired = AcceptFrom(r, FromPush, t0.Add(time.Duration(i)*time.Second)); paired {
			t.Fatalf("push %d paired with an earlier push", i)
		}
	}
	if r.Credits != 3 || r.PushPending.Count != 3 {
		t.Fatalf("three pushed taps: %+v", r)
	}
	// Three client reports of the same three taps pair one by one.
	for i := 0; i < 3; i++ {
		var paired bool
		if r, paired = AcceptFrom(r, FromClient, t0.Add(time.Minute)); !paired {
			t.Fatalf("report %d did not pair", i)
		}
	}
	if r.Credits != 3 || r.PushPending.Count != 0 {
		t.Fatalf("after the reports: %+v", r)
	}
	if _, paired := AcceptFrom(r, FromClient, t0.Add(time.Minute)); paired {
		t.Fatal("a fourth report paired with nothing")
	}
}

func TestPairingKeepsWhatHappenedInBetween(t *testing.T) {
	t0 := time.Date(2024, 5, 18, 6, 0, 0, 0, time.UTC)
	r, _ := AcceptFrom(Row{Kind: OneTime}, FromClient, t0)
	r = Apply(r, OnTap(OneTime, TapSwitchReject)) // the user switched the template off
	r, paired := AcceptFrom(r, FromPush, t0.Add(time.Minute))
	if !paired || r.Status != Reject || r.Credits != 0 || !r.Balanced() {
		t.Fatalf("a late popup event undid the switch-off: %v %+v", paired, r)
	}
}

func TestOnSentEvent(t *testing.T) {
	cases := []struct {
		code   int
		status string
		want   Delivery
	}{
		{0, "success", Delivery{Status: Delivered}},
		{43101, "", Delivery{Status: Failed, ZeroBalance: true}},
		{1, "failed:user block", Delivery{Status: Failed, ZeroBalance: true}},
		{1, "user refuse to accept the msg", Delivery{Status: Failed, ZeroBalance: true}},
		{1, "failed:system failed", Delivery{Status: Failed}},
	}
	for _, c := range cases {
		if got := OnSentEvent(c.code, c.status); got != c.want {
			t.Errorf("OnSentEvent(%d, %q) = %+v, want %+v", c.code, c.status, got, c.want)
		}
	}
	for s, want := range map[MessageStatus]bool{Sent: true, Unknown: true, Pending: false, Delivered: false, Failed: false} {
		if SettlesOnDelivery(s) != want {
			t.Errorf("SettlesOnDelivery(%s) = %v", s, !want)
		}
	}
}
