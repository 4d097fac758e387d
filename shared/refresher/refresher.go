// Package refresher is the scheduled function that keeps the app's shared
// access_token fresh (every 5 minutes, EventBridge Scheduler).
package refresher

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/wxsub/wxsub/shared/token"
)

// Handler is the refresh-token function.
type Handler struct {
	AppID  string
	Tokens *token.Plane
	Logger *slog.Logger
}

// Result is what one run did; it never carries the token.
type Result struct {
	Refreshed        bool  `json:"refreshed"`
	Version          int64 `json:"version"`
	RemainingSeconds int64 `json:"remaining_seconds"`
}

// Handle is the Lambda entry point; the scheduler's input is ignored.
func (h *Handler) Handle(ctx context.Context, _ json.RawMessage) (Result, error) {
	res, err := h.Tokens.Refresh(ctx)
	if err != nil {
		h.Logger.ErrorContext(ctx, "token refresh failed", "appid", h.AppID, "err", err)
		return Result{}, fmt.Errorf("refresh access_token: %w", err)
	}
	h.Logger.InfoContext(ctx, "token refresh", "appid", h.AppID, "refreshed", res.Refreshed,
		"version", res.Version, "remaining_s", int64(res.Remaining.Seconds()))
	return Result{Refreshed: res.Refreshed, Version: res.Version, RemainingSeconds: int64(res.Remaining.Seconds())}, nil
}
