// Package sweep settles the sends that stopped between their reservation and
// their settlement (a function timeout, a crash): every five minutes it
// turns a message still pending after PendingAfter into unknown, its credit
// counted spent (WeChat may have delivered it: never risk a double
// delivery), and takes it out of flight. A later subscribe_msg_sent_event
// settles it as delivered or failed, as for any unknown send.
package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/wxsub/wxsub/shared/httpapi"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/store"
)

// Batch bounds how many messages one run settles; the next run takes the rest.
const Batch = 1000

// Handler is the sweep function.
type Handler struct {
	AppID string
	Store *store.Store
	// PendingAfter is the age at which a pending message is stale.
	PendingAfter time.Duration
	Logger       *slog.Logger
	// Now is time.Now when nil (tests move it).
	Now func() time.Time
}

// Result is what one run did.
type Result struct {
	// Swept is how many stale messages became unknown.
	Swept int `json:"swept"`
	// Settled is how many were settled by their own send meanwhile.
	Settled int `json:"settled"`
}

// Invoke is the Lambda entry point (the schedule's input is ignored).
func (h *Handler) Invoke(ctx context.Context, _ json.RawMessage) (Result, error) { return h.Run(ctx) }

// Run sweeps once.
func (h *Handler) Run(ctx context.Context) (Result, error) {
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	stale, err := h.Store.StalePending(ctx, h.AppID, now().Add(-h.PendingAfter), Batch)
	if err != nil {
		return Result{}, fmt.Errorf("sweep: %w", err)
	}
	var res Result
	var errs []error
	for _, m := range stale {
		m.Status = ledger.Unknown
		answer := httpapi.Errorf(http.StatusGatewayTimeout, "wechat_timeout",
			"the send stopped before WeChat's answer was recorded; the message may have been delivered, so its credit stays spent (status unknown)")
		answer.Details = append(answer.Details, map[string]string{"message_id": m.ID, "status": string(ledger.Unknown)})
		resp := answer.Response()
		m.AnswerStatus, m.Answer = resp.StatusCode, resp.Body
		err := h.Store.Settle(ctx, store.Settlement{
			Row:  store.RowKey{AppID: m.AppID, OpenID: m.OpenID, TemplateID: m.TemplateID},
			Kind: m.Kind, Effect: ledger.Spend, Message: m,
		})
		switch {
		case errors.Is(err, store.ErrSettled):
			res.Settled++
		case err != nil:
			errs = append(errs, err)
		default:
			res.Swept++
			h.Logger.WarnContext(ctx, "pending message swept: its send stopped before settling; status unknown, credit spent",
				"appid", h.AppID, "message_id", m.ID, "template", m.TemplateID, "created_at", m.CreatedAt)
		}
	}
	if len(stale) > 0 || len(errs) > 0 {
		h.Logger.InfoContext(ctx, "sweep done", "appid", h.AppID, "swept", res.Swept, "settled", res.Settled, "errors", len(errs))
	}
	return res, errors.Join(errs...)
}
