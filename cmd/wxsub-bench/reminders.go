package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"runtime"
	"sort"
	"time"

	"github.com/wxsub/wxsub/dev/loadgen"
	"github.com/wxsub/wxsub/dev/localdb"
	"github.com/wxsub/wxsub/dev/wechatsim"
)

// reminderRun is many reminders due at the same moment (a live stream's
// start), scheduled through POST /v1/messages and sent at a configured rate
// by the dispatcher and the broadcast worker, on a fresh local stack whose
// DynamoDB conflicts, throttles and lags as DynamoDB does.
type reminderRun struct {
	users, rate, workers int
	latency              time.Duration
	schedule             loadgen.Result // the POSTs with send_at
	scheduleThrottles    int64
	sendAt               time.Time
	first, last          time.Duration // first and last delivery after send_at
	early                int           // deliveries before send_at
	delivered            int
	twice                int
	outOfOrder           int // deliveries before one due earlier (due times a second apart)
	cpu, elapsed         time.Duration
	dispatch             time.Duration // the dispatcher's run that handed them on
	stats                localdb.Stats
	err                  string
}

func measureReminders(ctx context.Context, users, rate, workers int, latency time.Duration) reminderRun {
	r := reminderRun{users: users, rate: rate, workers: workers, latency: latency}
	if err := r.measure(ctx); err != nil {
		r.err = err.Error()
		log.Printf("reminders: %v", err)
	}
	return r
}

func (r *reminderRun) measure(ctx context.Context) error {
	s, err := pacedStack(ctx, r.rate, r.workers, r.latency, "RefreshTokenFunction", "TemplatesFunction", "RemindersFunction")
	if err != nil {
		return err
	}
	defer s.Close()
	tmpl := wechatsim.TmplOrderShipped
	openid := func(i int) string { return fmt.Sprintf("oReminderBench%014d", i) }
	log.Printf("reminders: %d users tap \"allow\"", r.users)
	tap := func(ctx context.Context, i int) error {
		_, err := s.Sim.Popup(openid(i), map[string]string{tmpl: "accept"})
		return err
	}
	if res, err := loadgen.Run(ctx, "reminder taps", loadgen.Options{Concurrency: 32, Count: r.users}, nil, tap); err != nil || res.Failures > 0 {
		return fmt.Errorf("taps: %v (%d failures: %s)", err, res.Failures, res.FirstFailure)
	}
	s.Sim.Flush()
	data, err := loadgen.ExampleData(tmpl)
	if err != nil {
		return err
	}
	// Every reminder in one minute: due times a second apart over the
	// minute's first 10 seconds, so that the order of delivery can be
	// judged, all well in the future when they are scheduled.
	base := s.Sim.Now().Add(10 * time.Minute).Truncate(time.Minute)
	due := func(i int) time.Time { return base.Add(time.Duration(i%10) * time.Second) }
	r.sendAt = base
	s.DB.ResetCounts()
	log.Printf("reminders: scheduling %d reminders due in the minute of %s", r.users, base.Format(time.RFC3339))
	post := func(ctx context.Context, i int) error {
		body, _ := json.Marshal(map[string]any{"touser": openid(i), "template_id": tmpl, "data": data,
			"page": "pages/live/index", "send_at": due(i).Format(time.RFC3339)})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/v1/messages", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+s.AdminKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("POST /v1/messages: %d %s", resp.StatusCode, b)
		}
		return nil
	}
	if r.schedule, err = loadgen.Run(ctx, "schedule reminders", loadgen.Options{Concurrency: 32, Count: r.users}, nil, post); err != nil || r.schedule.Failures > 0 {
		return fmt.Errorf("scheduling: %v (%d failures: %s)", err, r.schedule.Failures, r.schedule.FirstFailure)
	}
	r.scheduleThrottles = s.DB.Stats().Throttles
	// The sent events would share these two cores with the sends (in AWS
	// the events function has capacity of its own): not pushed.
	s.Sim.SetPushURL("")
	s.DB.ResetCounts()
	// The dispatcher runs every minute: a minute before, it finds nothing
	// due yet; two seconds before the minute, it hands the reminders on,
	// held in the queue until each is due.
	s.Sim.Advance(base.Add(-62 * time.Second).Sub(s.Sim.Now()))
	if err := s.RunSchedule(ctx, "RemindersFunction"); err != nil {
		return err
	}
	s.Sim.Advance(base.Add(-2 * time.Second).Sub(s.Sim.Now()))
	started, cpu0 := time.Now(), cpuTime()
	if err := s.RunSchedule(ctx, "RemindersFunction"); err != nil {
		return err
	}
	r.dispatch = time.Since(started)
	s.BroadcastQueue.Wait()
	r.elapsed, r.cpu = time.Since(started), cpuTime()-cpu0
	r.stats = s.DB.Stats()
	type delivery struct {
		at  time.Time
		due time.Time
	}
	var all []delivery
	for i := range r.users {
		in := s.Sim.Inbox(openid(i))
		if len(in) > 1 {
			r.twice++
		}
		for _, d := range in {
			all = append(all, delivery{at: d.SentAt, due: due(i)})
			if d.SentAt.Before(due(i)) {
				r.early++
			}
		}
	}
	r.delivered = len(all)
	if len(all) == 0 {
		return fmt.Errorf("no reminder was delivered")
	}
	sort.Slice(all, func(i, j int) bool { return all[i].at.Before(all[j].at) })
	r.first, r.last = all[0].at.Sub(base), all[len(all)-1].at.Sub(base)
	latestDue := time.Time{}
	for _, d := range all {
		if d.due.Before(latestDue) {
			r.outOfOrder++
		}
		if d.due.After(latestDue) {
			latestDue = d.due
		}
	}
	return nil
}

