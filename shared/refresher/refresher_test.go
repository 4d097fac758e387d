package refresher_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/fakeclock"
	"github.com/wxsub/wxsub/dev/localdb"
	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/metrics"
	"github.com/wxsub/wxsub/shared/refresher"
	"github.com/wxsub/wxsub/shared/store"
	"github.com/wxsub/wxsub/shared/token"
	"github.com/wxsub/wxsub/shared/wechat"
)

// ages returns the TokenAgeSeconds values of the EMF lines in out, in order.
func ages(t *testing.T, out string) []float64 {
	t.Helper()
	var vs []float64
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("not an EMF line: %s", sc.Text())
		}
		if v, ok := rec[metrics.TokenAgeSeconds].(float64); ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// TestTokenAgeStaysUnderTheAlarmWhileHealthy runs the refresher every 5
// minutes for a simulated day in both token modes: the age it reports never
// reaches the alarm (though it passes 100 minutes), and once WeChat stops
// issuing tokens the age crosses it within a few runs.
func TestTokenAgeStaysUnderTheAlarmWhileHealthy(t *testing.T) {
	for _, mode := range []token.Mode{token.Stable, token.Classic} {
		t.Run(string(mode), func(t *testing.T) {
			c := fakeclock.New(time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC))
			sim := wechatsim.New(wechatsim.Config{Now: c.Now})
			srv := httptest.NewServer(sim)
			t.Cleanup(func() { srv.Close(); sim.Close() })
			tb := localdb.NewTestTable(t)
			st := store.New(tb.Client, tb.Name)
			cfg := sim.Config()
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))
			var out bytes.Buffer
			mw := metrics.New(&out, c.Now)
			h := &refresher.Handler{
				AppID: cfg.AppID, Logger: logger, Store: st, Metrics: mw, Now: c.Now,
				Tokens: token.New(token.Config{
					AppID: cfg.AppID, Secret: cfg.Secret, Mode: mode, Store: st,
					WeChat: wechat.NewClient(srv.URL, nil), Logger: logger, Metrics: mw, Now: c.Now, Sleep: c.Sleep,
				}),
			}
			ctx := context.Background()
			start := c.Now()
			runs := 0
			for c.Now().Before(start.Add(24 * time.Hour)) {
				res, err := h.Handle(ctx, json.RawMessage(`{"job":"refresh-token"}`))
				if err != nil {
					t.Fatalf("run at %s: %v", c.Now().Sub(start), err)
				}
				if time.Duration(res.AgeSeconds)*time.Second >= refresher.AgeAlarm {
					t.Fatalf("the run at %s answered age %ds", c.Now().Sub(start), res.AgeSeconds)
				}
				runs++
				c.Advance(5 * time.Minute)
			}
			healthy := ages(t, out.String())
			if len(healthy) != runs {
				t.Fatalf("%d runs emitted %d TokenAgeSeconds", runs, len(healthy))
			}
			highest := 0.0
			for _, a := range healthy {
				highest = max(highest, a)
			}
			if highest >= refresher.AgeAlarm.Seconds() {
				t.Fatalf("a healthy token reached %.0f s; the alarm is at %.0f s", highest, refresher.AgeAlarm.Seconds())
			}
			if highest < (100 * time.Minute).Seconds() {
				t.Fatalf("the highest healthy age is %.0f s: the day did not exercise a token's whole life", highest)
			}
			t.Logf("%s: highest healthy age %.0f s over %d runs", mode, highest, runs)

			// WeChat stops issuing tokens: the age keeps being reported and crosses the alarm.
			path := wechatsim.PathStableToken
			if mode == token.Classic {
				path = wechatsim.PathToken
			}
			if err := sim.InjectFault(wechatsim.Fault{Path: path, ErrCode: -1, Count: 1000}); err != nil {
				t.Fatal(err)
			}
			out.Reset()
			crossed, firstFailure := 0, 0
			for i := 1; i <= 40 && crossed == 0; i++ {
				if _, err := h.Handle(ctx, json.RawMessage(`{"job":"refresh-token"}`)); err != nil && firstFailure == 0 {
					firstFailure = i
				}
				for _, a := range ages(t, out.String()) {
					if a > refresher.AgeAlarm.Seconds() {
						crossed = i
					}
				}
				c.Advance(5 * time.Minute)
			}
			if crossed == 0 || firstFailure == 0 || crossed-firstFailure > 2 {
				t.Fatalf("the first refresh failed at run %d and the age crossed the alarm at run %d (0: never); want within 2 runs", firstFailure, crossed)
			}
			t.Logf("%s: first failed refresh at run %d, age over the alarm at run %d", mode, firstFailure, crossed)
		})
	}
}

