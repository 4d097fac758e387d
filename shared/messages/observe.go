package messages

import (
	"strconv"

	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/metrics"
	"github.com/wxsub/wxsub/shared/store"
)

// observeSend emits the metrics of one settled send: Sends by Outcome and
// ErrCode, and for a one-time credit CreditsSpent or CreditsReleased.
func (h *Handler) observeSend(rec store.Message, kind ledger.Kind, effect ledger.CreditEffect) {
	code := strconv.Itoa(rec.ErrCode)
	if rec.Status != ledger.Sent {
		code = store.FailureKey(rec.ErrCode)
	}
	h.Metrics.Count(metrics.Sends, 1,
		metrics.Dim{Name: metrics.Outcome, Value: string(rec.Status)}, metrics.Dim{Name: metrics.ErrCode, Value: code})
	if kind == ledger.LongTerm {
		return
	}
	if effect == ledger.Release {
		h.Metrics.Count(metrics.CreditsReleased, 1)
	} else {
		h.Metrics.Count(metrics.CreditsSpent, 1)
	}
}

// observeInvalid counts a send refused with 422 invalid_data before WeChat was called.
func (h *Handler) observeInvalid(templateID string) {
	h.Metrics.Count(metrics.ValidationFailures, 1, metrics.Dim{Name: metrics.Template, Value: templateID})
}
