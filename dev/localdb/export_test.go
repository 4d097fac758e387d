package localdb

import (
	"sync"
	"time"
)

// HeldItems counts the items that transactions hold.
func (s *Server) HeldItems() int { return s.adm.heldItems() }

// FakeClock is a clock that moves only when told to.
type FakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewFakeClock returns a clock stopped at an arbitrary time.
func NewFakeClock() *FakeClock { return &FakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// UseClock makes the server's write budgets and index lag follow c.
// Transaction latency still follows the real clock.
func (s *Server) UseClock(c *FakeClock) {
	now := c.Now
	s.clock.Store(&now)
}
