package subscriptions

import (
	"context"

	"github.com/wxsub/wxsub/shared/metrics"
)

// countGrants records the one-time credits a report granted in the
// CreditsGranted metric. Today's counter follows from the ledger rows'
// changes, through the table's stream (store.ApplyChanges): the report
// itself writes nothing more.
func (h *Handler) countGrants(_ context.Context, n int64) {
	if n > 0 {
		h.Metrics.Count(metrics.CreditsGranted, n)
	}
}
