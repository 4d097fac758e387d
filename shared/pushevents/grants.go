package pushevents

import (
	"context"

	"github.com/wxsub/wxsub/shared/metrics"
)

// countGrant records a one-time credit a popup event granted (the client's
// report of the same tap will pair with it and grant nothing) in the
// CreditsGranted metric. Today's counter follows from the ledger row's
// change, through the table's stream (store.ApplyChanges).
func (h *Handler) countGrant(context.Context) {
	h.Metrics.Count(metrics.CreditsGranted, 1)
}
