// Package refresher is the function that keeps the app's shared access_token
// fresh (every 5 minutes, EventBridge Scheduler) and makes every other call to
// WeChat's token APIs: the other functions invoke it synchronously when they
// need a token fetched (the first one, or one to replace a token WeChat
// refused), so only this function needs an IP on the account's whitelist.
// For an official account it keeps the JS-SDK's jsapi_ticket the same way.
package refresher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/wxsub/wxsub/shared/metrics"
	"github.com/wxsub/wxsub/shared/store"
	"github.com/wxsub/wxsub/shared/token"
)

// AgeAlarm is the token age at which template.yaml's TokenAgeAlarm fires.
// A healthy token gets older than 100 minutes: WeChat's stable_token only
// issues the next token in the last 5 minutes of the current one, so the
// refresher replaces it when less than 6.5 minutes are left (about 113.5
// minutes old); classic mode replaces it at about 109 minutes. 117 minutes
// (under 3 minutes left of 2 hours) is past both and before readers stop
// using a token (2 minutes before it expires).
const AgeAlarm = 117 * time.Minute

// Handler is the refresh-token function.
type Handler struct {
	AppID  string
	Tokens *token.Plane
	// Tickets is the jsapi_ticket plane of an official account; nil for a
	// mini-program.
	Tickets *token.Plane
	Logger  *slog.Logger
	// Store and Metrics, when set, make every run emit TokenAgeSeconds: how
	// long ago the stored token was fetched.
	Store   *store.Store
	Metrics *metrics.Writer
	// Now is the clock of the age; nil means time.Now.
	Now func() time.Time
}

// Result is what one run did; it never carries the token.
type Result struct {
	Refreshed        bool  `json:"refreshed"`
	Version          int64 `json:"version"`
	RemainingSeconds int64 `json:"remaining_seconds,omitempty"`
	// AgeSeconds is how long ago the stored token was fetched.
	AgeSeconds int64 `json:"age_seconds,omitempty"`
	// Error says why a fetch asked for by another function was refused:
	// "force_budget" or "unavailable" (see Client).
	Error string `json:"error,omitempty"`
	// TicketRefreshed and TicketVersion say what a scheduled run did to an
	// official account's jsapi_ticket.
	TicketRefreshed bool  `json:"ticket_refreshed,omitempty"`
	TicketVersion   int64 `json:"ticket_version,omitempty"`
}

// Request is the function's input: the schedule's {"job":"refresh-token"},
// or another function's {"job":"fetch-token","seen","cause","force"}.
type Request struct {
	Job string `json:"job"`
	token.FetchRequest
}

// Jobs of Request.
const (
	JobRefresh = "refresh-token"
	JobFetch   = "fetch-token"
)

// Handle is the Lambda entry point.
func (h *Handler) Handle(ctx context.Context, in json.RawMessage) (Result, error) {
	var req Request
	if len(in) > 0 {
		if err := json.Unmarshal(in, &req); err != nil {
			return Result{}, fmt.Errorf("refresher: decode input: %w", err)
		}
	}
	if req.Job == JobFetch {
		return h.fetch(ctx, req.FetchRequest)
	}
	return h.refresh(ctx)
}

// fetch runs a fetch another function asked for. A refusal of the plane
// (the force budget spent, no token in time) is an answer, not a failure of
// the function.
func (h *Handler) fetch(ctx context.Context, req token.FetchRequest) (Result, error) {
	plane := h.Tokens
	switch req.Kind {
	case "", token.AccessToken:
	case token.JSAPITicket:
		if h.Tickets == nil {
			return Result{}, fmt.Errorf("refresher: a jsapi_ticket was asked for, but this app is not an official account")
		}
		plane = h.Tickets
	default:
		return Result{}, fmt.Errorf("refresher: unknown kind %q", req.Kind)
	}
	v, err := plane.FetchFor(ctx, req)
	switch {
	case errors.Is(err, token.ErrForceBudget):
		h.Logger.WarnContext(ctx, "token fetch refused", "appid", h.AppID, "cause", req.Cause, "err", err)
		return Result{Error: errForceBudget}, nil
	case errors.Is(err, token.ErrUnavailable):
		h.Logger.WarnContext(ctx, "token fetch refused", "appid", h.AppID, "cause", req.Cause, "err", err)
		return Result{Error: errUnavailable}, nil
	case err != nil:
		h.Logger.ErrorContext(ctx, "token fetch failed", "appid", h.AppID, "cause", req.Cause, "err", err)
		return Result{}, fmt.Errorf("fetch access_token (%s): %w", req.Cause, err)
	}
	return Result{Refreshed: v != req.Seen, Version: v}, nil
}

// refresh is the scheduled run.
func (h *Handler) refresh(ctx context.Context) (Result, error) {
	res, err := h.Tokens.Refresh(ctx)
	age := h.emitAge(ctx)
	if err != nil {
		h.Logger.ErrorContext(ctx, "token refresh failed", "appid", h.AppID, "err", err)
		return Result{}, fmt.Errorf("refresh access_token: %w", err)
	}
	h.Logger.InfoContext(ctx, "token refresh", "appid", h.AppID, "refreshed", res.Refreshed,
		"version", res.Version, "remaining_s", int64(res.Remaining.Seconds()), "age_s", int64(age.Seconds()))
	out := Result{Refreshed: res.Refreshed, Version: res.Version, RemainingSeconds: int64(res.Remaining.Seconds()),
		AgeSeconds: int64(age.Seconds())}
	if h.Tickets != nil {
		tr, err := h.Tickets.Refresh(ctx)
		if err != nil {
			h.Logger.ErrorContext(ctx, "jsapi_ticket refresh failed", "appid", h.AppID, "err", err)
			return Result{}, fmt.Errorf("refresh jsapi_ticket: %w", err)
		}
		h.Logger.InfoContext(ctx, "jsapi_ticket refresh", "appid", h.AppID, "refreshed", tr.Refreshed,
			"version", tr.Version, "remaining_s", int64(tr.Remaining.Seconds()))
		out.TicketRefreshed, out.TicketVersion = tr.Refreshed, tr.Version
	}
	return out, nil
}

const (
	errForceBudget = "force_budget"
	errUnavailable = "unavailable"
)

// emitAge reads the stored token and emits its age, after a failed run too:
// an age that keeps growing is what the TokenAgeSeconds alarm watches.
func (h *Handler) emitAge(ctx context.Context) time.Duration {
	if h.Store == nil {
		return 0
	}
	rec, err := h.Store.Token(context.WithoutCancel(ctx), h.AppID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			h.Logger.WarnContext(ctx, "token age unknown", "appid", h.AppID, "err", err)
		}
		return 0
	}
	if rec.FetchedAt.IsZero() {
		return 0
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	age := max(now().Sub(rec.FetchedAt), 0)
	h.Metrics.Emit(metrics.TokenAgeSeconds, metrics.Seconds, age.Seconds())
	return age
}
