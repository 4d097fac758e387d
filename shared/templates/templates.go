// Package templates serves the app's template catalogue: GET /v1/templates
// for the mini-program (session auth), POST /v1/templates/sync for business
// backends (IAM), which pulls WeChat's gettemplate into the store and answers
// the catalogue, and the hourly sync on a schedule.
//
// Servers read the catalogue through the sync route's answer: an HTTP API
// route is either IAM-authorised or not, so GET /v1/templates, which the
// mini-program calls with its session token, cannot also take SigV4.
package templates

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/wxsub/wxsub/shared/catalog"
	"github.com/wxsub/wxsub/shared/httpapi"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/sessiontoken"
	"github.com/wxsub/wxsub/shared/store"
	"github.com/wxsub/wxsub/shared/token"
	"github.com/wxsub/wxsub/shared/wechat"
)

// Handler is the templates function.
type Handler struct {
	AppID    string
	Catalog  *catalog.Catalog
	WeChat   *wechat.Client
	Tokens   *token.Plane
	Sessions *sessiontoken.Signer
	Logger   *slog.Logger
}

// Routes served by the handler.
func (h *Handler) Routes() httpapi.Router {
	return httpapi.Router{
		"GET /v1/templates":       h.list,
		"POST /v1/templates/sync": h.sync,
	}
}

// Handle answers the function's API routes.
func (h *Handler) Handle(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	return h.Routes().HandleWith(ctx, req, h.Logger, "appid", h.AppID)
}

// Invoke is the Lambda entry point: API events go to Handle, the schedule's
// event to Scheduled.
func (h *Handler) Invoke(ctx context.Context, event json.RawMessage) (any, error) {
	return httpapi.Mixed(h.Handle, func(ctx context.Context, _ json.RawMessage) (any, error) {
		return h.Scheduled(ctx)
	})(ctx, event)
}

// Keyword is one keyword of a template as the routes show it. MaxLen is
// omitted for types whose rule is not a plain length (time, date, amount,
// enum); Enum only for enum keywords.
type Keyword struct {
	Key    string   `json:"key"`
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	MaxLen int      `json:"max_len,omitempty"`
	Enum   []string `json:"enum,omitempty"`
}

// Template is one template as the routes show it.
type Template struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Type is one_time or long_term.
	Type     string    `json:"type"`
	Keywords []Keyword `json:"keywords"`
}

// Answer is the body of both routes. SyncedAt is null before the first sync.
type Answer struct {
	Templates []Template `json:"templates"`
	SyncedAt  *string    `json:"synced_at"`
}

func answer(ts []store.Template) Answer {
	a := Answer{Templates: make([]Template, 0, len(ts))}
	var synced time.Time
	for _, t := range ts {
		out := Template{ID: t.ID, Title: t.Title, Type: string(ledger.KindOf(t.Type)), Keywords: []Keyword{}}
		for _, k := range t.Keywords {
			out.Keywords = append(out.Keywords, Keyword{Key: k.Key, Name: k.Name, Type: k.Type, MaxLen: k.MaxLen, Enum: k.Enum})
		}
		a.Templates = append(a.Templates, out)
		if t.SyncedAt.After(synced) {
			synced = t.SyncedAt
		}
	}
	if !synced.IsZero() {
		s := synced.UTC().Format(time.RFC3339)
		a.SyncedAt = &s
	}
	return a
}

func (h *Handler) list(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	if _, err := httpapi.Session(req, h.Sessions, h.AppID); err != nil {
		return httpapi.Response{}, err
	}
	ts, err := h.Catalog.All(ctx)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, answer(ts)), nil
}

func (h *Handler) sync(ctx context.Context, _ httpapi.Request) (httpapi.Response, error) {
	ts, err := h.Sync(ctx)
	if err != nil {
		if errors.Is(err, catalog.ErrEmptyAnswer) {
			return httpapi.Response{}, httpapi.Errorf(http.StatusBadGateway, "wechat_error",
				"WeChat's gettemplate listed no template while the catalogue holds %d; the catalogue is unchanged. "+
					"Check the templates in the mini-program's console and sync again", h.stored(ctx))
		}
		var noTok *token.NoTokenError
		if errors.As(err, &noTok) {
			return httpapi.Response{}, httpapi.Errorf(http.StatusServiceUnavailable, "token_unavailable",
				"wxsub has no valid WeChat access_token right now; the catalogue is unchanged; retry shortly")
		}
		var we *wechat.Error
		if errors.As(err, &we) && we.HTTPStatus != 0 && errors.Is(err, wechat.ErrOutcomeUnknown) {
			// An answer came but could not be read: not a timeout, and
			// gettemplate changes nothing at WeChat, so its outcome is known.
			return httpapi.Response{}, httpapi.Errorf(http.StatusBadGateway, "wechat_error",
				"WeChat's gettemplate answer (HTTP %d) could not be read; the catalogue is unchanged; sync again later", we.HTTPStatus)
		}
		if errors.As(err, &we) {
			return httpapi.Response{}, httpapi.WeChatFailure(err)
		}
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, answer(ts)), nil
}

// Sync pulls gettemplate with the shared token (reporting a refused token
// and retrying once), stores every template and deletes the entries WeChat
// no longer lists. It returns the catalogue ordered by id.
func (h *Handler) Sync(ctx context.Context) ([]store.Template, error) {
	var ts []store.Template
	err := h.Tokens.Call(ctx, func(accessToken string) error {
		var err error
		ts, err = h.Catalog.Sync(ctx, h.WeChat, accessToken)
		return err
	})
	if errors.Is(err, catalog.ErrEmptyAnswer) {
		h.Logger.WarnContext(ctx, "template sync refused: gettemplate listed no template while the catalogue holds some; the catalogue is unchanged",
			"appid", h.AppID, "templates", h.stored(ctx))
		return nil, fmt.Errorf("sync templates: %w", err)
	}
	if err != nil {
		h.Logger.ErrorContext(ctx, "template sync failed", "appid", h.AppID,
			"errcode", wechat.CodeOf(err), "rid", ridOf(err), "err", err)
		return nil, fmt.Errorf("sync templates: %w", err)
	}
	h.Logger.InfoContext(ctx, "templates synced", "appid", h.AppID, "templates", len(ts))
	return ts, nil
}

// SyncResult is what a scheduled sync did.
type SyncResult struct {
	Templates int `json:"templates"`
}

// stored counts the catalogue's templates, for messages; -1 when unreadable.
func (h *Handler) stored(ctx context.Context) int {
	ts, err := h.Catalog.All(ctx)
	if err != nil {
		return -1
	}
	return len(ts)
}

// Scheduled is the hourly job: one Sync. An empty answer refused by the
// catalogue guard is logged (WARN) and keeps the catalogue; it is not an
// error of the schedule, which would only retry the same answer.
func (h *Handler) Scheduled(ctx context.Context) (SyncResult, error) {
	ts, err := h.Sync(ctx)
	if errors.Is(err, catalog.ErrEmptyAnswer) {
		return SyncResult{Templates: h.stored(ctx)}, nil
	}
	if err != nil {
		return SyncResult{}, err
	}
	return SyncResult{Templates: len(ts)}, nil
}

func ridOf(err error) string {
	var we *wechat.Error
	if errors.As(err, &we) {
		return we.RID
	}
	return ""
}
