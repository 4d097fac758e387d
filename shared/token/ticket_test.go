package token_test

import (
	"context"
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

// oaEnv is an env whose simulator plays an official account.
func oaEnv(t *testing.T) *env {
	c := fakeclock.New(time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC))
	sim := wechatsim.New(wechatsim.Config{Now: c.Now, Kind: wechatsim.KindOfficialAccount})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	tb := localdb.NewTestTable(t)
	return &env{sim: sim, wc: wechat.NewClient(srv.URL, nil), st: store.New(tb.Client, tb.Name), clock: c, table: tb}
}

// ticketPlane is a process's ticket plane, beside its own token plane.
func (e *env) ticketPlane() *token.Plane {
	cfg := e.sim.Config()
	return token.New(token.Config{
		AppID: cfg.AppID, Secret: cfg.Secret, Kind: token.JSAPITicket, AccessTokens: e.plane(token.Stable),
		Store: e.st, WeChat: e.wc,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: e.clock.Now, Sleep: e.clock.Sleep,
	})
}

func (e *env) ticketCalls() int64 { return e.sim.Stats().Calls[wechatsim.PathGetTicket] }

// signs checks a ticket the way WeChat's client does: a wx.config signed with it passes.
func (e *env) signs(tok token.Token) bool {
	const page = "https://shop.example.com/notify?from=menu"
	sig := wechatsim.JSSDKSignature(tok.Value, "abc", 1700000000, page)
	return e.sim.VerifyConfig(e.sim.Config().AppID, 1700000000, "abc", sig, page) == "config:ok"
}

func TestFirstTicketReadersShareOneFetch(t *testing.T) {
	e := oaEnv(t)
	planes := []*token.Plane{e.ticketPlane(), e.ticketPlane(), e.ticketPlane()}
	var wg sync.WaitGroup
	got := make([]token.Token, 30)
	for i := range got {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			tok, err := planes[i%3].Get(context.Background())
			if err != nil {
				t.Error(err)
			}
			got[i] = tok
		}(i)
	}
	wg.Wait()
	if n := e.ticketCalls(); n != 1 {
		t.Fatalf("%d getticket calls, want 1", n)
	}
	for _, tok := range got {
		if tok.Value != got[0].Value {
			t.Fatal("readers got different tickets")
		}
	}
	if !e.signs(got[0]) {
		t.Fatal("the shared ticket does not sign a wx.config WeChat accepts")
	}
	// The ticket lives in its own item: the access_token item is untouched by it.
	rec, err := e.st.Token(context.Background(), e.sim.Config().AppID)
	if err != nil || rec.Token == got[0].Value || rec.Token == "" {
		t.Fatalf("token item %v %v", rec.Version, err)
	}
}

func TestBadTicketIsRepairedOnce(t *testing.T) {
	e := oaEnv(t)
	planes := []*token.Plane{e.ticketPlane(), e.ticketPlane(), e.ticketPlane()}
	old, err := planes[0].Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e.sim.InvalidateTickets()
	if e.signs(old) {
		t.Fatal("the simulator did not invalidate the ticket")
	}
	var wg sync.WaitGroup
	fresh := make([]token.Token, 30)
	for i := range fresh {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			tok, err := planes[i%3].ReportBad(context.Background(), old)
			if err != nil {
				t.Error(err)
			}
			fresh[i] = tok
		}(i)
	}
	wg.Wait()
	if n := e.ticketCalls(); n != 2 {
		t.Fatalf("%d getticket calls, want 2 (the first and one repair)", n)
	}
	for _, tok := range fresh {
		if tok.Value != fresh[0].Value || tok.Value == old.Value {
			t.Fatal("reporters did not all get the one repaired ticket")
		}
	}
	if !e.signs(fresh[0]) {
		t.Fatal("the repaired ticket does not sign")
	}
	// A late report of the old ticket re-reads; a report of the repaired
	// one inside 30 s is refused by the budget: no getticket call.
	if tok, err := e.ticketPlane().ReportBad(context.Background(), old); err != nil || tok.Value != fresh[0].Value {
		t.Fatalf("late report: %v", err)
	}
	e.clock.Advance(10 * time.Second)
	if _, err := planes[0].ReportBad(context.Background(), fresh[0]); err == nil {
		t.Fatal("a second repair 10 s later was allowed")
	}
	if n := e.ticketCalls(); n != 2 {
		t.Fatalf("%d getticket calls after the late reports, want 2", n)
	}
}

func TestTicketAfterATokenError(t *testing.T) {
	e := oaEnv(t)
	tp := e.ticketPlane()
	if _, err := tp.Get(context.Background()); err != nil {
		t.Fatal(err)
	}
	// WeChat stops honouring the access_token: the next ticket fetch gets
	// 40001, has the token replaced once, and gets its ticket.
	e.sim.InvalidateTokens()
	e.clock.Advance(4 * time.Minute) // readers re-read the ticket item; still valid
	old, _ := tp.Get(context.Background())
	tok, err := tp.ReportBad(context.Background(), old)
	if err != nil {
		t.Fatal(err)
	}
	if !e.signs(tok) || e.sim.Stats().ForceRefreshes != 1 {
		t.Fatalf("signs %v, forced token refreshes %d", e.signs(tok), e.sim.Stats().ForceRefreshes)
	}
}

// TestScheduledTicketDay runs the refresher's schedule for a simulated day
// while a page asks for a signature every minute: every signature is one
// WeChat accepts, and the day costs a dozen getticket calls.
func TestScheduledTicketDay(t *testing.T) {
	e := oaEnv(t)
	refresher, reader := e.ticketPlane(), e.ticketPlane()
	ctx := context.Background()
	begin := e.clock.Now()
	for e.clock.Now().Before(begin.Add(24 * time.Hour)) {
		if _, err := refresher.Refresh(ctx); err != nil {
			t.Fatalf("refresh at %s: %v", e.clock.Now().Sub(begin), err)
		}
		for range 5 {
			tok, err := reader.Get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !e.signs(tok) || !e.clock.Now().Before(tok.ExpiresAt.Add(-time.Minute)) {
				t.Fatalf("reader held a ticket WeChat refuses or about to expire at %s", e.clock.Now().Sub(begin))
			}
			e.clock.Advance(time.Minute)
		}
	}
	if n := e.ticketCalls(); n > 24 {
		t.Fatalf("%d getticket calls in a day", n)
	}
	t.Logf("%d getticket calls in 24 h", e.ticketCalls())
}
