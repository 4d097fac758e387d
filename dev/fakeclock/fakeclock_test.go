package fakeclock

import (
	"context"
	"testing"
	"time"
)

func TestClockMovesOnlyWhenTold(t *testing.T) {
	start := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	c := New(start)
	if !c.Now().Equal(start) {
		t.Fatal("a new clock does not read its start")
	}
	c.Advance(time.Hour)
	c.Sleep(context.Background(), time.Minute)
	if got := c.Now().Sub(start); got != time.Hour+time.Minute {
		t.Fatalf("moved %s, want 1h1m", got)
	}
	c.MoveTo(start)
	if got := c.Now().Sub(start); got != time.Hour+time.Minute {
		t.Fatalf("MoveTo an earlier time moved the clock back: %s", got)
	}
	c.MoveTo(start.Add(2 * time.Hour))
	if got := c.Now().Sub(start); got != 2*time.Hour {
		t.Fatalf("MoveTo: %s", got)
	}
}
