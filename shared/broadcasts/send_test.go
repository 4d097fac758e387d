package broadcasts_test

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/localdb"
	"github.com/wxsub/wxsub/shared/broadcasts"
	"github.com/wxsub/wxsub/shared/store"
)

// recordingQueue keeps the jobs queued on it.
type recordingQueue struct {
	mu   sync.Mutex
	jobs []broadcasts.Job
}

func (q *recordingQueue) Enqueue(_ context.Context, jobs ...broadcasts.Job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.jobs = append(q.jobs, jobs...)
	return nil
}

func TestBroadcastJobOutOfTimeQueuesTheRest(t *testing.T) {
	tb := localdb.NewTestTable(t)
	st := store.New(tb.Client, tb.Name)
	const appid = "wx0123456789abcdef"
	b := store.Broadcast{ID: "baaaaaaaaaaaaaaaaaaaaaaaaa", AppID: appid, TemplateID: "tmpl", Data: `{}`, CreatedAt: time.Now()}
	if err := st.PutBroadcast(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	q := &recordingQueue{}
	// No Messages: a send would panic. The invocation ends in less than
	// DrainTime, so the job may start none.
	h := &broadcasts.Handler{AppID: appid, Store: st, Queue: q, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Pacers: broadcasts.NewPacers(1, 5)}
	ctx, cancel := context.WithTimeout(t.Context(), broadcasts.DrainTime-time.Second)
	defer cancel()
	job := broadcasts.Job{Type: "send", BroadcastID: b.ID, OpenIDs: []string{"oUser000001", "oUser000002"}}
	if err := h.Work(ctx, job); err != nil {
		t.Fatalf("a job out of time failed (SQS would deliver it again, counting a receive): %v", err)
	}
	if !reflect.DeepEqual(q.jobs, []broadcasts.Job{job}) {
		t.Fatalf("queued %+v, want the same users as a new job", q.jobs)
	}
}
