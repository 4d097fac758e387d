package ledger

// MessageStatus is the life-cycle state of one message.
type MessageStatus string

const (
	// Scheduled: a reminder whose credit is held until its send_at.
	Scheduled MessageStatus = "scheduled"
	// Pending: reserved, WeChat not answered yet.
	Pending MessageStatus = "pending"
	// Sent: WeChat answered 0.
	Sent MessageStatus = "sent"
	// Delivered: WeChat's subscribe_msg_sent_event reported success.
	Delivered MessageStatus = "delivered"
	// Failed: WeChat refused the message; nothing was delivered.
	Failed MessageStatus = "failed"
	// Unknown: the request reached WeChat but no answer came back.
	Unknown MessageStatus = "unknown"
	// Cancelled: a reminder that ended before its send started (cancelled
	// by the caller, or its held credit revoked by a zeroing); WeChat was
	// not called.
	Cancelled MessageStatus = "cancelled"
)

// CreditEffect is what settling a send does to the reserved credit.
type CreditEffect int

const (
	// Spend keeps the reserved credit spent.
	Spend CreditEffect = iota
	// Release gives the reserved credit back.
	Release
	// SpendAndZero keeps it spent and turns the rest of the balance to 0
	// (WeChat answered 43101: it says no authorisation is left).
	SpendAndZero
)

// Retry says whether a send should try WeChat again before settling.
type Retry int

const (
	// NoRetry settles now.
	NoRetry Retry = iota
	// RetryFreshToken retries once after reporting the token as bad.
	RetryFreshToken
	// RetryBackoff retries with jittered backoff (43108: another send to the
	// user is in flight).
	RetryBackoff
)

// Outcome is what WeChat's answer to a send does to the message and its
// credit: one column of errcode's table.
type Outcome struct {
	Status MessageStatus
	Credit CreditEffect
	Retry  Retry
	// Retryable tells the caller that the same send may succeed later.
	Retryable bool
}

// FreesKey reports whether the send's Idempotency-Key is freed by this
// outcome: nothing was delivered and the credit was released for a reason
// that may pass (-1, 45009, 45011, 43108 after its retries, a token error
// after its retry), so that the retry the answer asks for is a new attempt.
// Every other outcome is final and its answer is replayed to a repeat.
func (o Outcome) FreesKey() bool {
	return o.Status == Failed && o.Credit == Release && o.Retryable
}
