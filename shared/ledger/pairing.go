package ledger

import "time"

// PairWindow is how long the two reports of one "allow" tap, the
// mini-program's and WeChat's subscribe_msg_popup_event, wait for each other.
// Within it the second report of a tap grants nothing.
const PairWindow = 10 * time.Minute

// Source is where wxsub learnt of an accept.
type Source string

const (
	// FromClient is the mini-program's report of wx.requestSubscribeMessage.
	FromClient Source = "client"
	// FromPush is WeChat's subscribe_msg_popup_event.
	FromPush Source = "push"
)

// Other is the source that reports the same tap the other way.
func (s Source) Other() Source {
	if s == FromClient {
		return FromPush
	}
	return FromClient
}

// Unpaired counts the accepts one source granted that the other source has
// not reported yet.
type Unpaired struct {
	Count int64
	// At is when the latest of them was granted.
	At time.Time
}

// Open reports whether an accept arriving at now from the other source pairs
// with one of p's: there is one, and the latest is at most PairWindow old.
func (p Unpaired) Open(now time.Time) bool {
	return p.Count >= 1 && !p.At.Before(now.Add(-PairWindow))
}

// UnpairedFrom returns the accepts of src on r still waiting for the other source.
func (r Row) UnpairedFrom(src Source) Unpaired {
	if src == FromClient {
		return r.ClientPending
	}
	return r.PushPending
}

func (r *Row) setUnpaired(src Source, p Unpaired) {
	if src == FromClient {
		r.ClientPending = p
	} else {
		r.PushPending = p
	}
}

// AcceptFrom applies a one-time accept learnt from src at now, the way the
// store does it atomically. When the other source has an open pending accept
// the two are one tap: that pending accept is used up and nothing is granted
// (paired is true; status and balance stay as they are, since the first report
// already applied them). Otherwise one credit is granted and counted as
// pending for src, so that the other report of the same tap pairs with it.
//
// Pairing counts taps and cannot tell them apart: two taps within the window
// of which the client reported one and WeChat pushed the other count once.
func AcceptFrom(r Row, src Source, now time.Time) (after Row, paired bool) {
	other := r.UnpairedFrom(src.Other())
	if other.Open(now) {
		other.Count--
		r.setUnpaired(src.Other(), other)
		return r, true
	}
	r = Apply(r, Change{Status: Accept, Grant: 1})
	own := r.UnpairedFrom(src)
	r.setUnpaired(src, Unpaired{Count: own.Count + 1, At: now})
	r.UpdatedAt = now
	return r, false
}
