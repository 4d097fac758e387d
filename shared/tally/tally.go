// Package tally is the function that keeps wxsub's counters (today's sends
// and credits, each broadcast's outcomes) from the table's stream: Lambda
// hands it batches of the stream's records, and it adds what each batch
// counts to the counter items, exactly once (store.ApplyChanges). A batch it
// fails is handed again until it succeeds, so a DynamoDB failure delays the
// counts and never loses or doubles them.
package tally

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxsub/wxsub/shared/store"
)

// Handler is the tally function.
type Handler struct {
	Store  *store.Store
	Logger *slog.Logger
	// Reminders ends the reminders whose held credit a zeroing revoked;
	// nil leaves them to their due time, when the dispatch checks again.
	Reminders Canceller
}

// Canceller ends the held reminders of a row that a zeroing at zeroedAt
// revoked (messages.Handler.CancelRevoked).
type Canceller interface {
	CancelRevoked(ctx context.Context, k store.RowKey, zeroedAt time.Time, held int64) (int, error)
}

// Handle counts one batch of stream records.
func (h *Handler) Handle(ctx context.Context, ev events.DynamoDBEvent) error {
	changes, err := store.ChangesFromStream(ev.Records)
	if err != nil {
		return fmt.Errorf("tally: %w", err)
	}
	n, err := h.Store.ApplyChanges(ctx, changes)
	if err != nil {
		// Returned, so that Lambda hands the batch again; the records
		// counted so far are known by their marker and not counted twice.
		return fmt.Errorf("tally: after %d of %d records: %w", n, len(changes), err)
	}
	if n < len(changes) {
		h.Logger.InfoContext(ctx, "batch handed again: records counted before were skipped",
			"records", len(changes), "counted_now", n)
	}
	// A zeroing revokes the credits held for reminders with the balance:
	// those reminders end now rather than at their time. Ending one twice
	// is a no-op, so a batch handed again does no harm.
	if h.Reminders == nil {
		return nil
	}
	for _, c := range changes {
		k, at, held, ok := store.ZeroedWhileHeld(c)
		if !ok {
			continue
		}
		if _, err := h.Reminders.CancelRevoked(ctx, k, at, held); err != nil {
			return fmt.Errorf("tally: end the reminders a zeroing revoked: %w", err)
		}
	}
	return nil
}
