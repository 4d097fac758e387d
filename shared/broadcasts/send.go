package broadcasts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wxsub/wxsub/shared/errcode"
	"github.com/wxsub/wxsub/shared/messages"
	"github.com/wxsub/wxsub/shared/store"
	"github.com/wxsub/wxsub/shared/wechat"
)

// How a send job runs.
const (
	// MaxInFlight bounds the sends of one job in flight at once. The pace
	// decides how many are: about the pace times WeChat's latency (5 a
	// second at 100 ms: one at a time).
	MaxInFlight = UsersPerJob
	// DrainTime is how long before its invocation's deadline a job stops
	// starting sends, so that those in flight end before it: the longest a
	// send takes (WeChat's 10 s timeout twice when the token is replaced,
	// 43108's retries, the store). The users it did not reach go back on the
	// queue as a new job.
	DrainTime = 25 * time.Second
	// DefaultQuotaProbe is how long a worker holds its sends after WeChat's
	// daily quota ran out (45009) before it tries one again, at most until
	// the quota resets at midnight China time.
	DefaultQuotaProbe = 5 * time.Minute
	// DefaultTokenProbe is how long a worker holds its sends when it has no
	// access_token (503 token_unavailable).
	DefaultTokenProbe = 30 * time.Second
)

// IdempotencyKey is the Idempotency-Key of a broadcast's send to one user.
func IdempotencyKey(broadcastID, openid string) string {
	return "broadcast:" + broadcastID + ":" + openid
}

// MessageID is the id of a broadcast's message to one user: the id
// messages.Handler.Send records under the send's Idempotency-Key.
func MessageID(appid, broadcastID, openid string) string {
	return messages.KeyedID(appid, IdempotencyKey(broadcastID, openid))
}

// send serves a send job: it starts one send per user as the worker's pace
// allows, several in flight to hide WeChat's latency, each through
// messages.Handler.Send with the user's Idempotency-Key. Each user's outcome
// is counted by the settlement of its message (see store.Settle), exactly
// once however often the job runs. The job fails, to be delivered again,
// when the store could not be reached, when WeChat's daily quota is used up
// (45009) or when there is no access_token; it queues the users it had no
// time for as a new job.
func (h *Handler) send(ctx context.Context, b store.Broadcast, openids []string) error {
	var data map[string]wechat.Value
	if err := json.Unmarshal([]byte(b.Data), &data); err != nil {
		return fmt.Errorf("broadcast %s has unreadable data: %w", b.ID, err)
	}
	pacer, release, err := h.Pacers.take(ctx)
	if err != nil {
		return err
	}
	defer release()
	j := &sendJob{h: h, b: b, data: data, pacer: pacer}
	rest, stopped := j.run(ctx, openids)
	return j.finish(ctx, openids, rest, stopped)
}

// remind serves a remind job: the due reminders go out through
// messages.Handler.SendScheduled at the same pace as broadcasts (one rate
// for both), in the job's order. A reminder another delivery of the job
// started or ended is skipped there, so none goes out twice.
func (h *Handler) remind(ctx context.Context, ids []string) error {
	pacer, release, err := h.Pacers.take(ctx)
	if err != nil {
		return err
	}
	defer release()
	j := &sendJob{h: h, pacer: pacer, remind: true}
	rest, stopped := j.run(ctx, ids)
	return j.finish(ctx, ids, rest, stopped)
}

// sendJob is one run of a send job.
type sendJob struct {
	h     *Handler
	b     store.Broadcast
	data  map[string]wechat.Value
	pacer *Pacer
	// remind: the job's items are reminders' message ids, not a broadcast's users.
	remind bool

	mu    sync.Mutex
	retry []string // users the store could not serve: nothing sent, nothing counted
	halt  error    // why no further send may start (WeChat's quota, no token)
	err   error    // a failure to count an outcome
}

// finish decides what becomes of a send job once its sends are over: rest
// are the users it did not start, for the reason stopped.
func (j *sendJob) finish(ctx context.Context, openids, rest []string, stopped error) error {
	h, id := j.h, j.b.ID
	switch {
	case j.err != nil:
		return j.err
	case j.halt != nil:
		return fmt.Errorf("broadcast %s: %w; %d of %d users not served yet", id, j.halt, len(rest), len(openids))
	case len(j.retry) > 0:
		return fmt.Errorf("broadcast %s: the store was unavailable for %d of %d users", id, len(j.retry), len(openids))
	case errors.Is(stopped, ErrNoTime):
		h.Logger.InfoContext(ctx, "broadcast job out of time; the rest queued as a new job", "broadcast_id", id, "users", len(rest))
		next := Job{Type: "send", BroadcastID: id, OpenIDs: rest}
		if j.remind {
			next = Job{Type: "remind", MessageIDs: rest}
		}
		if err := h.Queue.Enqueue(ctx, next); err != nil {
			return fmt.Errorf("broadcast %s: queue the %d users left: %w", id, len(rest), err)
		}
		return nil
	case stopped != nil:
		return fmt.Errorf("broadcast %s: %d of %d users not served yet: %w", id, len(rest), len(openids), stopped)
	}
	return nil
}

// run starts a send per user when a slot is free and the pace allows, and
// waits for those it started. It returns the users it did not start, and why.
func (j *sendJob) run(ctx context.Context, openids []string) (rest []string, stopped error) {
	by := startBy(ctx)
	slots := make(chan struct{}, MaxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i, openid := range openids {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return openids[i:], ctx.Err()
		}
		if err := j.pacer.Wait(ctx, by); err != nil {
			return openids[i:], err
		}
		if j.halted() { // while this waited, a send in flight stopped the job
			return openids[i:], nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			j.one(ctx, openid)
		}()
	}
	return nil, nil
}

