package broadcasts

import (
	"testing"
	"time"
)

func TestDelaySecondsNeverRunsEarly(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		notBefore time.Time
		want      int32
	}{
		{time.Time{}, 0},
		{now.Add(-time.Second), 0},
		{now, 0},
		{now.Add(time.Millisecond), 1}, // rounded up: SQS counts whole seconds
		{now.Add(40 * time.Second), 40},
		{now.Add(40*time.Second + time.Nanosecond), 41},
		{now.Add(time.Hour), 900}, // SQS holds a message 15 minutes at most
	} {
		if got := delaySeconds(c.notBefore, now); got != c.want {
			t.Errorf("delaySeconds(%v) = %d, want %d", c.notBefore.Sub(now), got, c.want)
		}
	}
}
