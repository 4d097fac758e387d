package broadcasts_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/wxsub/wxsub/dev/fakeclock"
	"github.com/wxsub/wxsub/shared/broadcasts"
)

// waits lets n sends start and returns how long they took on the clock.
func waits(t *testing.T, p *broadcasts.Pacer, c *fakeclock.Clock, n int) time.Duration {
	t.Helper()
	start := c.Now()
	for range n {
		if err := p.Wait(context.Background(), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	return c.Now().Sub(start)
}

func TestBroadcastPacerKeepsItsShare(t *testing.T) {
	c := fakeclock.New(time.Date(2026, 5, 18, 2, 0, 0, 0, time.UTC))
	p := broadcasts.NewPacer(10, c)
	// The first send starts at once (the bucket holds one token, no more);
	// each of the next 20 waits a tenth of a second.
	if got := waits(t, p, c, 21); got != 2*time.Second {
		t.Fatalf("21 sends at 10 a second took %s, want 2s", got)
	}
	// An idle pacer saves no burst: after a pause, again one at a time.
	c.Advance(time.Minute)
	if got := waits(t, p, c, 11); got != time.Second {
		t.Fatalf("11 sends after a pause took %s, want 1s", got)
	}
}

func TestBroadcastPacerHalvesOnSlowDownForAWhile(t *testing.T) {
	c := fakeclock.New(time.Date(2026, 5, 18, 2, 0, 0, 0, time.UTC))
	p := broadcasts.NewPacer(10, c)
	waits(t, p, c, 1)

	lim, halved := p.SlowDown()
	if !halved || lim != 5 {
		t.Fatalf("SlowDown = %v, %v; want 5 a second, halved", lim, halved)
	}
	// The other sends that were in flight answer 45011 too: the same signal.
	if lim, halved := p.SlowDown(); halved || lim != 5 {
		t.Fatalf("a second SlowDown at once = %v, %v; want 5, not halved again", lim, halved)
	}
	if got := waits(t, p, c, 10); got != 2*time.Second {
		t.Fatalf("10 sends after a 45011 took %s, want 2s (5 a second)", got)
	}
	// Later answers halve again, down to a sixteenth of the share.
	for range 10 {
		c.Advance(2 * time.Second)
		p.SlowDown()
	}
	if got := p.Limit(); got != 10.0/broadcasts.MaxSlowdown {
		t.Fatalf("pace after many 45011s is %v, want %v", got, 10.0/broadcasts.MaxSlowdown)
	}
	// A minute without another and the pace is back to its share.
	c.Advance(broadcasts.SlowFor - time.Second)
	if got := p.Limit(); got == 10 {
		t.Fatal("the pace recovered before SlowFor passed")
	}
	c.Advance(time.Second)
	if got := p.Limit(); got != 10 {
		t.Fatalf("pace %v a minute after the last 45011, want 10", got)
	}
	waits(t, p, c, 1)
	if got := waits(t, p, c, 10); got != time.Second {
		t.Fatalf("10 sends after the slowdown took %s, want 1s", got)
	}
}

func TestBroadcastPacerHoldRefusesEverySend(t *testing.T) {
	c := fakeclock.New(time.Date(2026, 5, 18, 2, 0, 0, 0, time.UTC))
	p := broadcasts.NewPacer(10, c)
	until := p.Hold(5 * time.Minute)
	if p.Hold(time.Minute) != until {
		t.Fatal("a shorter hold cut a longer one")
	}
	var held *broadcasts.HeldError
	if err := p.Wait(context.Background(), time.Time{}); !errors.As(err, &held) || !held.Until.Equal(until) {
		t.Fatalf("Wait during a hold = %v, want a HeldError until %s", err, until)
	}
	c.MoveTo(until)
	if err := p.Wait(context.Background(), time.Time{}); err != nil {
		t.Fatalf("Wait after the hold: %v", err)
	}
}

func TestBroadcastPacerStopsAtItsDeadline(t *testing.T) {
	c := fakeclock.New(time.Date(2026, 5, 18, 2, 0, 0, 0, time.UTC))
	p := broadcasts.NewPacer(1, c)
	by := c.Now().Add(1500 * time.Millisecond)
	if got := waits(t, p, c, 2); got != time.Second {
		t.Fatalf("2 sends at 1 a second took %s", got)
	}
	// The next token comes at 2 s, after by: no wait, and no token taken.
	before := c.Now()
	if err := p.Wait(context.Background(), by); !errors.Is(err, broadcasts.ErrNoTime) {
		t.Fatalf("Wait past its deadline = %v, want ErrNoTime", err)
	}
	if !c.Now().Equal(before) {
		t.Fatal("Wait slept although the send could not start in time")
	}
	if got := waits(t, p, c, 1); got != time.Second {
		t.Fatalf("the next send waited %s, want 1s (the refused token was given back)", got)
	}
}

func TestBroadcastPacerUnpaced(t *testing.T) {
	c := fakeclock.New(time.Date(2026, 5, 18, 2, 0, 0, 0, time.UTC))
	p := broadcasts.NewPacer(rate.Inf, c)
	p.SlowDown()
	if got := waits(t, p, c, 1000); got != 0 {
		t.Fatalf("an unpaced pacer waited %s", got)
	}
}

func TestBroadcastPaceFromEnv(t *testing.T) {
	env := func(kv map[string]string) func(string) string {
		return func(k string) string { return kv[k] }
	}
	p, err := broadcasts.PaceFromEnv(env(nil))
	if err != nil || p != broadcasts.DefaultPace() || p.Share() != 5 {
		t.Fatalf("defaults: %+v (share %v), %v; want 50 a second over 10 workers, 5 each", p, p.Share(), err)
	}
	p, err = broadcasts.PaceFromEnv(env(map[string]string{"BROADCAST_RATE": "300", "BROADCAST_WORKERS": "4"}))
	if err != nil || p.Share() != 75 {
		t.Fatalf("300 over 4: %+v, %v", p, err)
	}
	for _, bad := range []map[string]string{
		{"BROADCAST_RATE": "0"}, {"BROADCAST_RATE": "1001"}, {"BROADCAST_RATE": "fast"},
		{"BROADCAST_WORKERS": "1"}, {"BROADCAST_WORKERS": "1001"}, {"BROADCAST_WORKERS": "2.5"},
	} {
		if _, err := broadcasts.PaceFromEnv(env(bad)); err == nil {
			t.Errorf("PaceFromEnv accepted %v", bad)
		}
	}
}
