// Package reminders hands reminders and scheduled broadcasts to the send
// queue when their time comes. It is the dispatcher function, run every
// minute by EventBridge Scheduler.
//
// A reminder (POST /v1/messages with send_at) holds its credit and leaves an
// entry in its due minute in the table (store.DueBetween); a scheduled
// broadcast does the same. Each run reads the entries due since the last
// run's cursor up to store.DispatchAhead from now, queues them in due order
// as remind jobs (at most PerJob reminders due in the same second each,
// held in the queue until that second: SQS's message delay) or a
// broadcast's first page job, and only then moves the cursor. So reminders
// start on time although the schedule runs once a minute, and the broadcast
// worker sends them at the pace all broadcasts share.
//
// The design stays exact when a run repeats, overlaps another, or comes
// late: a late run reads everything due since the cursor (at most
// MaxCatchUp a run, the next run goes on); a repeated or overlapping run
// queues the same reminders again, and a reminder's send starts only by
// moving it out of scheduled in a conditional write
// (store.StartScheduled), so a second delivery finds it started and sends
// nothing; a broadcast is started once (store.StartBroadcast). The cursor
// moves only after the jobs are queued, so a run that fails midway loses
// nothing: the next one queues the same entries again.
package reminders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/wxsub/wxsub/shared/broadcasts"
	"github.com/wxsub/wxsub/shared/store"
)

const (
	// FirstLookback is how far back the first run of a stack looks.
	FirstLookback = time.Hour
	// MaxCatchUp bounds the time one run reads: after an outage, each run
	// catches up this much.
	MaxCatchUp = time.Hour
	// PerJob is how many reminders one remind job carries.
	PerJob = broadcasts.UsersPerJob
)

// Handler is the dispatcher function.
type Handler struct {
	AppID  string
	Store  *store.Store
	Queue  broadcasts.Queue
	Logger *slog.Logger
	// Clock is the time reminders fall due by; nil means time.Now (the
	// local stack sets the simulator's).
	Clock func() time.Time
}

// Result is what one run did.
type Result struct {
	// Reminders and Broadcasts count what the run queued.
	Reminders  int `json:"reminders"`
	Broadcasts int `json:"broadcasts"`
	// Through is the time up to which everything due was queued.
	Through time.Time `json:"through"`
}

// Invoke is the Lambda entry point (the schedule's input is ignored).
func (h *Handler) Invoke(ctx context.Context, _ json.RawMessage) (Result, error) { return h.Run(ctx) }

// Run queues everything that fell due since the last run.
func (h *Handler) Run(ctx context.Context) (Result, error) {
	now := time.Now()
	if h.Clock != nil {
		now = h.Clock()
	}
	from, ok, err := h.Store.DispatchedThrough(ctx, h.AppID)
	if err != nil {
		return Result{}, fmt.Errorf("reminders: %w", err)
	}
	start := from
	if !ok {
		start = now.Add(-FirstLookback)
	}
	upto := now.Add(store.DispatchAhead)
	if upto.Sub(start) > MaxCatchUp {
		upto = start.Add(MaxCatchUp)
	}
	res := Result{Through: start}
	if !upto.After(start) {
		return res, nil
	}
	due, err := h.Store.DueBetween(ctx, h.AppID, start, upto)
	if err != nil {
		return res, fmt.Errorf("reminders: %w", err)
	}
	// Jobs are queued in batches (SQS takes 10 a request), each job held
	// until the last of its reminders is due.
	var jobs []broadcasts.Job
	var batch []string
	var second int64
	var notBefore time.Time
	cut := func() {
		if len(batch) > 0 {
			jobs = append(jobs, broadcasts.Job{Type: "remind", MessageIDs: batch, NotBefore: notBefore})
			res.Reminders += len(batch)
		}
		batch = nil
	}
	flush := func() error {
		cut()
		if len(jobs) == 0 {
			return nil
		}
		if err := h.Queue.Enqueue(ctx, jobs...); err != nil {
			return fmt.Errorf("reminders: queue %d jobs: %w", len(jobs), err)
		}
		jobs = nil
		return nil
	}
	for _, d := range due {
		switch d.Type {
		case store.DueMessage:
			if len(batch) == PerJob || (len(batch) > 0 && d.SendAt.Unix() != second) {
				cut()
			}
			second, notBefore = d.SendAt.Unix(), d.SendAt
			batch = append(batch, d.ID)
			if len(jobs) >= 100 {
				if err := flush(); err != nil {
					return res, err
				}
			}
		case store.DueBroadcast:
			if err := flush(); err != nil { // in due order
				return res, err
			}
			started, err := h.startBroadcast(ctx, d.ID, d.SendAt)
			if err != nil {
				return res, err
			}
			if started {
				res.Broadcasts++
			}
		}
	}
	if err := flush(); err != nil {
		return res, err
	}
	switch err := h.Store.AdvanceDispatch(ctx, h.AppID, from, upto); {
	case errors.Is(err, store.ErrCursorMoved):
		// Another run read the same minutes: what both queued goes out once.
		h.Logger.InfoContext(ctx, "another dispatcher run moved the cursor first", "appid", h.AppID)
	case err != nil:
		return res, fmt.Errorf("reminders: %w", err)
	default:
		res.Through = upto
	}
	if res.Reminders > 0 || res.Broadcasts > 0 {
		h.Logger.InfoContext(ctx, "due reminders queued", "appid", h.AppID, "reminders", res.Reminders,
			"broadcasts", res.Broadcasts, "through", upto.UTC().Format(time.RFC3339))
	}
	return res, nil
}

// startBroadcast queues a scheduled broadcast's first page, held until at, once.
func (h *Handler) startBroadcast(ctx context.Context, id string, at time.Time) (bool, error) {
	changed, err := h.Store.StartBroadcast(ctx, id, true)
	if err != nil || !changed {
		return false, err
	}
	if err := h.Queue.Enqueue(ctx, broadcasts.Job{Type: "page", BroadcastID: id, NotBefore: at}); err != nil {
		// Not queued: take the mark back so that the next run starts it.
		if _, uerr := h.Store.StartBroadcast(ctx, id, false); uerr != nil {
			h.Logger.ErrorContext(ctx, "scheduled broadcast neither queued nor unmarked", "broadcast_id", id, "err", uerr)
		}
		return false, fmt.Errorf("reminders: queue broadcast %s: %w", id, err)
	}
	h.Logger.InfoContext(ctx, "scheduled broadcast queued", "appid", h.AppID, "broadcast_id", id)
	return true, nil
}
