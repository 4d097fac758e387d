// Package fakeclock is a manual clock for simulations and tests: time moves
// only when told to, and Sleep moves it instead of waiting, so that hours of
// token lifetimes pass in microseconds. It is safe for concurrent use.
package fakeclock

import (
	"context"
	"sync"
	"time"
)

// Clock is a manual clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock that reads t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// MoveTo moves the clock forward to t; an earlier t leaves it where it is.
func (c *Clock) MoveTo(t time.Time) {
	c.mu.Lock()
	if t.After(c.t) {
		c.t = t
	}
	c.mu.Unlock()
}

// Sleep advances the clock by d at once; it has the shape of the Sleep hooks
// that wxsub's packages take.
func (c *Clock) Sleep(_ context.Context, d time.Duration) error {
	c.Advance(d)
	return nil
}