// achieved is the sends a second between the first delivery and the last.
func (r reminderRun) achieved() float64 {
	if span := r.last - r.first; span > 0 && r.delivered > 1 {
		return float64(r.delivered-1) / span.Seconds()
	}
	return 0
}

// ok is the bar: every reminder delivered once, none early, the last within a minute of the minute's start.
func (r reminderRun) ok() bool {
	return r.err == "" && r.delivered == r.users && r.twice == 0 && r.early == 0 && r.last <= time.Minute
}

// write renders the section of the report.
func (r reminderRun) write(p func(string, ...any)) {
	p("## Reminders due in the same minute\n\n")
	p("A fresh local stack (its DynamoDB conflicting, throttling and lagging as DynamoDB does), %s users "+
		"holding a credit, and one reminder each scheduled through `POST /v1/messages` with `send_at` in the "+
		"same minute (a second apart over its first ten seconds), sent at `BroadcastRate` %d a second over "+
		"`BroadcastWorkers` %d, with the simulator taking %s to answer each `subscribe/send`. The clock is "+
		"moved to a minute before, then to two seconds before the minute, and the dispatcher runs at each, as "+
		"its every-minute schedule would.\n\n", comma(int64(r.users)), r.rate, r.workers, r.latency)
	if r.err != "" {
		p("The run failed: %s\n\n", oneLine(r.err))
		return
	}
	p("| reminders | scheduled a second (32 at a time) | scheduling throttled | dispatcher run | delivered | twice | before their time | first delivery after the minute began | last | sends a second | of the rate | out of due order | took | CPU-seconds a second |\n")
	p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	p("| %s | %.0f | %s | %s | %s | %d | %d | %s | %s | %.0f | %.0f%% | %d | %s | %.2f of %d |\n\n",
		comma(int64(r.users)), r.schedule.RPS(), comma(r.scheduleThrottles), r.dispatch.Round(10*time.Millisecond), comma(int64(r.delivered)), r.twice, r.early,
		r.first.Round(10*time.Millisecond), r.last.Round(100*time.Millisecond), r.achieved(), 100*r.achieved()/float64(r.rate),
		r.outOfOrder, r.elapsed.Round(time.Second), r.cpu.Seconds()/r.elapsed.Seconds(), runtime.NumCPU())
	verdict := "met"
	if !r.ok() {
		verdict = "**missed**"
	}
	p("The bar (every reminder delivered once, none before its time, all within a minute of the minute's "+
		"start): %s. Out of due order counts deliveries that came after one due later (jobs of neighbouring "+
		"seconds overlap across workers). When the rate is missed with the CPUs busy, the limit is this "+
		"machine, not the design: in AWS each worker invocation and DynamoDB have their own capacity.\n\n", verdict)
}
