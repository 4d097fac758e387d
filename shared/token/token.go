// Package token keeps one WeChat access_token per app fresh for a whole fleet
// of functions, without the 40001 storms that come from every server fetching
// its own.
//
// One DynamoDB item holds the token, its expiry and a version. The scheduled
// refresher (Refresh) is the only caller that asks WeChat for a token in
// normal operation; every other function reads the item (Get) and keeps it in
// memory until shortly before it expires. A function whose call failed with a
// token error reports the token it used (ReportBad): if the stored token is
// still that one, exactly one caller in the fleet takes a lease by conditional
// write and force-refreshes it, within WeChat's force budget (20 a day, at
// least 30 s apart); the others wait and re-read. Before the first scheduled
// run, the first reader fetches the token under the same lease.
//
// Every call to WeChat's token APIs can be kept in one function, so that only
// that function needs an IP on the account's whitelist (WeChat answers 40164
// to token calls from other IPs): a Plane with a Fetcher hands its bootstrap
// and forced refreshes to it (the refresher, invoked synchronously), which
// runs them with FetchFor under the same lease and budget, and then reads the
// item.
//
// An official account's JS-SDK ticket (jsapi_ticket) lives beside the token
// under the same discipline: a Plane of Kind JSAPITicket keeps it in its own
// item, fetched with the access_token of another Plane by the same refresher,
// refreshed on the same schedule before it expires, and repaired once by a
// forced fetch under the same lease and budget when a page reports that
// WeChat refused a signature made from it.
package token

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wxsub/wxsub/shared/metrics"
	"github.com/wxsub/wxsub/shared/store"
	"github.com/wxsub/wxsub/shared/wait"
	"github.com/wxsub/wxsub/shared/wechat"
)

// Mode selects WeChat's token API.
type Mode string

const (
	// Stable uses POST /cgi-bin/stable_token, isolated from every other system
	// that calls /cgi-bin/token (the default).
	Stable Mode = "stable"
	// Classic uses GET /cgi-bin/token; each call replaces the previous token,
	// which keeps working for 5 minutes.
	Classic Mode = "classic"
)

// Kind is what a Plane keeps.
type Kind string

const (
	// AccessToken is the app's access_token (the default).
	AccessToken Kind = "access_token"
	// JSAPITicket is an official account's JS-SDK jsapi_ticket, fetched
	// with an access_token (GET /cgi-bin/ticket/getticket?type=jsapi).
	JSAPITicket Kind = "jsapi_ticket"
)

// Budget limits of forced refreshes, from WeChat's stable_token rules.
const (
	ForcePerDay  = 20
	ForceSpacing = 30 * time.Second
)

// Timing of the plane.
const (
	// readerMargin: readers stop using a token this long before it expires.
	readerMargin = 2 * time.Minute
	// classicReread: in classic mode a fetched token retires the previous one
	// 5 minutes later, so readers re-read at least this often.
	classicReread = 3 * time.Minute
	// stableWindow: WeChat's stable_token returns a new token only in the last
	// 5 minutes of the current one.
	stableWindow = 5 * time.Minute
	// schedulePeriod is the refresher's period in template.yaml.
	schedulePeriod = 5 * time.Minute
	leaseTTL       = 15 * time.Second
	waitLimit      = 10 * time.Second
	pollEvery      = 150 * time.Millisecond
)

// Errors returned by the plane.
var (
	// ErrForceBudget means a forced refresh was needed but WeChat's budget
	// (20 a day, 30 s apart) does not allow one now.
	ErrForceBudget = errors.New("token: forced refresh budget exhausted")
	// ErrUnavailable means no valid token could be had in time.
	ErrUnavailable = errors.New("token: no valid access_token available")
)

// Token is an access_token with the version of the item it came from.
type Token struct {
	Value     string
	Version   int64
	ExpiresAt time.Time
}

// String never prints the token itself.
func (t Token) String() string { return fmt.Sprintf("token(v%d)", t.Version) }

// LogValue gives log/slog the token's version and expiry, never its value.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.Int64("version", t.Version), slog.Time("expires_at", t.ExpiresAt))
}

