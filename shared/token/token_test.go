package token_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/fakeclock"
	"github.com/wxsub/wxsub/dev/localdb"
	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/store"
	"github.com/wxsub/wxsub/shared/token"
	"github.com/wxsub/wxsub/shared/wechat"
)

type env struct {
	sim   *wechatsim.Sim
	wc    *wechat.Client
	st    *store.Store
	clock *fakeclock.Clock
	table localdb.Table
}

func newEnv(t *testing.T) *env {
	c := fakeclock.New(time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC))
	sim := wechatsim.New(wechatsim.Config{Now: c.Now})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	tb := localdb.NewTestTable(t)
	return &env{sim: sim, wc: wechat.NewClient(srv.URL, nil), st: store.New(tb.Client, tb.Name), clock: c, table: tb}
}

func (e *env) plane(mode token.Mode) *token.Plane {
	cfg := e.sim.Config()
	return token.New(token.Config{
		AppID: cfg.AppID, Secret: cfg.Secret, Mode: mode, Store: e.st, WeChat: e.wc,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: e.clock.Now, Sleep: e.clock.Sleep,
	})
}

func (e *env) tokenCalls() int64 {
	s := e.sim.Stats()
	return s.Calls["/cgi-bin/stable_token"] + s.Calls["/cgi-bin/token"]
}

// works checks the token against WeChat (the simulator) with a real API call.
func (e *env) works(t *testing.T, tok token.Token) bool {
	t.Helper()
	_, err := e.wc.Templates(context.Background(), tok.Value)
	if err != nil && wechat.ClassOf(err) != wechat.ClassToken {
		t.Fatalf("gettemplate: %v", err)
	}
	return err == nil
}

func TestFirstReadersShareOneBootstrapFetch(t *testing.T) {
	e := newEnv(t)
	planes := []*token.Plane{e.plane(token.Stable), e.plane(token.Stable), e.plane(token.Stable)}
	var wg sync.WaitGroup
	toks := make([]token.Token, 30)
	for i := range toks {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			tok, err := planes[i%3].Get(context.Background())
			if err != nil {
				t.Error(err)
			}
			toks[i] = tok
		}(i)
	}
	wg.Wait()
	if n := e.tokenCalls(); n != 1 {
		t.Fatalf("cold start made %d token calls, want 1", n)
	}
	for _, tok := range toks {
		if tok.Value != toks[0].Value {
			t.Fatal("readers got different tokens")
		}
	}
	if !e.works(t, toks[0]) {
		t.Fatal("bootstrap token does not work")
	}
	// Warm reads touch neither WeChat nor DynamoDB.
	if e.table.Server != nil {
		e.table.Server.ResetCounts()
	}
	for i := 0; i < 100; i++ {
		if _, err := planes[0].Get(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if e.table.Server != nil {
		if n, _ := e.table.Server.Requests(); n != 0 {
			t.Fatalf("100 warm reads made %d DynamoDB requests", n)
		}
	}
	if n := e.tokenCalls(); n != 1 {
		t.Fatalf("warm reads made token calls: %d", n)
	}
}

func TestBadTokenLeadsToExactlyOneForcedRefresh(t *testing.T) {
	e := newEnv(t)
	planes := []*token.Plane{e.plane(token.Stable), e.plane(token.Stable), e.plane(token.Stable), e.plane(token.Stable)}
	old, err := planes[0].Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e.sim.InvalidateTokens()
	if e.works(t, old) {
		t.Fatal("the simulator did not invalidate the token")
	}
	var wg sync.WaitGroup
	fresh := make([]token.Token, 40)
	for i := range fresh {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			tok, err := planes[i%4].ReportBad(context.Background(), old)
			if err != nil {
				t.Error(err)
			}
			fresh[i] = tok
		}(i)
	}
	wg.Wait()
	if f := e.sim.Stats().ForceRefreshes; f != 1 {
		t.Fatalf("%d forced refreshes, want exactly 1", f)
	}
	for _, tok := range fresh {
		if tok.Value != fresh[0].Value || tok.Value == old.Value {
			t.Fatal("reporters did not all get the one new token")
		}
	}
	if !e.works(t, fresh[0]) {
		t.Fatal("the refreshed token does not work")
	}
	// A late report of the old token just re-reads: no WeChat call.
	before := e.tokenCalls()
	tok, err := e.plane(token.Stable).ReportBad(context.Background(), old)
	if err != nil || tok.Value != fresh[0].Value || e.tokenCalls() != before {
		t.Fatalf("late report: %v %v, token calls %d → %d", tok, err, before, e.tokenCalls())
	}
}

func TestForceBudget(t *testing.T) {
	e := newEnv(t)
	p := e.plane(token.Stable)
	tok, err := p.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tok, err = p.ReportBad(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Second)
	if _, err := p.ReportBad(context.Background(), tok); !errors.Is(err, token.ErrForceBudget) {
		t.Fatalf("a second forced refresh 10 s later: %v, want ErrForceBudget", err)
	}
	for i := 1; i < token.ForcePerDay; i++ {
		e.clock.Advance(token.ForceSpacing)
		if tok, err = p.ReportBad(context.Background(), tok); err != nil {
			t.Fatalf("forced refresh %d: %v", i+1, err)
		}
	}
	e.clock.Advance(token.ForceSpacing)
	if _, err := p.ReportBad(context.Background(), tok); !errors.Is(err, token.ErrForceBudget) {
		t.Fatalf("forced refresh 21 the same day: %v, want ErrForceBudget", err)
	}
	if f := e.sim.Stats().ForceRefreshes; f != token.ForcePerDay {
		t.Fatalf("simulator saw %d forced refreshes", f)
	}
	e.clock.Advance(24 * time.Hour)
	if _, err := p.ReportBad(context.Background(), tok); err != nil {
		t.Fatalf("the budget did not reset the next day: %v", err)
	}
}

// TestScheduledDay runs the refresher every 5 minutes for a simulated day while
// a reader uses the token every minute: the reader never holds a token WeChat
// refuses, and the day costs at most 24 token calls.
func TestScheduledDay(t *testing.T) {
	for _, mode := range []token.Mode{token.Stable, token.Classic} {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t)
			refresher := e.plane(mode)
			reader := e.plane(mode)
			ctx := context.Background()
			start := e.clock.Now()
			for e.clock.Now().Before(start.Add(24 * time.Hour)) {
				if _, err := refresher.Refresh(ctx); err != nil {
					t.Fatalf("refresh at %s: %v", e.clock.Now().Sub(start), err)
				}
				for m := 0; m < 5; m++ {
					tok, err := reader.Get(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if !e.works(t, tok) {
						t.Fatalf("reader held a refused token at %s", e.clock.Now().Sub(start))
					}
					e.clock.Advance(time.Minute)
				}
			}
			if n := e.tokenCalls(); n > 24 {
				t.Fatalf("%d token calls in a day, bar is 24", n)
			}
			t.Logf("%s: %d token calls in 24 h", mode, e.tokenCalls())
		})
	}
}
