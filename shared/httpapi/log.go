package httpapi

import (
	"context"
	"log/slog"
	"time"
)

// HandleWith is Handle logging to log: one line per request with its
// request_id, route (the route key, never the raw path, which may hold an
// openid), status and duration_ms, plus attrs (e.g. "appid", appid).
func (r Router) HandleWith(ctx context.Context, req Request, log *slog.Logger, attrs ...any) (Response, error) {
	start := time.Now()
	resp := r.dispatch(ctx, req, log)
	level := slog.LevelInfo
	if resp.StatusCode >= 500 {
		level = slog.LevelError
	}
	args := append([]any{
		"request_id", req.RequestContext.RequestID,
		"route", req.RouteKey,
		"status", resp.StatusCode,
		"duration_ms", time.Since(start).Milliseconds(),
	}, attrs...)
	log.Log(ctx, level, "request", args...)
	return resp, nil
}
