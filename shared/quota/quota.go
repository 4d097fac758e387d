// Package quota shows how much of WeChat's daily quota the app has left and
// what wxsub did today: GET /v1/quota for business backends (IAM), and the
// hourly quota watch, which logs each quota, emits QuotaRemainingPercent and
// warns when less than LowPercent of a daily limit is left.
package quota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/wxsub/wxsub/shared/httpapi"
	"github.com/wxsub/wxsub/shared/metrics"
	"github.com/wxsub/wxsub/shared/store"
	"github.com/wxsub/wxsub/shared/token"
	"github.com/wxsub/wxsub/shared/wechat"
)

// The WeChat API paths whose quotas wxsub watches.
const (
	SendPath         = "/cgi-bin/message/subscribe/send"
	StableTokenPath  = "/cgi-bin/stable_token"
	ClassicTokenPath = "/cgi-bin/token"
)

// LowPercent is the share of a daily limit below which the watch warns (and
// the QuotaLow alarm of template.yaml fires).
const LowPercent = 10

// TokenPath is the token API path the app uses in mode.
func TokenPath(mode token.Mode) string {
	if mode == token.Classic {
		return ClassicTokenPath
	}
	return StableTokenPath
}

// Handler is the quota function.
type Handler struct {
	AppID     string
	TokenMode token.Mode
	Store     *store.Store
	WeChat    *wechat.Client
	Tokens    *token.Plane
	Metrics   *metrics.Writer
	Logger    *slog.Logger
	// Now is the clock that picks "today"; nil means time.Now.
	Now func() time.Time
}

// Routes served by the handler.
func (h *Handler) Routes() httpapi.Router {
	return httpapi.Router{"GET /v1/quota": h.get}
}

// Handle answers the function's API routes.
func (h *Handler) Handle(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	return h.Routes().HandleWith(ctx, req, h.Logger, "appid", h.AppID)
}

// Invoke is the Lambda entry point: API events go to Handle, the schedule's
// event to Watch.
func (h *Handler) Invoke(ctx context.Context, event json.RawMessage) (any, error) {
	return httpapi.Mixed(h.Handle, func(ctx context.Context, _ json.RawMessage) (any, error) {
		return h.Watch(ctx)
	})(ctx, event)
}

// Paths are the API paths the handler reports: subscribe/send and the token API.
func (h *Handler) Paths() []string { return []string{SendPath, TokenPath(h.TokenMode)} }

// Limit is a rate limit: CallCount calls every RefreshSecond seconds.
type Limit struct {
	CallCount     int64 `json:"call_count"`
	RefreshSecond int64 `json:"refresh_second"`
}

// PathQuota is one API's quota as openapi/quota/get reports it.
type PathQuota struct {
	DailyLimit int64 `json:"daily_limit"`
	Used       int64 `json:"used"`
	Remain     int64 `json:"remain"`
	RateLimit  Limit `json:"rate_limit"`
	// ComponentRateLimit applies to third-party platforms; omitted when WeChat sends none.
	ComponentRateLimit *Limit `json:"component_rate_limit,omitempty"`
}

// RemainPercent is remain as a share of the daily limit; ok is false when
// WeChat reports no limit.
func (q PathQuota) RemainPercent() (pct float64, ok bool) {
	if q.DailyLimit <= 0 {
		return 0, false
	}
	return 100 * float64(q.Remain) / float64(q.DailyLimit), true
}

// Today is what wxsub itself did today (China time, when WeChat's quotas reset).
type Today struct {
	Day     string `json:"day"`
	Sent    int64  `json:"sent"`
	Unknown int64  `json:"unknown"`
	// Failed counts failed sends by errcode ("none" when WeChat sent none).
	Failed   map[string]int64 `json:"failed"`
	Granted  int64            `json:"granted"`
	Spent    int64            `json:"spent"`
	Released int64            `json:"released"`
}

// Answer is the body of GET /v1/quota. Each WeChat slot is a PathQuota, or
// {"error":{...}} when that path's quota could not be read.
type Answer struct {
	WeChat map[string]any `json:"wechat"`
	Today  Today          `json:"today"`
}

