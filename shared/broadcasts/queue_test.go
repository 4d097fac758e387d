package broadcasts_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxsub/wxsub/dev/localdb"
	"github.com/wxsub/wxsub/shared/broadcasts"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/store"
)

// refusingQueue is a queue that SQS refuses to take jobs for.
type refusingQueue struct{}

func (refusingQueue) Enqueue(context.Context, ...broadcasts.Job) error {
	return errors.New("SQS is unavailable")
}

// record is an SQS message carrying a job, or a raw body.
func record(id string, job any) events.SQSMessage {
	body, ok := job.(string)
	if !ok {
		b, _ := json.Marshal(job)
		body = string(b)
	}
	return events.SQSMessage{MessageId: id, Body: body, EventSource: "aws:sqs"}
}

func TestHandleSQSReportsOnlyTheJobsToRetry(t *testing.T) {
	tb := localdb.NewTestTable(t)
	st := store.New(tb.Client, tb.Name)
	const appid = "wx0123456789abcdef"
	// A recorded broadcast whose page job cannot queue its send jobs.
	b := store.Broadcast{ID: "baaaaaaaaaaaaaaaaaaaaaaaaa", AppID: appid, TemplateID: "tmpl", Data: `{}`, CreatedAt: time.Now()}
	if err := st.PutBroadcast(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	k := store.RowKey{AppID: appid, OpenID: "oUser000001", TemplateID: b.TemplateID}
	if _, err := st.ApplyTap(t.Context(), k, ledger.OneTime, ledger.OnTap(ledger.OneTime, ledger.TapAccept)); err != nil {
		t.Fatal(err)
	}
	// The page job finds users through gsi1, which DynamoDB updates
	// asynchronously: wait until the new row is there.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		rows, _, err := st.TemplateRows(t.Context(), appid, b.TemplateID, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new ledger row never reached gsi1")
		}
	}
	h := &broadcasts.Handler{AppID: appid, Store: st, Queue: refusingQueue{}, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}

	resp, err := h.HandleSQS(t.Context(), events.SQSEvent{Records: []events.SQSMessage{
		record("unreadable", "{not json"),
		record("orphan", broadcasts.Job{Type: "page", BroadcastID: "bbbbbbbbbbbbbbbbbbbbbbbbbb"}),
		record("stuck", broadcasts.Job{Type: "page", BroadcastID: b.ID}),
		record("unknown-type", broadcasts.Job{Type: "reticulate", BroadcastID: b.ID}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "stuck" {
		t.Fatalf("batch item failures %+v, want only the job that could not queue its work", resp.BatchItemFailures)
	}
}

func TestLocalQueueRunsEveryJobAndRetriesFailures(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu   sync.Mutex
		runs = map[string]int{}
		q    *broadcasts.LocalQueue
	)
	q = broadcasts.NewLocalQueue(ctx, 2, func(ctx context.Context, j broadcasts.Job) error {
		mu.Lock()
		runs[j.After]++
		n := runs[j.After]
		mu.Unlock()
		switch j.After {
		case "first": // a page job queues more work
			for _, next := range []string{"a", "b", "c"} {
				q.Enqueue(ctx, broadcasts.Job{Type: "send", After: next})
			}
		case "flaky":
			if n < 3 {
				return errors.New("not yet")
			}
		case "broken":
			return errors.New("never")
		}
		return nil
	})
	q.Enqueue(ctx, broadcasts.Job{Type: "page", After: "first"}, broadcasts.Job{After: "flaky"}, broadcasts.Job{After: "broken"})
	q.Wait()

	mu.Lock()
	defer mu.Unlock()
	want := map[string]int{"first": 1, "a": 1, "b": 1, "c": 1, "flaky": 3, "broken": 4}
	for k, n := range want {
		if runs[k] != n {
			t.Errorf("job %q ran %d times, want %d (all runs: %v)", k, runs[k], n, runs)
		}
	}
}
