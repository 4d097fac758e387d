package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"strings"
	"sync"
	"time"

	"github.com/wxsub/wxsub/dev/loadgen"
	"github.com/wxsub/wxsub/dev/localdb"
	"github.com/wxsub/wxsub/dev/localstack"
	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/store"
)

// contention is the send storm of the bench: concurrent sends over many
// users on a fresh local stack whose DynamoDB conflicts, throttles and lags
// as DynamoDB does (its defaults), counting what that cost.
type contention struct {
	users, credits, concurrency int
	run                         loadgen.Result // the sends
	reportRun                   loadgen.Result // the reports
	reports                     int
	sendUnits, reportUnits      localdb.Stats // what each phase consumed
	// tallySendUnits and tallyReportUnits are what the tally then consumed
	// to count each phase's changes from the stream.
	tallySendUnits, tallyReportUnits localdb.Stats
	stats                            localdb.Stats
	requests                         map[string]int64 // DynamoDB requests by operation
	sendsAnswered                    int              // 200 sent
	todaySent                        int64            // GET /v1/quota's today.sent, from the store
	settleFailed                     int              // "settle failed" log lines
	settings                         localdb.Options
	err                              string
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// measureContention sends every credit of users × credits with concurrency
// requests at a time.
func measureContention(ctx context.Context, users, credits, concurrency int) contention {
	c := contention{users: users, credits: credits, concurrency: concurrency, settings: localdb.Options{
		TxnLatency: localdb.DefaultTxnLatency, ItemWriteUnits: localdb.DefaultItemWriteUnits, IndexLag: localdb.DefaultIndexLag}}
	if err := c.measure(ctx); err != nil {
		c.err = err.Error()
		log.Printf("contention: %v", err)
	}
	return c
}

func (c *contention) measure(ctx context.Context) error {
	logs := &syncBuffer{}
	s, err := localstack.Start(ctx, localstack.Options{
		Getenv: func(string) string { return "" }, Addr: "127.0.0.1:0", SimAddr: "127.0.0.1:0",
		LogOutput: logs, NoSchedules: true, ManualStreams: true,
	})
	if err != nil {
		return err
	}
	defer s.Close()
	s.Sim.SetPushURL("") // the sends' own cost, without the push function's
	for _, id := range []string{"RefreshTokenFunction", "TemplatesFunction"} {
		if err := s.RunSchedule(ctx, id); err != nil {
			return fmt.Errorf("warm-up: %s: %w", id, err)
		}
	}
	t := loadgen.NewTarget(s.URL, s.AdminKey, s.SimURL)
	defer t.Close()
	log.Printf("contention: %d users, %d taps each", c.users, c.credits)
	us, err := t.Login(ctx, c.users, c.concurrency)
	if err != nil {
		return err
	}
	tmpl := wechatsim.TmplOrderShipped
	if err := t.Tap(ctx, us, tmpl, c.credits, c.concurrency); err != nil {
		return err
	}
	report := t.ReportOp(us, tmpl)
	s.DB.ResetCounts()
	c.reportRun, err = loadgen.Run(ctx, "contention reports", loadgen.Options{Concurrency: c.concurrency, Count: c.users * c.credits}, nil, report)
	if err != nil || c.reportRun.Failures > 0 {
		return fmt.Errorf("contention reports: %v (%d failures: %s)", err, c.reportRun.Failures, c.reportRun.FirstFailure)
	}
	c.reports = c.reportRun.Requests
	c.reportUnits = s.DB.Stats()
	if c.tallyReportUnits, err = tallied(ctx, s); err != nil {
		return err
	}
	send, err := t.SendOp(us, tmpl)
	if err != nil {
		return err
	}
	s.DB.ResetCounts()
	log.Printf("contention: %d sends, %d at a time", c.users*c.credits, c.concurrency)
	c.run, err = loadgen.Run(ctx, "contention sends", loadgen.Options{Concurrency: c.concurrency, Count: c.users * c.credits}, nil, send)
	if err != nil {
		return err
	}
	c.stats = s.DB.Stats()
	c.sendUnits = c.stats
	_, c.requests = s.DB.Requests()
	c.sendsAnswered = c.run.Requests - c.run.Failures
	if c.tallySendUnits, err = tallied(ctx, s); err != nil {
		return err
	}
	day, err := s.Backend.Store.DayCounts(ctx, s.Config.AppID, store.ChinaDay(time.Now()))
	if err != nil {
		return err
	}
	c.todaySent = day.Sent
	c.settleFailed = strings.Count(logs.String(), "settle failed")
	return nil
}

// tallied has the tally count every change so far (the stack reads its
// stream only when asked) and returns what that consumed.
func tallied(ctx context.Context, s *localstack.Stack) (localdb.Stats, error) {
	s.DB.ResetCounts()
	if err := s.DrainStreams(ctx); err != nil {
		return localdb.Stats{}, err
	}
	return s.DB.Stats(), nil
}

// write renders the section of the report.
func (c contention) write(p func(string, ...any)) {
	p("## Sends under contention\n\n")
	p("On a fresh local stack whose DynamoDB behaves as DynamoDB does under concurrency (its defaults: "+
		"a transaction holds its items for %s and cancels or is cancelled by another on one of them, an item "+
		"takes %d write units a second, gsi1 lags %s), %s users each tapped \"allow\" %d times and were sent "+
		"every credit, %d sends at a time.\n\n",
		c.settings.TxnLatency, c.settings.ItemWriteUnits, c.settings.IndexLag, comma(int64(c.users)), c.credits, c.concurrency)
	if c.err != "" {
		p("The run failed: %s\n\n", oneLine(c.err))
		return
	}
	sends := int64(c.users * c.credits)
	txns := c.requests["TransactWriteItems"]
	p("| sends | answered 200 | failures | today.sent | lost counts | transactions cancelled by a conflict | single writes refused by a conflict | throttled | TransactWriteItems requests | retried transactions | \"settle failed\" | req/s | p50 | p99 |\n")
	p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	p("| %s | %s | %d | %s | %d | %s | %s | %s | %s | %s | %d | %.0f | %s | %s |\n\n",
		comma(sends), comma(int64(c.sendsAnswered)), c.run.Failures, comma(c.todaySent), int64(c.sendsAnswered)-c.todaySent,
		comma(c.stats.TxnConflicts), comma(c.stats.WriteConflicts), comma(c.stats.Throttles), comma(txns), comma(txns-2*sends),
		c.settleFailed, c.run.RPS(), ms(c.run.Percentile(50)), ms(c.run.Percentile(99)))
	p("Every conflict and throttle is retried with jittered backoff (the store's retry policy, on the SDK's " +
		"standard retryer); a transaction a conflict cancelled is retried whole, so \"retried transactions\" " +
		"(TransactWriteItems requests beyond the two of each send) is what conflicts cost. The bar: 0 failures, " +
		"0 lost counts, no settlement given up.\n\n")
	if c.run.Failures > 0 {
		p("First failure: %s\n\n", oneLine(c.run.FirstFailure))
	}
}