type slotError struct {
	Error *httpapi.Error `json:"error"`
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Quota reads one API's quota with the shared token.
func (h *Handler) Quota(ctx context.Context, path string) (PathQuota, error) {
	var q wechat.Quota
	err := h.Tokens.Call(ctx, func(accessToken string) error {
		var err error
		q, err = h.WeChat.Quota(ctx, accessToken, path)
		return err
	})
	if err != nil {
		return PathQuota{}, fmt.Errorf("quota of %s: %w", path, err)
	}
	pq := PathQuota{
		DailyLimit: q.DailyLimit, Used: q.Used, Remain: q.Remain,
		RateLimit: Limit{CallCount: q.RateLimit.CallCount, RefreshSecond: q.RateLimit.RefreshSecond},
	}
	if c := q.ComponentRateLimit; c.CallCount != 0 || c.RefreshSecond != 0 {
		pq.ComponentRateLimit = &Limit{CallCount: c.CallCount, RefreshSecond: c.RefreshSecond}
	}
	return pq, nil
}

// slotFailure is the error shown in a path's slot.
func slotFailure(err error) *httpapi.Error {
	var noTok *token.NoTokenError
	if errors.As(err, &noTok) {
		return httpapi.Errorf(http.StatusServiceUnavailable, "token_unavailable",
			"wxsub has no valid WeChat access_token right now; retry shortly")
	}
	var herr *httpapi.Error
	if errors.As(httpapi.WeChatFailure(err), &herr) {
		return herr
	}
	return httpapi.Errorf(http.StatusBadGateway, "wechat_error", "WeChat did not report the quota")
}

func (h *Handler) get(ctx context.Context, _ httpapi.Request) (httpapi.Response, error) {
	ans := Answer{WeChat: map[string]any{}}
	for _, path := range h.Paths() {
		q, err := h.Quota(ctx, path)
		if err != nil {
			h.Logger.WarnContext(ctx, "quota unavailable", "appid", h.AppID, "path", path,
				"errcode", wechat.CodeOf(err), "rid", ridOf(err), "err", err)
			ans.WeChat[path] = slotError{slotFailure(err)}
			continue
		}
		ans.WeChat[path] = q
	}
	c, err := h.Store.DayCounts(ctx, h.AppID, store.ChinaDay(h.now()))
	if err != nil {
		return httpapi.Response{}, err
	}
	ans.Today = Today{
		Day: c.Day, Sent: c.Sent, Unknown: c.Unknown, Failed: c.Failed,
		Granted: c.Granted, Spent: c.Spent, Released: c.Released,
	}
	return httpapi.JSON(http.StatusOK, ans), nil
}

// WatchResult is what one quota watch saw, by path.
type WatchResult struct {
	Paths map[string]WatchedPath `json:"paths"`
}

// WatchedPath is one path's quota as the watch saw it.
type WatchedPath struct {
	DailyLimit    int64    `json:"daily_limit"`
	Remain        int64    `json:"remain"`
	RemainPercent *float64 `json:"remain_percent,omitempty"`
	Low           bool     `json:"low,omitempty"`
	Error         string   `json:"error,omitempty"`
}

// Watch is the hourly job: it reads each path's quota, logs it, emits
// QuotaRemainingPercent, and logs a warning when less than LowPercent of the
// daily limit is left. It fails when a quota could not be read.
func (h *Handler) Watch(ctx context.Context) (WatchResult, error) {
	res := WatchResult{Paths: map[string]WatchedPath{}}
	var errs []error
	for _, path := range h.Paths() {
		q, err := h.Quota(ctx, path)
		if err != nil {
			h.Logger.ErrorContext(ctx, "quota watch: quota unavailable", "appid", h.AppID, "path", path,
				"errcode", wechat.CodeOf(err), "rid", ridOf(err), "err", err)
			res.Paths[path] = WatchedPath{Error: slotFailure(err).Code}
			errs = append(errs, err)
			continue
		}
		w := WatchedPath{DailyLimit: q.DailyLimit, Remain: q.Remain}
		pct, ok := q.RemainPercent()
		attrs := []any{"appid", h.AppID, "path", path, "daily_limit", q.DailyLimit, "used", q.Used, "remain", q.Remain}
		if ok {
			w.RemainPercent = &pct
			w.Low = pct < LowPercent
			attrs = append(attrs, "remain_percent", pct)
			h.Metrics.Emit(metrics.QuotaRemainingPercent, metrics.Percent, pct, metrics.Dim{Name: metrics.Path, Value: path})
		}
		if w.Low {
			h.Logger.WarnContext(ctx, fmt.Sprintf("quota low: less than %d%% of WeChat's daily limit is left; it resets at midnight China time", LowPercent), attrs...)
		} else {
			h.Logger.InfoContext(ctx, "quota", attrs...)
		}
		res.Paths[path] = w
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("quota watch: %w", errors.Join(errs...))
	}
	return res, nil
}

func ridOf(err error) string {
	var we *wechat.Error
	if errors.As(err, &we) {
		return we.RID
	}
	return ""
}
