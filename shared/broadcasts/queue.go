package broadcasts

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQSQueue queues jobs on an Amazon SQS queue.
type SQSQueue struct {
	Client *sqs.Client
	URL    string
}

// Enqueue sends the jobs in batches of 10 (SQS's limit).
func (q *SQSQueue) Enqueue(ctx context.Context, jobs ...Job) error {
	for len(jobs) > 0 {
		n := min(10, len(jobs))
		entries := make([]sqstypes.SendMessageBatchRequestEntry, n)
		for i, j := range jobs[:n] {
			body, err := json.Marshal(j)
			if err != nil {
				return fmt.Errorf("broadcasts: encode job: %w", err)
			}
			entries[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(body)),
				DelaySeconds: delaySeconds(j.NotBefore, time.Now())}
		}
		out, err := q.Client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.URL), Entries: entries})
		if err != nil {
			return fmt.Errorf("broadcasts: send jobs to SQS: %w", err)
		}
		if len(out.Failed) > 0 {
			return fmt.Errorf("broadcasts: SQS refused %d of %d jobs: %s", len(out.Failed), n, aws.ToString(out.Failed[0].Message))
		}
		jobs = jobs[n:]
	}
	return nil
}

// MaxDelay is the longest SQS holds a message back (DelaySeconds, "0 to 900",
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html).
const MaxDelay = 15 * time.Minute

// delaySeconds is the whole seconds from now until notBefore, rounded up so
// that a job never runs early, within SQS's bounds.
func delaySeconds(notBefore, now time.Time) int32 {
	d := notBefore.Sub(now)
	if notBefore.IsZero() || d <= 0 {
		return 0
	}
	return int32(min((d+time.Second-1)/time.Second, MaxDelay/time.Second))
}

// HandleSQS is the Lambda entry point of the worker: it runs each job and
// reports the ones that failed so that only they are delivered again.
func (h *Handler) HandleSQS(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	// An empty list, not null: every record of the batch is done.
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, rec := range ev.Records {
		var j Job
		if err := json.Unmarshal([]byte(rec.Body), &j); err != nil {
			h.Logger.ErrorContext(ctx, "unreadable broadcast job dropped", "message_id", rec.MessageId, "err", err)
			continue
		}
		if err := h.Work(ctx, j); err != nil {
			h.Logger.WarnContext(ctx, "broadcast job failed; it will be retried", "broadcast_id", j.BroadcastID, "err", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		}
	}
	return resp, nil
}

// LocalQueue runs jobs in-process with a fixed number of workers, retrying a
// failed job a few times as SQS would redeliver it. The local stack uses it.
type LocalQueue struct {
	// Clock is the time a job's NotBefore is measured by; nil means
	// time.Now (the local stack sets the simulator's).
	Clock   func() time.Time
	ctx     context.Context
	work    func(context.Context, Job) error
	jobs    chan Job
	pending sync.WaitGroup
	retries int
	delay   time.Duration
}

// NewLocalQueue starts workers goroutines that run work until ctx ends.
func NewLocalQueue(ctx context.Context, workers int, work func(context.Context, Job) error) *LocalQueue {
	q := &LocalQueue{ctx: ctx, work: work, jobs: make(chan Job, 1024), retries: 3, delay: 200 * time.Millisecond}
	for i := 0; i < workers; i++ {
		go q.run(ctx)
	}
	return q
}

// Enqueue adds jobs without blocking the caller. Jobs live as long as the
// queue, not as long as the request that queued them.
func (q *LocalQueue) Enqueue(_ context.Context, jobs ...Job) error {
	for _, j := range jobs {
		q.pending.Add(1)
		go func(j Job) {
			// Held back, as SQS holds a delayed message; looked at again
			// often, since the clock may be moved on (tests do).
			for d := q.until(j.NotBefore); d > 0; d = q.until(j.NotBefore) {
				select {
				case <-time.After(min(d, 100*time.Millisecond)):
				case <-q.ctx.Done():
					q.pending.Done()
					return
				}
			}
			select {
			case q.jobs <- j:
			case <-q.ctx.Done():
				q.pending.Done()
			}
		}(j)
	}
	return nil
}

// until is how long a job still waits for notBefore.
func (q *LocalQueue) until(notBefore time.Time) time.Duration {
	if notBefore.IsZero() {
		return 0
	}
	now := time.Now
	if q.Clock != nil {
		now = q.Clock
	}
	return notBefore.Sub(now())
}

func (q *LocalQueue) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-q.jobs:
			for attempt := 0; ; attempt++ {
				if err := q.work(ctx, j); err == nil || attempt >= q.retries || ctx.Err() != nil {
					break
				}
				time.Sleep(q.delay)
			}
			q.pending.Done()
		}
	}
}

// Wait blocks until every job queued so far, and the jobs they queued, ran.
func (q *LocalQueue) Wait() { q.pending.Wait() }
