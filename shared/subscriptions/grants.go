package subscriptions

import (
	"context"

	"github.com/wxsub/wxsub/shared/metrics"
)

// countGrants records the one-time credits a report granted: the
// CreditsGranted metric and today's counter (one write, only when the report
// granted). A failed write is logged, not answered: the ledger holds the grant.
func (h *Handler) countGrants(ctx context.Context, n int64) {
	if n <= 0 {
		return
	}
	h.Metrics.Count(metrics.CreditsGranted, n)
	if err := h.Store.CountGrants(context.WithoutCancel(ctx), h.AppID, n); err != nil {
		h.Logger.WarnContext(ctx, "today's grant counter not updated", "appid", h.AppID, "granted", n, "err", err)
	}
}