// Config configures a Plane.
type Config struct {
	AppID, Secret string
	Mode          Mode
	// Kind is what the plane keeps; "" means AccessToken.
	Kind Kind
	// AccessTokens is, for a JSAPITicket plane, the plane of the token the
	// ticket is fetched with (its configuration without the Fetcher: the
	// process that fetches the ticket gets the token itself).
	AccessTokens *Plane
	Store        *store.Store
	WeChat       *wechat.Client
	Logger       *slog.Logger
	// Metrics counts the tokens fetched (TokenRefreshes by Cause); nil for none.
	Metrics *metrics.Writer
	// Fetcher, when set, makes the fetches this plane needs (a bootstrap, a
	// forced refresh) elsewhere: the plane never calls WeChat's token APIs
	// itself, and reads the token from the item once Fetch returns. Nil in
	// the function that fetches (the refresher).
	Fetcher Fetcher
	// Now and Sleep default to the real clock; tests move a fake one.
	Now   func() time.Time
	Sleep func(context.Context, time.Duration) error
}

// LogValue gives log/slog the plane's appid, mode and kind, never the secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("appid", c.AppID), slog.String("mode", string(c.Mode)), slog.String("kind", string(c.Kind)))
}

// Plane is one process's view of the shared token. It is safe for concurrent use.
type Plane struct {
	cfg   Config
	owner string

	// tokensHere is, for a JSAPITicket plane, the access_token plane its
	// ticket fetches use: the fetch of a ticket runs in the process that
	// fetches (the refresher), which gets its token there too, never by
	// invoking itself through a Fetcher.
	tokensHere *Plane

	mu       sync.Mutex
	cached   Token
	cachedAt time.Time
	calls    map[string]*call // in-process collapsing of reads and reports
}

type call struct {
	done chan struct{}
	tok  Token
	err  error
}

// New returns a Plane.
func New(cfg Config) *Plane {
	if cfg.Mode == "" {
		cfg.Mode = Stable
	}
	if cfg.Kind == "" {
		cfg.Kind = AccessToken
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = wait.Sleep
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	var b [8]byte
	rand.Read(b[:])
	p := &Plane{cfg: cfg, owner: hex.EncodeToString(b[:]), calls: map[string]*call{}}
	if cfg.Kind == JSAPITicket && cfg.AccessTokens != nil {
		p.tokensHere = cfg.AccessTokens
		if cfg.AccessTokens.cfg.Fetcher != nil {
			here := cfg.AccessTokens.cfg
			here.Fetcher = nil
			p.tokensHere = New(here)
		}
	}
	return p
}

// usable reports whether a reader may use tok now.
func (p *Plane) usable(tok Token, readAt time.Time) bool {
	now := p.cfg.Now()
	if tok.Value == "" || !now.Before(tok.ExpiresAt.Add(-readerMargin)) {
		return false
	}
	return !p.rereads() || now.Before(readAt.Add(classicReread))
}

// rereads reports whether a fetch may hand out a new value while the old
// one still works for a while, so that readers re-read the item often: a
// classic token, and a ticket (WeChat does not say whether getticket
// replaces the previous ticket).
func (p *Plane) rereads() bool { return p.cfg.Mode == Classic || p.cfg.Kind == JSAPITicket }

// stable reports whether the plane keeps a stable_token, which WeChat
// renews only in the last 5 minutes of the current one.
func (p *Plane) stable() bool { return p.cfg.Kind == AccessToken && p.cfg.Mode == Stable }

// item is the store item the plane keeps.
func (p *Plane) item() string {
	if p.cfg.Kind == JSAPITicket {
		return store.TicketItem
	}
	return store.TokenItem
}

// Kind is what the plane keeps.
func (p *Plane) Kind() Kind { return p.cfg.Kind }

// LogValue gives log/slog the plane's configuration, never its secret or
// the token it holds.
func (p *Plane) LogValue() slog.Value { return p.cfg.LogValue() }

// Get returns a valid token: from memory when it is fresh (no I/O), else from
// the shared item, else, when no usable token is stored yet, by fetching one
// under the fleet-wide lease.
func (p *Plane) Get(ctx context.Context) (Token, error) {
	p.mu.Lock()
	if p.usable(p.cached, p.cachedAt) {
		tok := p.cached
		p.mu.Unlock()
		return tok, nil
	}
	p.mu.Unlock()
	return p.collapse(ctx, "get", func(ctx context.Context) (Token, error) {
		rec, err := p.cfg.Store.TokenOf(ctx, p.cfg.AppID, p.item())
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return Token{}, fmt.Errorf("token: read: %w", err)
		}
		tok := fromRecord(rec)
		if p.usable(tok, p.cfg.Now()) {
			p.remember(tok)
			return tok, nil
		}
		return p.fetchUnderLease(ctx, rec.Version, "bootstrap", false)
	})
}

