package broadcasts

import (
	"context"
	"errors"
	"fmt"
	"github.com/wxsub/wxsub/shared/wait"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// The rate of all broadcasts together is template.yaml's BroadcastRate
// (sends a second) and the number of worker invocations that may run at once
// its BroadcastWorkers (the SQS event source's MaximumConcurrency). The
// worker function reads them as BROADCAST_RATE and BROADCAST_WORKERS.
const (
	DefaultRate    = 50
	MinRate        = 1
	MaxRate        = 1000
	DefaultWorkers = 10
	// MinWorkers and MaxWorkers are the bounds AWS puts on an SQS event
	// source's MaximumConcurrency.
	MinWorkers = 2
	MaxWorkers = 1000
)

// Pace is how fast all broadcasts together may call WeChat: Rate sends a
// second, shared by at most Workers worker invocations running at once.
type Pace struct {
	Rate    float64
	Workers int
}

// DefaultPace is the pace template.yaml deploys with by default.
func DefaultPace() Pace { return Pace{Rate: DefaultRate, Workers: DefaultWorkers} }

// PaceFromEnv reads BROADCAST_RATE and BROADCAST_WORKERS from getenv
// (os.Getenv in the worker function), each defaulting to DefaultPace's.
func PaceFromEnv(getenv func(string) string) (Pace, error) {
	p := DefaultPace()
	if v := strings.TrimSpace(getenv("BROADCAST_RATE")); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r < MinRate || r > MaxRate {
			return Pace{}, fmt.Errorf("broadcasts: BROADCAST_RATE must be a number of sends a second from %d to %d, got %q", MinRate, MaxRate, v)
		}
		p.Rate = r
	}
	if v := strings.TrimSpace(getenv("BROADCAST_WORKERS")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < MinWorkers || n > MaxWorkers {
			return Pace{}, fmt.Errorf("broadcasts: BROADCAST_WORKERS must be a whole number from %d to %d, got %q", MinWorkers, MaxWorkers, v)
		}
		p.Workers = n
	}
	return p, nil
}

// Share is the pace of one worker invocation, Rate / Workers sends a second:
// however many of the Workers invocations run at once, together they never
// send faster than Rate.
func (p Pace) Share() rate.Limit { return rate.Limit(p.Rate / float64(p.Workers)) }

// How a Pacer slows down when WeChat asks it to (45011, 43108).
const (
	// SlowFor is how long the pace stays lowered after the last answer that
	// asked to slow down; then it is back to its share.
	SlowFor = time.Minute
	// MaxSlowdown bounds the halvings: the pace never falls below its share
	// divided by MaxSlowdown.
	MaxSlowdown = 16
	// halveEvery groups the answers that ask to slow down: those within this
	// time of a halving (the other sends that were in flight with it) are
	// the same signal and do not halve the pace again.
	halveEvery = time.Second
)

// Clock is the time a Pacer goes by; fakeclock.Clock fits it for tests.
type Clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error { return wait.Sleep(ctx, d) }

// ErrNoTime is Wait's answer when the next send could not start before the
// time it was given.
var ErrNoTime = errors.New("broadcasts: no time left to start another send")

// HeldError is Wait's answer while a pacer holds every send (WeChat's daily
// quota is used up, or there is no access_token).
type HeldError struct {
	Until time.Time
}

func (e *HeldError) Error() string {
	return "broadcasts: sends are held until " + e.Until.UTC().Format(time.RFC3339)
}

// A Pacer paces the sends of one worker invocation with a token bucket of
// one token (golang.org/x/time/rate): at most its share of sends a second,
// never in bursts. It is safe for concurrent use.
type Pacer struct {
	clock Clock
	share rate.Limit

	mu        sync.Mutex
	limiter   *rate.Limiter
	slowUntil time.Time // the pace is lowered until then
	halvedAt  time.Time
	heldUntil time.Time
}

