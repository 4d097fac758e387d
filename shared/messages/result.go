package messages

import (
	"errors"
	"fmt"
	"time"

	"github.com/wxsub/wxsub/shared/errcode"
	"github.com/wxsub/wxsub/shared/keyword"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/store"
)

// Result is what became of one send (Send) or one due reminder
// (SendScheduled). WeChat's failures are results too: its answer was met,
// settled and recorded. A send refused before WeChat was called is an
// error instead (*RefusedError, ErrStoreUnavailable).
type Result struct {
	// MessageID is the message's id; "" for none.
	MessageID string
	// Status is the message's status: sent, failed or unknown after a
	// send, scheduled for a new reminder, or the status now of the
	// message a replay or a skipped reminder found.
	Status ledger.MessageStatus
	// SendAt is set when the result is a reminder's scheduling (a new one
	// or a repeat of its Idempotency-Key), not a delivery.
	SendAt time.Time
	// CreditsLeft is the user's balance after a successful one-time send or
	// a scheduling; nil for a long-term template, or when the store could
	// not say.
	CreditsLeft *int64
	// Warnings are what the send did that the caller should know although
	// it succeeded.
	Warnings []Warning
	// Meaning is errcode's row of WeChat's answer: errcode.Sent when WeChat
	// took the send, errcode.NoToken when wxsub had no access_token to call
	// it with; its Outcome is what the settlement did to the message and the
	// credit. The zero Meaning when WeChat was not called.
	Meaning errcode.Meaning
	// WeChat is WeChat's error (a *wechat.Error, or a *token.NoTokenError);
	// nil when WeChat took the send or was not called.
	WeChat error
	// Replayed: an earlier request with the same Idempotency-Key (or an
	// earlier delivery of the same reminder) was answered; this one sent
	// nothing.
	Replayed bool
	// Ended: the reminder ended without a send (its template changed,
	// or a zeroing revoked its held credit); Status says how.
	Ended bool

	// first is the message whose stored answer a replay repeats.
	first *store.Message
}

// ErrStoreUnavailable is wrapped by the errors of a send, a validation or a
// reminder's end that could not reach the store: nothing was sent and no
// credit spent; a retry may succeed.
var ErrStoreUnavailable = errors.New("messages: the store is unavailable")

// storeError wraps a store's failure in ErrStoreUnavailable.
func storeError(err error) error { return fmt.Errorf("%w: %w", ErrStoreUnavailable, err) }

// Reason is why a send was refused before WeChat was called.
type Reason int

// The reasons of a RefusedError.
const (
	// UnknownTemplate: the catalogue does not hold the template.
	UnknownTemplate Reason = iota + 1
	// InvalidData: keywords break WeChat's rules (Problems).
	InvalidData
	// NoCredit: the ledger row may not reserve (Refusal).
	NoCredit
	// KeyReused: the Idempotency-Key was used for another message.
	KeyReused
	// InProgress: a send with the Idempotency-Key is still in flight.
	InProgress
	// TooLate: a reminder's credit could not be held early enough before
	// its send_at.
	TooLate
)

// RefusedError is a send refused before WeChat was called: nothing was sent
// and no credit spent.
type RefusedError struct {
	Reason     Reason
	TemplateID string
	// Problems are the bad keywords of InvalidData.
	Problems []keyword.Problem
	// Refusal is the ledger's reason of NoCredit.
	Refusal ledger.Refusal
}

func (e *RefusedError) Error() string { return "messages: " + e.Message() }

// Message says what was refused and what to do about it, as the caller's
// answer and a reminder's record show it.
func (e *RefusedError) Message() string {
	switch e.Reason {
	case UnknownTemplate:
		return fmt.Sprintf("template %s is not one of this app's templates (GET /v1/templates lists them)", e.TemplateID)
	case InvalidData:
		return fmt.Sprintf("%d keyword(s) of template %s break WeChat's rules; nothing was sent", len(e.Problems), e.TemplateID)
	case NoCredit:
		msg := "the user has no credit left for this template; ask them to subscribe again (wx.requestSubscribeMessage)"
		switch e.Refusal {
		case ledger.RefusedBanned:
			msg = "WeChat banned this template (the user's popup answered ban); the user's credits are kept until an accept shows the ban lifted"
		case ledger.RefusedNotSubscribed:
			msg = "the user has not accepted this long-term template (or turned it off)"
		}
		return msg + "; nothing was sent"
	case KeyReused:
		return "this Idempotency-Key was used for a different message (touser or template_id differ); use a new key"
	case InProgress:
		return "a send with this Idempotency-Key is still in progress; retry in a few seconds"
	case TooLate:
		return fmt.Sprintf("send_at came too close while the database was busy (a reminder must be held at least %s before it); nothing was scheduled: send it now or choose a later send_at", store.HoldLead)
	}
	return fmt.Sprintf("the send was refused (reason %d)", int(e.Reason))
}

// Final reports whether a repeat of the request would be refused the same
// way, so that the refusal is remembered under its Idempotency-Key: an
// unknown template, invalid data, no credit.
func (e *RefusedError) Final() bool {
	return e.Reason == UnknownTemplate || e.Reason == InvalidData || e.Reason == NoCredit
}

// refused returns the *RefusedError in err's chain, if any.
func refused(err error) (*RefusedError, bool) {
	var r *RefusedError
	ok := errors.As(err, &r)
	return r, ok
}