// ReportBad tells the plane that WeChat refused bad with a token error
// (40001, 40014, 42001) and returns the token to retry with. If the shared
// token has already moved on, that one is returned; otherwise exactly one
// caller in the fleet force-refreshes it and the others wait for the result.
func (p *Plane) ReportBad(ctx context.Context, bad Token) (Token, error) {
	p.mu.Lock()
	if p.cached.Version == bad.Version {
		p.cached = Token{}
	}
	p.mu.Unlock()
	return p.collapse(ctx, fmt.Sprintf("bad-%d", bad.Version), func(ctx context.Context) (Token, error) {
		rec, err := p.cfg.Store.TokenOf(ctx, p.cfg.AppID, p.item())
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return Token{}, fmt.Errorf("token: read: %w", err)
		}
		if rec.Version != bad.Version && rec.Token != "" && rec.Token != bad.Value {
			tok := fromRecord(rec)
			p.remember(tok)
			return tok, nil
		}
		p.cfg.Logger.Warn(string(p.cfg.Kind)+" reported bad", "appid", p.cfg.AppID, "version", bad.Version)
		return p.fetchUnderLease(ctx, rec.Version, "bad_token", true)
	})
}

// collapse runs fn once per key at a time in this process; concurrent callers
// with the same key share its result.
func (p *Plane) collapse(ctx context.Context, key string, fn func(context.Context) (Token, error)) (Token, error) {
	p.mu.Lock()
	if c, ok := p.calls[key]; ok {
		p.mu.Unlock()
		select {
		case <-c.done:
			return c.tok, c.err
		case <-ctx.Done():
			return Token{}, ctx.Err()
		}
	}
	c := &call{done: make(chan struct{})}
	p.calls[key] = c
	p.mu.Unlock()

	c.tok, c.err = fn(ctx)

	p.mu.Lock()
	delete(p.calls, key)
	p.mu.Unlock()
	close(c.done)
	return c.tok, c.err
}

func (p *Plane) remember(tok Token) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if tok.Version >= p.cached.Version || p.cached.Value == "" {
		p.cached = tok
		p.cachedAt = p.cfg.Now()
	}
}

func fromRecord(rec store.TokenRecord) Token {
	return Token{Value: rec.Token, Version: rec.Version, ExpiresAt: rec.ExpiresAt}
}

// Fetcher fetches a token into the shared item for a Plane (see Config.Fetcher).
type Fetcher interface {
	// Fetch returns once the item holds a token newer than version
	// req.Seen, or fails: ErrForceBudget and ErrUnavailable keep their
	// meaning (errors.Is).
	Fetch(ctx context.Context, req FetchRequest) error
}

// FetchRequest is what a plane asks its Fetcher for: a token newer than
// version Seen, for Cause ("bootstrap", "bad_token"), forced or not. Kind
// is JSAPITicket when the ticket is asked for ("" is the access_token).
type FetchRequest struct {
	Seen  int64  `json:"seen"`
	Cause string `json:"cause"`
	Force bool   `json:"force"`
	Kind  Kind   `json:"kind,omitempty"`
}