// A plane whose fetches go to the refresher (Client) never calls WeChat's
// token APIs itself: the refresher does, under the same lease and force
// budget, and a refusal of the budget comes back as token.ErrForceBudget.
func TestOtherFunctionsFetchThroughTheRefresher(t *testing.T) {
	ctx := context.Background()
	sim := wechatsim.New(wechatsim.Config{})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	tb := localdb.NewTestTable(t)
	st := store.New(tb.Client, tb.Name)
	cfg := sim.Config()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	plane := func(wc *wechat.Client, f token.Fetcher) *token.Plane {
		return token.New(token.Config{AppID: cfg.AppID, Secret: cfg.Secret, Store: st, WeChat: wc, Logger: logger, Fetcher: f})
	}
	h := &refresher.Handler{AppID: cfg.AppID, Logger: logger, Tokens: plane(wechat.NewClient(srv.URL, nil), nil)}
	// The other function's WeChat client points nowhere: it must not be used
	// for a token.
	other := plane(wechat.NewClient("http://127.0.0.1:1", nil), refresher.Client{
		Call: func(ctx context.Context, payload []byte) ([]byte, error) {
			res, err := h.Handle(ctx, payload)
			if err != nil {
				return nil, err
			}
			return json.Marshal(res)
		},
	})
	tok, err := other.Get(ctx) // the bootstrap
	if err != nil || tok.Value == "" {
		t.Fatalf("bootstrap through the refresher: %v %v", tok, err)
	}
	fresh, err := other.ReportBad(ctx, tok) // a forced refresh
	if err != nil || fresh.Version <= tok.Version {
		t.Fatalf("forced refresh through the refresher: %v %v", fresh, err)
	}
	if _, err := other.ReportBad(ctx, fresh); !errors.Is(err, token.ErrForceBudget) {
		t.Fatalf("a second forced refresh within 30 s: %v; want ErrForceBudget", err)
	}
	if n := sim.Stats().Calls["/cgi-bin/stable_token"]; n != 2 {
		t.Errorf("%d stable_token calls, want 2 (the bootstrap and one forced refresh)", n)
	}
}

// An official account's other functions get the jsapi_ticket the same way:
// the refresher fetches it (with its own access_token) and they read the item.
func TestOtherFunctionsFetchTheTicketThroughTheRefresher(t *testing.T) {
	ctx := context.Background()
	sim := wechatsim.New(wechatsim.Config{Kind: wechatsim.KindOfficialAccount})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	tb := localdb.NewTestTable(t)
	st := store.New(tb.Client, tb.Name)
	cfg := sim.Config()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	planes := func(wc *wechat.Client, f token.Fetcher) (*token.Plane, *token.Plane) {
		tokens := token.New(token.Config{AppID: cfg.AppID, Secret: cfg.Secret, Store: st, WeChat: wc, Logger: logger, Fetcher: f})
		return tokens, token.New(token.Config{AppID: cfg.AppID, Secret: cfg.Secret, Store: st, WeChat: wc, Logger: logger, Fetcher: f,
			Kind: token.JSAPITicket, AccessTokens: tokens})
	}
	tokens, tickets := planes(wechat.NewClient(srv.URL, nil), nil)
	h := &refresher.Handler{AppID: cfg.AppID, Logger: logger, Tokens: tokens, Tickets: tickets}
	_, other := planes(wechat.NewClient("http://127.0.0.1:1", nil), refresher.Client{
		Call: func(ctx context.Context, payload []byte) ([]byte, error) {
			res, err := h.Handle(ctx, payload)
			if err != nil {
				return nil, err
			}
			return json.Marshal(res)
		},
	})
	tk, err := other.Get(ctx)
	if err != nil || tk.Value == "" {
		t.Fatalf("ticket bootstrap through the refresher: %v", err)
	}
	const page = "https://shop.example.com/p"
	if sim.VerifyConfig(cfg.AppID, 1, "n", wechatsim.JSSDKSignature(tk.Value, "n", 1, page), page) != "config:ok" {
		t.Fatal("the ticket does not sign")
	}
	sim.InvalidateTickets()
	fresh, err := other.ReportBad(ctx, tk)
	if err != nil || fresh.Version <= tk.Version {
		t.Fatalf("ticket repair through the refresher: %v", err)
	}
	if sim.VerifyConfig(cfg.AppID, 1, "n", wechatsim.JSSDKSignature(fresh.Value, "n", 1, page), page) != "config:ok" {
		t.Fatal("the repaired ticket does not sign")
	}
	// The schedule keeps both: a run on a fresh item changes nothing.
	res, err := h.Handle(ctx, json.RawMessage(`{"job":"refresh-token"}`))
	if err != nil || res.TicketRefreshed || res.TicketVersion != fresh.Version {
		t.Fatalf("scheduled run: %+v %v", res, err)
	}
	if n := sim.Stats().Calls[wechatsim.PathGetTicket]; n != 2 {
		t.Errorf("%d getticket calls, want 2", n)
	}
}