// startBy is when a job of an invocation ending at ctx's deadline must
// start its last send; zero when there is no deadline.
func startBy(ctx context.Context) time.Time {
	deadline, ok := ctx.Deadline()
	if !ok {
		return time.Time{}
	}
	return deadline.Add(-DrainTime)
}

func (j *sendJob) halted() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.halt != nil || j.err != nil
}

// one sends to one user (or one reminder) and acts on the answer.
func (j *sendJob) one(ctx context.Context, openid string) {
	var res messages.Result
	var err error
	if j.remind {
		res, err = j.h.Messages.SendScheduled(ctx, openid)
	} else {
		res, err = j.h.Messages.Send(ctx, messages.Request{
			Message: wechat.Message{ToUser: openid, TemplateID: j.b.TemplateID, Page: j.b.Page, Data: j.data,
				MiniprogramState: j.b.MiniprogramState, Lang: j.b.Lang, Miniprogram: miniprogramLink(j.b)},
			IdempotencyKey: IdempotencyKey(j.b.ID, openid),
			BroadcastID:    j.b.ID,
		})
	}
	a := judge(res, err)
	switch a.verdict {
	case served:
	case retry:
		j.mu.Lock()
		j.retry = append(j.retry, openid)
		j.mu.Unlock()
	case uncounted:
		// The catalogue changed since the broadcast was accepted: no
		// settlement counts this user, so count the failure here.
		if err := j.h.Store.AddBroadcastCounts(ctx, j.b.ID, store.BroadcastCounts{Failed: 1}); err != nil {
			j.fail(fmt.Errorf("broadcast %s: count a refused user: %w", j.b.ID, err))
		}
	case slowDown:
		if lim, halved := j.pacer.SlowDown(); halved {
			j.h.Logger.WarnContext(ctx, "WeChat asked to slow down; broadcast pace halved", "broadcast_id", j.b.ID,
				"errcode", a.errcode, "sends_per_second", float64(lim), "for", SlowFor.String())
		}
	case quotaUsedUp:
		d := min(orDefault(j.h.QuotaProbe, DefaultQuotaProbe), untilQuotaReset(time.Now()))
		j.stop(ctx, d, errors.New("WeChat's daily quota for subscribe/send is used up (45009)"))
	case noToken:
		j.stop(ctx, orDefault(j.h.TokenProbe, DefaultTokenProbe), errors.New("there is no access_token (503 token_unavailable)"))
	case failed:
		j.fail(fmt.Errorf("broadcast %s: send: %w", j.b.ID, err))
	}
}

// stop holds the worker's sends for d and ends the job, which fails so
// that the queue delivers it again.
func (j *sendJob) stop(ctx context.Context, d time.Duration, why error) {
	until := j.pacer.Hold(d)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.halt == nil {
		j.halt = why
		j.h.Logger.WarnContext(ctx, "broadcast sends held", "broadcast_id", j.b.ID, "reason", why.Error(),
			"until", until.UTC().Format(time.RFC3339))
	}
}

func (j *sendJob) fail(err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err == nil {
		j.err = err
	}
}

// orDefault is d, or def when d is not set.
func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// verdict is what a send job does after one user's send.
type verdict int

const (
	served      verdict = iota // an outcome, counted by its settlement (or a send of another delivery in progress)
	retry                      // the store was unavailable: nothing sent or counted; run the job again
	uncounted                  // refused before any settlement: count it failed here
	slowDown                   // WeChat's 45011 or 43108: counted failed by its settlement; slow down
	quotaUsedUp                // WeChat's 45009: counted failed by its settlement; stop until the quota is back
	noToken                    // no access_token: counted failed by its settlement; stop for a while
	failed                     // not an answer at all: run the job again
)

// answer is a judged send answer.
type answer struct {
	verdict verdict
	errcode int // WeChat's, when it answered one
}

// judge reads what messages.Handler.Send (or SendScheduled) returned.
// Refusals come as errors; WeChat's answers as results. A replayed result
// is an outcome an earlier delivery of the job met and counted: it asks
// nothing now.
func judge(res messages.Result, err error) answer {
	var refused *messages.RefusedError
	switch {
	case errors.Is(err, messages.ErrStoreUnavailable):
		return answer{verdict: retry}
	case errors.As(err, &refused) && (refused.Reason == messages.InvalidData || refused.Reason == messages.UnknownTemplate):
		return answer{verdict: uncounted}
	case errors.As(err, &refused):
		// A refusal (counted by the answer it remembers) or a send of this
		// user in progress in another delivery of the job (counted by that one).
		return answer{verdict: served}
	case err != nil:
		return answer{verdict: failed}
	case res.Replayed:
		return answer{verdict: served}
	case res.Meaning == errcode.NoToken:
		return answer{verdict: noToken}
	}
	a := answer{verdict: served, errcode: wechat.CodeOf(res.WeChat)}
	if res.Meaning.Class == errcode.ClassRate {
		switch a.errcode {
		case 45011, 43108: // a per-minute limit, or another send to the user in flight
			a.verdict = slowDown
		case 45009: // the daily quota
			a.verdict = quotaUsedUp
		}
	}
	return a
}

// miniprogramLink is the broadcast's bizsend link to a mini-program page, or nil.
func miniprogramLink(b store.Broadcast) *wechat.MiniprogramLink {
	if b.MiniprogramAppID == "" {
		return nil
	}
	return &wechat.MiniprogramLink{AppID: b.MiniprogramAppID, PagePath: b.MiniprogramPage}
}