// FetchFor runs a fetch a Fetcher asked for, in this process, under the
// lease and the force budget, and returns the version of the token the item
// holds afterwards (never the token).
func (p *Plane) FetchFor(ctx context.Context, req FetchRequest) (int64, error) {
	switch req.Cause {
	case "bootstrap", "bad_token":
	default:
		return 0, fmt.Errorf("token: unknown fetch cause %q", req.Cause)
	}
	tok, err := p.fetchHere(ctx, req.Seen, req.Cause, req.Force)
	if err != nil {
		return 0, err
	}
	return tok.Version, nil
}

// fetchUnderLease gets a token newer than version seen: from the Fetcher
// when there is one, else in this process.
func (p *Plane) fetchUnderLease(ctx context.Context, seen int64, cause string, force bool) (Token, error) {
	if p.cfg.Fetcher == nil {
		return p.fetchHere(ctx, seen, cause, force)
	}
	req := FetchRequest{Seen: seen, Cause: cause, Force: force}
	if p.cfg.Kind != AccessToken {
		req.Kind = p.cfg.Kind
	}
	if err := p.cfg.Fetcher.Fetch(ctx, req); err != nil {
		return Token{}, fmt.Errorf("token: %s fetch by the refresher: %w", cause, err)
	}
	return p.waitForNewer(ctx, seen)
}

// fetchHere fetches a new token if this caller wins the lease on the item at
// version seen; otherwise it waits for the winner's token.
func (p *Plane) fetchHere(ctx context.Context, seen int64, cause string, force bool) (Token, error) {
	now := p.cfg.Now()
	prev, err := p.cfg.Store.LeaseTokenOf(ctx, p.cfg.AppID, p.item(), p.owner, seen, now, now.Add(leaseTTL))
	if errors.Is(err, store.ErrLeaseHeld) {
		return p.waitForNewer(ctx, seen)
	}
	if err != nil {
		return Token{}, fmt.Errorf("token: lease: %w", err)
	}
	rec, err := p.fetch(ctx, prev, cause, force)
	if err != nil {
		if rerr := p.cfg.Store.ReleaseTokenLeaseOf(context.WithoutCancel(ctx), p.cfg.AppID, p.item(), p.owner); rerr != nil {
			p.cfg.Logger.Error("release token lease", "appid", p.cfg.AppID, "err", rerr)
		}
		return Token{}, err
	}
	tok := fromRecord(rec)
	p.remember(tok)
	return tok, nil
}

// fetch asks WeChat for a token while holding the lease and saves it.
func (p *Plane) fetch(ctx context.Context, prev store.TokenRecord, cause string, force bool) (store.TokenRecord, error) {
	now := p.cfg.Now()
	next := prev
	if force {
		day := chinaDay(now)
		if prev.ForceDay != day {
			next.ForceDay, next.ForceCount = day, 0
		}
		if next.ForceCount >= ForcePerDay {
			return store.TokenRecord{}, fmt.Errorf("%w: %d forced refreshes today", ErrForceBudget, next.ForceCount)
		}
		if !prev.LastForceAt.IsZero() && now.Sub(prev.LastForceAt) < ForceSpacing {
			return store.TokenRecord{}, fmt.Errorf("%w: last forced refresh %s ago", ErrForceBudget, now.Sub(prev.LastForceAt).Round(time.Second))
		}
		next.ForceCount++
		next.LastForceAt = now
	}
	var wt wechat.Token
	var err error
	switch {
	case p.cfg.Kind == JSAPITicket:
		wt, err = p.ticket(ctx)
	case p.cfg.Mode == Classic:
		wt, err = p.cfg.WeChat.Token(ctx, p.cfg.AppID, p.cfg.Secret)
	default:
		wt, err = p.cfg.WeChat.StableToken(ctx, p.cfg.AppID, p.cfg.Secret, force)
	}
	if err != nil {
		return store.TokenRecord{}, fmt.Errorf("token: fetch (%s): %w", cause, err)
	}
	next.Token = wt.AccessToken
	next.ExpiresAt = now.Add(wt.ExpiresIn)
	next.FetchedAt = now
	next.Cause = cause
	saved, err := p.cfg.Store.SaveTokenOf(ctx, p.cfg.AppID, p.item(), p.owner, next)
	if err != nil {
		return store.TokenRecord{}, fmt.Errorf("token: save: %w", err)
	}
	p.cfg.Metrics.Count(metrics.TokenRefreshes, 1, metrics.Dim{Name: metrics.Cause, Value: cause})
	p.cfg.Logger.Info(string(p.cfg.Kind)+" refreshed", "appid", p.cfg.AppID, "cause", cause,
		"version", saved.Version, "expires_in_s", int(wt.ExpiresIn.Seconds()), "forced", force)
	return saved, nil
}

