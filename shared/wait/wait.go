// Package wait pauses a request for a while, unless its context ends first:
// the backoff between retries, the wait for another caller's work.
package wait

import (
	"context"
	"time"
)

// Sleep waits d, or until ctx ends, whose error it then returns.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