// NewPacer returns a pacer of share sends a second (rate.Inf for none) on
// clock (nil for real time).
func NewPacer(share rate.Limit, clock Clock) *Pacer {
	if clock == nil {
		clock = realClock{}
	}
	return &Pacer{clock: clock, share: share, limiter: rate.NewLimiter(share, 1)}
}

// Limit is the pacer's pace now, in sends a second.
func (p *Pacer) Limit() rate.Limit {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recover(p.clock.Now())
	return p.limiter.Limit()
}

// Wait blocks until the pace lets one more send start. It returns
// *HeldError while the pacer is held, ErrNoTime (taking nothing) when that
// moment is after by (unless by is zero), or ctx's error.
func (p *Pacer) Wait(ctx context.Context, by time.Time) error {
	delay, r, err := p.reserve(by)
	if err != nil || delay <= 0 {
		return err
	}
	if err := p.clock.Sleep(ctx, delay); err != nil {
		r.CancelAt(p.clock.Now()) // the send will not start: give the token back
		return err
	}
	return nil
}

func (p *Pacer) reserve(by time.Time) (time.Duration, *rate.Reservation, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	if now.Before(p.heldUntil) {
		return 0, nil, &HeldError{Until: p.heldUntil}
	}
	p.recover(now)
	r := p.limiter.ReserveN(now, 1)
	delay := r.DelayFrom(now)
	if !by.IsZero() && now.Add(delay).After(by) {
		r.CancelAt(now)
		return 0, nil, ErrNoTime
	}
	return delay, r, nil
}

// recover puts the pace back to its share once the slowdown is over.
func (p *Pacer) recover(now time.Time) {
	if !p.slowUntil.IsZero() && !now.Before(p.slowUntil) {
		p.limiter.SetLimitAt(now, p.share)
		p.slowUntil = time.Time{}
	}
}

// SlowDown halves the pace (down to share / MaxSlowdown) for SlowFor, after
// WeChat asked to slow down. Answers within a second of a halving only
// extend it. It returns the pace now and whether it was halved.
func (p *Pacer) SlowDown() (rate.Limit, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	p.recover(now)
	p.slowUntil = now.Add(SlowFor)
	if !p.halvedAt.IsZero() && now.Sub(p.halvedAt) < halveEvery {
		return p.limiter.Limit(), false
	}
	lim := max(p.limiter.Limit()/2, p.share/MaxSlowdown)
	p.limiter.SetLimitAt(now, lim)
	p.halvedAt = now
	return lim, true
}

// Hold stops every send for d (a longer hold already in place stays) and
// returns when the hold ends.
func (p *Pacer) Hold(d time.Duration) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if until := p.clock.Now().Add(d); until.After(p.heldUntil) {
		p.heldUntil = until
	}
	return p.heldUntil
}

// Pacers lends each worker invocation of a process a Pacer of its own, kept
// from one invocation to the next (so that a slowdown outlives the job that
// met it). A Lambda container runs one invocation at a time and needs one
// pacer; the local queue runs one invocation per worker.
type Pacers struct {
	free chan *Pacer
}

// NewPacers returns n pacers of share sends a second each.
func NewPacers(n int, share rate.Limit) *Pacers {
	ps := &Pacers{free: make(chan *Pacer, n)}
	for range n {
		ps.free <- NewPacer(share, nil)
	}
	return ps
}

// take lends a pacer, waiting for one to be free; nil pacers lend an
// unpaced one.
func (ps *Pacers) take(ctx context.Context) (*Pacer, func(), error) {
	if ps == nil {
		return NewPacer(rate.Inf, nil), func() {}, nil
	}
	select {
	case p := <-ps.free:
		return p, func() { ps.free <- p }, nil
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("broadcasts: waiting for a pacer: %w", ctx.Err())
	}
}

// untilQuotaReset is how long after now WeChat's daily quotas reset:
// midnight China time (UTC+8, no daylight saving).
func untilQuotaReset(now time.Time) time.Duration {
	china := time.FixedZone("CST", 8*3600)
	c := now.In(china)
	return time.Date(c.Year(), c.Month(), c.Day()+1, 0, 0, 0, 0, china).Sub(now)
}