// ticket gets a jsapi_ticket with the access_token of the AccessTokens
// plane (after a token error, once more with a fresh token). getticket has
// no force mode: a forced fetch is an ordinary call, under the budget.
func (p *Plane) ticket(ctx context.Context) (wechat.Token, error) {
	if p.tokensHere == nil {
		return wechat.Token{}, errors.New("token: a jsapi_ticket plane needs the access_token plane")
	}
	var tk wechat.Ticket
	err := p.tokensHere.Call(ctx, func(accessToken string) error {
		var err error
		tk, err = p.cfg.WeChat.JSAPITicket(ctx, accessToken)
		return err
	})
	return wechat.Token{AccessToken: tk.Ticket, ExpiresIn: tk.ExpiresIn}, err
}

// waitForNewer polls the item until its version moves past seen.
func (p *Plane) waitForNewer(ctx context.Context, seen int64) (Token, error) {
	deadline := p.cfg.Now().Add(waitLimit)
	for {
		rec, err := p.cfg.Store.TokenOf(ctx, p.cfg.AppID, p.item())
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return Token{}, fmt.Errorf("token: read: %w", err)
		}
		if rec.Version > seen && rec.Token != "" {
			tok := fromRecord(rec)
			p.remember(tok)
			return tok, nil
		}
		if p.cfg.Now().After(deadline) {
			return Token{}, fmt.Errorf("%w: waited %s for another caller's refresh", ErrUnavailable, waitLimit)
		}
		if err := p.cfg.Sleep(ctx, pollEvery); err != nil {
			return Token{}, fmt.Errorf("token: wait: %w", err)
		}
	}
}

// RefreshResult says what a scheduled refresh did.
type RefreshResult struct {
	Refreshed bool
	Version   int64
	// Remaining is the lifetime left on the stored token afterwards.
	Remaining time.Duration
}

// Refresh is the scheduled job: it fetches a new token when the stored one
// would otherwise expire before the next run could replace it. In stable mode
// WeChat only issues a new token during the last 5 minutes of the current one,
// so the job waits (bounded by ctx) for that window to open.
func (p *Plane) Refresh(ctx context.Context) (RefreshResult, error) {
	rec, err := p.cfg.Store.TokenOf(ctx, p.cfg.AppID, p.item())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return RefreshResult{}, fmt.Errorf("token: read: %w", err)
	}
	now := p.cfg.Now()
	remaining := rec.ExpiresAt.Sub(now)
	ahead := schedulePeriod + 90*time.Second
	if !p.stable() {
		ahead = schedulePeriod + stableWindow + 60*time.Second
	}
	if rec.Token != "" && remaining > ahead {
		return RefreshResult{Version: rec.Version, Remaining: remaining}, nil
	}
	if rec.Token != "" && p.stable() && remaining > stableWindow {
		// Wait until WeChat will hand out the next token.
		if err := p.cfg.Sleep(ctx, remaining-stableWindow+5*time.Second); err != nil {
			return RefreshResult{}, fmt.Errorf("token: wait for the refresh window: %w", err)
		}
	}
	cause := "schedule"
	if rec.Token == "" {
		cause = "bootstrap"
	}
	tok, err := p.fetchHere(ctx, rec.Version, cause, false)
	if err != nil {
		return RefreshResult{}, err
	}
	return RefreshResult{Refreshed: tok.Version != rec.Version, Version: tok.Version, Remaining: tok.ExpiresAt.Sub(p.cfg.Now())}, nil
}

var china = time.FixedZone("CST", 8*3600)

// chinaDay is the calendar day in China time, when WeChat's daily limits reset.
func chinaDay(t time.Time) string { return t.In(china).Format("2006-01-02") }
