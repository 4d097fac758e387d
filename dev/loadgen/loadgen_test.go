package loadgen_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/loadgen"
	"github.com/wxsub/wxsub/dev/localstack"
	"github.com/wxsub/wxsub/dev/samtemplate"
	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/token"
	"github.com/wxsub/wxsub/shared/wechat"
)

func TestRunMakesEveryRequestOnceAndCountsFailures(t *testing.T) {
	var mu sync.Mutex
	seen := map[int]int{}
	calls := 0
	counter := func(context.Context) (loadgen.Counts, error) {
		mu.Lock()
		defer mu.Unlock()
		return loadgen.Counts{WeChat: map[string]int64{loadgen.PathSend: int64(calls)}}, nil
	}
	res, err := loadgen.Run(context.Background(), "odd fail", loadgen.Options{Concurrency: 4, Count: 101}, counter,
		func(_ context.Context, i int) error {
			mu.Lock()
			seen[i]++
			calls++
			mu.Unlock()
			if i%2 == 1 {
				return errors.New("odd")
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 101 || res.Failures != 50 || res.FirstFailure != "odd" {
		t.Fatalf("requests %d, failures %d (%q); want 101, 50 (odd)", res.Requests, res.Failures, res.FirstFailure)
	}
	for i := 0; i < 101; i++ {
		if seen[i] != 1 {
			t.Fatalf("request %d was made %d times", i, seen[i])
		}
	}
	if got := res.Counts.WeChat[loadgen.PathSend]; got != 101 {
		t.Errorf("the counter's difference over the run is %d, want 101", got)
	}
	if res.Percentile(50) > res.Percentile(99) {
		t.Errorf("p50 %v > p99 %v", res.Percentile(50), res.Percentile(99))
	}
}

func TestRunStopsAfterDuration(t *testing.T) {
	res, err := loadgen.Run(context.Background(), "timed", loadgen.Options{Concurrency: 2, Duration: 30 * time.Millisecond}, nil,
		func(ctx context.Context, _ int) error {
			time.Sleep(time.Millisecond)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Failures != 0 {
		t.Fatalf("requests %d, failures %d", res.Requests, res.Failures)
	}
	if _, err := loadgen.Run(context.Background(), "unbounded", loadgen.Options{}, nil, nil); err == nil {
		t.Fatal("a run with neither Count nor Duration was accepted")
	}
}

func TestProbeGivesEachRequestItsOwnCost(t *testing.T) {
	var n int64
	counter := func(context.Context) (loadgen.Counts, error) {
		return loadgen.Counts{DynamoDB: map[string]int64{"UpdateItem": n}}, nil
	}
	costs, err := loadgen.Probe(context.Background(), 4, counter, func(_ context.Context, i int) error {
		n += int64(1 + i%2) // requests cost 1, 2, 1, 2
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	spread := loadgen.Spread(costs, loadgen.Counts.DynamoDBTotal)
	if len(spread) != 2 || spread[1] != 2 || spread[2] != 2 {
		t.Fatalf("spread %v, want two requests of cost 1 and two of cost 2", spread)
	}
	if s := loadgen.SpreadString(spread); s != "1 ×2, 2 ×2" {
		t.Errorf("SpreadString = %q", s)
	}
	if s := loadgen.SpreadString(map[int64]int{2: 200}); s != "2 (all 200)" {
		t.Errorf("SpreadString = %q", s)
	}
}

// simTarget serves a simulator alone and returns a Target for it.
func simTarget(t *testing.T) (*wechatsim.Sim, *loadgen.Target) {
	t.Helper()
	sim := wechatsim.New(wechatsim.Config{})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	tg := loadgen.NewTarget("http://127.0.0.1:1", "", srv.URL)
	t.Cleanup(tg.Close)
	return sim, tg
}

func TestNaiveFlowStopsAtTheTokenQuota(t *testing.T) {
	sim, tg := simTarget(t)
	ctx := context.Background()
	cfg, err := tg.SimConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const tmpl = wechatsim.TmplClinicVisit
	if _, err := sim.Popup("oNaiveUser0001", map[string]string{tmpl: "accept"}); err != nil {
		t.Fatal(err)
	}
	data, err := loadgen.ExampleData(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	msg := func(int) wechat.Message {
		return wechat.Message{ToUser: "oNaiveUser0001", TemplateID: tmpl, Data: data}
	}
	if err := tg.SetQuota(ctx, loadgen.PathToken, 30); err != nil {
		t.Fatal(err)
	}
	res, err := tg.Naive(ctx, cfg.AppID, cfg.Secret, 100, 1, msg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Delivered != 30 || res.StopCode != 45009 || res.TokenCalls != 31 || res.Messages != 31 {
		t.Fatalf("under a quota of 30: %+v; want 30 delivered, then 45009 on the 31st token call", res)
	}
	if got := len(sim.Inbox("oNaiveUser0001")); got != 30 {
		t.Fatalf("the simulator delivered %d messages, the flow says 30", got)
	}

	if err := tg.SetQuota(ctx, loadgen.PathToken, 1000); err != nil {
		t.Fatal(err)
	}
	res, err = tg.Naive(ctx, cfg.AppID, cfg.Secret, 50, 1, msg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Delivered != 50 || res.StopCode != 0 || res.TokenCalls != 50 {
		t.Fatalf("without the quota: %+v; want 50 delivered with 50 token calls", res)
	}
}

func TestDayDeliversEverySendAndCountsTheTokenCalls(t *testing.T) {
	p, err := samtemplate.Find(".")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := samtemplate.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []token.Mode{token.Stable, token.Classic} {
		t.Run(string(mode), func(t *testing.T) {
			d, err := loadgen.Day(context.Background(), loadgen.DayOptions{
				Mode: mode, Sends: 2000, Users: 50, Table: tpl.Table.CreateTableInput("day"), TokenQuota: 2000,
			})
			if err != nil {
				t.Fatal(err)
			}
			if d.Delivered != 2000 || d.Failures != 0 {
				t.Fatalf("%d of 2000 delivered; %d failed, first: %s", d.Delivered, d.Failures, d.FirstFailure)
			}
			if d.RefresherRuns != 288 {
				t.Errorf("the refresher ran %d times, want every 5 minutes of the day: 288", d.RefresherRuns)
			}
			if d.TokenCalls < 1 || d.TokenCalls > 24 {
				t.Errorf("%d token calls in the day, want 1 to 24", d.TokenCalls)
			}
			if d.TokenReads < int64(d.RefresherRuns) {
				t.Errorf("%d token item reads: fewer than the refresher's own %d", d.TokenReads, d.RefresherRuns)
			}
		})
	}
}

// The local counter reads what the in-process stack really did: the token
// item's key matches the store's, and WeChat calls and DynamoDB requests
// move with the requests made.
func TestLocalCounterSeesTheStack(t *testing.T) {
	ctx := context.Background()
	s, err := localstack.Start(ctx, localstack.Options{
		Getenv: func(string) string { return "" }, Addr: "127.0.0.1:0", SimAddr: "127.0.0.1:0",
		LogOutput: io.Discard, NoSchedules: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.Sim.SetPushURL("")
	counter, err := loadgen.LocalCounter(s.DB, s.Sim, s.Config.AppID)
	if err != nil {
		t.Fatal(err)
	}
	before, err := counter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RunSchedule(ctx, "RefreshTokenFunction"); err != nil {
		t.Fatal(err)
	}
	boot, err := counter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := boot.Sub(before); d.TokenReads < 1 || d.TokenCalls() != 1 {
		t.Fatalf("the refresher's first run: %d token item reads, %d token calls; want at least 1 and 1", d.TokenReads, d.TokenCalls())
	}

	tg := loadgen.NewTarget(s.URL, s.AdminKey, s.SimURL)
	t.Cleanup(tg.Close)
	const tmpl = wechatsim.TmplOrderShipped
	users, err := tg.Login(ctx, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Tap(ctx, users, tmpl, 2, 2); err != nil {
		t.Fatal(err)
	}
	reports, err := loadgen.Run(ctx, "report", loadgen.Options{Concurrency: 2, Count: 4}, counter, tg.ReportOp(users, tmpl))
	if err != nil || reports.Failures != 0 {
		t.Fatalf("reports: %v; %d failed: %s", err, reports.Failures, reports.FirstFailure)
	}
	if reports.Counts.DynamoDBTotal() < 4 || reports.Counts.WeChatTotal() != 0 {
		t.Errorf("4 reports counted %d DynamoDB requests and %d WeChat calls", reports.Counts.DynamoDBTotal(), reports.Counts.WeChatTotal())
	}
	send, err := tg.SendOp(users, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	sends, err := loadgen.Run(ctx, "send", loadgen.Options{Concurrency: 2, Count: 4}, counter, send)
	if err != nil || sends.Failures != 0 {
		t.Fatalf("sends: %v; %d failed: %s", err, sends.Failures, sends.FirstFailure)
	}
	if got := sends.Counts.WeChat[loadgen.PathSend]; got != 4 {
		t.Errorf("4 sends counted %d subscribe/send calls", got)
	}
	if got := len(s.Sim.Inbox(users[0].OpenID)) + len(s.Sim.Inbox(users[1].OpenID)); got != 4 {
		t.Errorf("the simulator delivered %d messages for 4 sends", got)
	}
	if err := send(ctx, 0); err == nil {
		t.Error("a fifth send went through with every credit spent")
	}
}
