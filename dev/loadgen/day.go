package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/wxsub/wxsub/dev/fakeclock"
	"github.com/wxsub/wxsub/dev/localdb"
	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/errcode"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/store"
	"github.com/wxsub/wxsub/shared/token"
	"github.com/wxsub/wxsub/shared/wechat"
)

// DayOptions configures a simulated day.
type DayOptions struct {
	// Mode is the token API (token.Stable or token.Classic).
	Mode token.Mode
	// Sends is the number of messages, spread evenly over the day.
	Sends int
	// Instances is the number of function instances sending, each with its
	// own token plane (and so its own in-memory token); 0 means 3.
	Instances int
	// Users is the number of recipients; 0 means 1000.
	Users int
	// Table is the table definition (template.yaml's).
	Table *dynamodb.CreateTableInput
	// Every is the refresher's period; 0 means 5 minutes, as in template.yaml.
	Every time.Duration
	// TokenQuota, when positive, is the daily quota of both token APIs.
	TokenQuota int64
}

// DayResult is what a simulated day cost.
type DayResult struct {
	Mode      token.Mode
	Sends     int
	Delivered int
	// Failures counts sends that did not reach the user; FirstFailure is
	// the first one's error.
	Failures     int
	FirstFailure string
	// TokenErrors counts sends WeChat refused for their token (40001, 40014,
	// 42001) before the retry with a fresh one.
	TokenErrors int
	Simulated   time.Duration
	// RefresherRuns is the scheduled refresher's invocations.
	RefresherRuns int
	// TokenCalls is the calls to WeChat's token APIs the simulator counted;
	// ForcedRefreshes those with force_refresh.
	TokenCalls      int64
	ForcedRefreshes int
	// TokenReads is the reads (GetItem) of the token item by every plane.
	TokenReads int64
	// Elapsed is the real time the day took to simulate.
	Elapsed time.Duration
}

// china is where WeChat's days begin.
var china = time.FixedZone("CST", 8*3600)

// Day simulates one day (midnight to midnight, China time) of an app
// sending o.Sends messages at an even pace from o.Instances function
// instances, with the scheduled refresher running every o.Every, against
// the simulator and an in-process DynamoDB sharing one fake clock. Each send
// does what the send function does with the token: Get from its instance's
// plane, send, and on a token error report it and retry once.
//
// The day runs on one goroutine, cooperatively: while the refresher waits
// for WeChat's refresh window (its Sleep), the sends due in that time go on.
func Day(ctx context.Context, o DayOptions) (DayResult, error) {
	if o.Sends <= 0 || o.Table == nil {
		return DayResult{}, errors.New("loadgen: a day needs Sends and the Table")
	}
	if o.Instances <= 0 {
		o.Instances = 3
	}
	if o.Users <= 0 {
		o.Users = 1000
	}
	if o.Every <= 0 {
		o.Every = 5 * time.Minute
	}
	start := time.Date(2026, 11, 27, 0, 0, 0, 0, china)
	clock := fakeclock.New(start)

	sim := wechatsim.New(wechatsim.Config{Now: clock.Now})
	defer sim.Close()
	if o.TokenQuota > 0 {
		sim.SetQuota(PathToken, o.TokenQuota)
		sim.SetQuota(PathStableToken, o.TokenQuota)
	}
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	db, err := localdb.Start("")
	if err != nil {
		return DayResult{}, fmt.Errorf("loadgen: day: %w", err)
	}
	defer db.Close()
	client := db.Client()
	if err := localdb.EnsureTable(ctx, client, o.Table); err != nil {
		return DayResult{}, fmt.Errorf("loadgen: day: %w", err)
	}
	tableName := *o.Table.TableName
	st := store.New(client, tableName)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	wc := wechat.NewClient(simSrv.URL, &http.Client{Transport: tr, Timeout: 10 * time.Second})
	defer tr.CloseIdleConnections()

	cfg := sim.Config()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	plane := func(sleep func(context.Context, time.Duration) error) *token.Plane {
		return token.New(token.Config{
			AppID: cfg.AppID, Secret: cfg.Secret, Mode: o.Mode, Store: st, WeChat: wc,
			Logger: quiet, Now: clock.Now, Sleep: sleep,
		})
	}
	advance := func(_ context.Context, d time.Duration) error {
		clock.MoveTo(clock.Now().Add(d))
		return nil
	}
	instances := make([]*token.Plane, o.Instances)
	for i := range instances {
		instances[i] = plane(advance)
	}

	// Recipients: a long-term template, so that credits are never the limit.
	tmpl := wechatsim.TmplClinicVisit
	data, err := ExampleData(tmpl)
	if err != nil {
		return DayResult{}, err
	}
	users := make([]string, o.Users)
	for i := range users {
		users[i] = fmt.Sprintf("oDay%010d", i)
		if _, err := sim.Popup(users[i], map[string]string{tmpl: "accept"}); err != nil {
			return DayResult{}, fmt.Errorf("loadgen: day: subscribe user: %w", err)
		}
	}
	db.CountItems(true)
	db.ResetCounts()

	res := DayResult{Mode: o.Mode, Sends: o.Sends, Simulated: 24 * time.Hour}
	step := 24 * time.Hour / time.Duration(o.Sends)
	next := 0
	send := func(i int) {
		p := instances[i%len(instances)]
		m := wechat.Message{ToUser: users[i%len(users)], TemplateID: tmpl, Page: "pages/index/index", Data: data}
		tok, err := p.Get(ctx)
		if err == nil {
			_, err = wc.SendSubscribe(ctx, tok.Value, m)
			if errcode.Of(err).Outcome.Retry == ledger.RetryFreshToken {
				res.TokenErrors++
				if tok, err = p.ReportBad(ctx, tok); err == nil {
					_, err = wc.SendSubscribe(ctx, tok.Value, m)
				}
			}
		}
		if err != nil {
			res.Failures++
			if res.FirstFailure == "" {
				res.FirstFailure = err.Error()
			}
			return
		}
		res.Delivered++
	}
	// sendUntil makes every send due before t, moving the clock to each.
	sendUntil := func(t time.Time) error {
		for next < o.Sends {
			at := start.Add(time.Duration(next) * step)
			if !at.Before(t) {
				break
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			clock.MoveTo(at)
			send(next)
			next++
		}
		return nil
	}
	// The refresher's sleep lets the day go on while it waits.
	refresher := plane(func(ctx context.Context, d time.Duration) error {
		until := clock.Now().Add(d)
		if err := sendUntil(until); err != nil {
			return err
		}
		clock.MoveTo(until)
		return nil
	})

	began := time.Now()
	end := start.Add(24 * time.Hour)
	for slot := start; slot.Before(end); slot = slot.Add(o.Every) {
		clock.MoveTo(slot)
		res.RefresherRuns++
		if _, err := refresher.Refresh(ctx); err != nil {
			return DayResult{}, fmt.Errorf("loadgen: day (%s): refresh at %s: %w", o.Mode, clock.Now().Sub(start), err)
		}
		if err := sendUntil(slot.Add(o.Every)); err != nil {
			return DayResult{}, fmt.Errorf("loadgen: day: %w", err)
		}
	}
	if err := sendUntil(end); err != nil {
		return DayResult{}, fmt.Errorf("loadgen: day: %w", err)
	}
	res.Elapsed = time.Since(began)
	stats := sim.Stats()
	res.TokenCalls = stats.Calls[PathToken] + stats.Calls[PathStableToken]
	res.ForcedRefreshes = stats.ForceRefreshes
	res.TokenReads = dynamoCounts(db, cfg.AppID).TokenReads
	return res, nil
}
