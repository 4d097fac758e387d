// Package refresher is the scheduled function that keeps the app's shared
// access_token fresh (every 5 minutes, EventBridge Scheduler).
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
	Logger *slog.Logger
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
	RemainingSeconds int64 `json:"remaining_seconds"`
	// AgeSeconds is how long ago the stored token was fetched.
	AgeSeconds int64 `json:"age_seconds"`
}

// Handle is the Lambda entry point; the scheduler's input is ignored.
func (h *Handler) Handle(ctx context.Context, _ json.RawMessage) (Result, error) {
	res, err := h.Tokens.Refresh(ctx)
	age := h.emitAge(ctx)
	if err != nil {
		h.Logger.ErrorContext(ctx, "token refresh failed", "appid", h.AppID, "err", err)
		return Result{}, fmt.Errorf("refresh access_token: %w", err)
	}
	h.Logger.InfoContext(ctx, "token refresh", "appid", h.AppID, "refreshed", res.Refreshed,
		"version", res.Version, "remaining_s", int64(res.Remaining.Seconds()), "age_s", int64(age.Seconds()))
	return Result{Refreshed: res.Refreshed, Version: res.Version, RemainingSeconds: int64(res.Remaining.Seconds()),
		AgeSeconds: int64(age.Seconds())}, nil
}

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
