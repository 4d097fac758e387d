package pushevents

import (
	"context"

	"github.com/wxsub/wxsub/shared/metrics"
)

// countGrant records a one-time credit a popup event granted (the client's
// report of the same tap will pair with it and grant nothing): the
// CreditsGranted metric and today's counter. A failed write is logged: the
// ledger already holds the grant.
func (h *Handler) countGrant(ctx context.Context) {
	h.Metrics.Count(metrics.CreditsGranted, 1)
	if err := h.Store.CountGrants(context.WithoutCancel(ctx), h.AppID, 1); err != nil {
		h.Logger.WarnContext(ctx, "today's grant counter not updated", "appid", h.AppID, "err", err)
	}
}
