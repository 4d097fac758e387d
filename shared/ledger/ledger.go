// Package ledger holds wxsub's accounting rules for subscription-message
// authorisations, as pure functions: a user's tap or WeChat's answer goes in,
// the change to one ledger row comes out. Nothing here does I/O; the store
// turns a Change into one atomic DynamoDB update.
//
// A ledger row exists per appid × openid × template. For one-time templates it
// counts credits (one per "allow" tap) and keeps the invariant
//
//	granted = credits + held + spent + revoked
//
// where held is set aside for scheduled reminders, spent covers messages
// reserved, in flight, accepted by WeChat, unknown, or answered 43101, and
// revoked is what a 43101, a change-event reject or the main switch turned to
// 0 (a reminder's held credit included).
package ledger

import (
	"strings"
	"time"
)

// Kind is the template's subscription type.
type Kind string

const (
	// OneTime templates (WeChat type 2) allow one message per "allow" tap.
	OneTime Kind = "one_time"
	// LongTerm templates (WeChat type 3) allow any number of messages after one "allow".
	LongTerm Kind = "long_term"
)

// KindOf maps WeChat's template type (2 one-time, 3 long-term) to a Kind;
// anything else, including an unknown template, counts as one-time.
func KindOf(templateType int) Kind {
	if templateType == 3 {
		return LongTerm
	}
	return OneTime
}

// Cost is how many credits one send spends: 1 for one-time, 0 for long-term.
func (k Kind) Cost() int64 {
	if k == LongTerm {
		return 0
	}
	return 1
}

// Status is the user's latest decision about a template.
type Status string

const (
	// StatusNone means the user never answered for this template.
	StatusNone Status = ""
	// Accept means the user tapped "allow".
	Accept Status = "accept"
	// Reject means the user tapped "cancel" or switched the template off.
	Reject Status = "reject"
	// Ban means WeChat's platform banned the template ("已被后台封禁"): not the
	// user's choice, so credits are kept; sends are refused (WeChat would
	// answer 43107) until the next accept shows the ban lifted.
	Ban Status = "ban"
	// Off means the user turned the mini-program's main subscription switch off.
	Off Status = "off"
)

// Tap is one answer recorded for a template, from the client's report of
// wx.requestSubscribeMessage or from one of WeChat's push events.
type Tap string

const (
	// TapAccept is an "accept" popup result.
	TapAccept Tap = "accept"
	// TapReject is a "reject" popup result.
	TapReject Tap = "reject"
	// TapBan is a "ban" popup result: the platform banned the template.
	TapBan Tap = "ban"
	// TapFilter is a "filter" popup result (a duplicate title); it changes nothing.
	TapFilter Tap = "filter"
	// TapCancel is a "cancel" of an official account's <wx-open-subscribe>
	// popup (the user closed it); it changes nothing. ParseTap does not
	// take it: mini-program popups have no such status.
	TapCancel Tap = "cancel"
	// TapSwitchReject is a subscribe_msg_change_event "reject": the user switched the template off.
	TapSwitchReject Tap = "switch_reject"
	// TapSwitchAccept is a subscribe_msg_change_event accept: the user switched
	// the template back on in the settings. It grants nothing: a one-time
	// credit comes only from a popup's accept.
	TapSwitchAccept Tap = "switch_accept"
	// TapMainSwitchOff is errCode 20004: the mini-program's main switch is off.
	TapMainSwitchOff Tap = "off"
)

// ParseTap maps a popup result string to a Tap; ok is false for anything
// else. Every status that starts with "accept" is an accept: WeChat answers
// acceptWithAudio when the user also turned the voice reminder on
// (https://developers.weixin.qq.com/miniprogram/dev/framework/open-ability/subscribe-message.html,
// "订阅消息语音提醒"), and acceptWithAlert or acceptWithForcePush for its
// strong reminders (WeChat staff, 2024-05-20:
// https://developers.weixin.qq.com/community/develop/doc/000688a17e8448fdde819bcf567000).
func ParseTap(s string) (Tap, bool) {
	switch t := Tap(s); {
	case t == TapReject, t == TapBan, t == TapFilter:
		return t, true
	case IsAccept(s):
		return TapAccept, true
	}
	return "", false
}

// IsAccept reports whether a popup result or a popup event's
// SubscribeStatusString is an accept: "accept" or any status that starts
// with it (acceptWithAudio, acceptWithAlert, acceptWithForcePush).
func IsAccept(status string) bool {
	return strings.HasPrefix(status, string(TapAccept))
}

// Change is what one tap does to a ledger row. Grant and Revoke never occur together.
type Change struct {
	// Status is the row's new status; StatusNone keeps the old one.
	Status Status
	// Grant adds that many credits (and the same to granted).
	Grant int64
	// Revoke turns the remaining credits to 0, adding them to revoked.
	Revoke bool
	// Ignore means the tap changes nothing at all.
	Ignore bool
}

// OnTap returns the change a tap makes to a row of the given kind.
func OnTap(kind Kind, t Tap) Change {
	switch t {
	case TapAccept:
		if kind == OneTime {
			return Change{Status: Accept, Grant: 1}
		}
		return Change{Status: Accept}
	case TapReject:
		return Change{Status: Reject}
	case TapBan:
		return Change{Status: Ban}
	case TapSwitchReject:
		return Change{Status: Reject, Revoke: kind == OneTime}
	case TapSwitchAccept:
		return Change{Status: Accept}
	case TapMainSwitchOff:
		return Change{Status: Off, Revoke: kind == OneTime}
	}
	return Change{Ignore: true}
}

// Row is one ledger row: a user's authorisations for one template.
type Row struct {
	AppID      string
	OpenID     string
	TemplateID string
	Kind       Kind
	Status     Status
	// Credits left to spend (one-time only).
	Credits int64
	// Granted counts every accepted one-time tap.
	Granted int64
	// Spent counts credits consumed by sends (reserved, accepted, unknown or 43101).
	Spent int64
	// Held counts credits set aside for scheduled reminders: no longer in
	// Credits, not spent until the reminder's send starts. Every row keeps
	// Granted = Credits + Held + Spent + Revoked.
	Held int64
	// Revoked counts credits that WeChat or the user turned to 0.
	Revoked int64
	// Inflight counts sends reserved and not settled yet.
	Inflight int64
	// ZeroedAt is when the balance was last turned to 0 (a 43101, a change
	// event's reject, the main switch off); zero if never.
	ZeroedAt  time.Time
	UpdatedAt time.Time
	// ClientPending and PushPending are one-time accepts granted from one
	// source and not yet reported by the other (see AcceptFrom).
	ClientPending, PushPending Unpaired
}

// Apply returns the row after the change, as the store applies it atomically.
func Apply(r Row, c Change) Row {
	if c.Ignore {
		return r
	}
	if c.Status != StatusNone {
		r.Status = c.Status
	}
	if c.Grant > 0 {
		r.Credits += c.Grant
		r.Granted += c.Grant
	}
	if c.Revoke {
		r.Revoked += r.Credits
		r.Credits = 0
	}
	return r
}

// Balanced reports whether the row keeps granted = credits + held + spent + revoked.
func (r Row) Balanced() bool {
	return r.Granted == r.Credits+r.Held+r.Spent+r.Revoked
}

// Refusal says why a send may not start for a row.
type Refusal string

const (
	// NoRefusal means the send may reserve.
	NoRefusal Refusal = ""
	// RefusedNoCredit means a one-time row has no credit left, or the user never accepted.
	RefusedNoCredit Refusal = "no_credit"
	// RefusedBanned means WeChat's platform banned the template (a "ban" popup result).
	RefusedBanned Refusal = "banned"
	// RefusedNotSubscribed means a long-term template is not accepted (rejected or off).
	RefusedNotSubscribed Refusal = "not_subscribed"
)

// CanReserve says whether a send may reserve on the row, and why not.
// The store enforces the same rule in its conditional update.
func CanReserve(r Row) Refusal {
	switch {
	case r.Status == Ban:
		return RefusedBanned
	case r.Kind == LongTerm && r.Status != Accept:
		return RefusedNotSubscribed
	case r.Kind == OneTime && r.Credits < 1:
		return RefusedNoCredit
	}
	return NoRefusal
}

// Zero returns the row after a zeroing at time at: the credits left are
// revoked, and so will be those of the sends in flight now (see Settle).
func Zero(r Row, at time.Time) Row {
	r.Revoked += r.Credits
	r.Credits = 0
	r.ZeroedAt = at
	return r
}

// RevokesRelease reports whether the release of a send reserved at
// reservedAt gives its credit to revoked rather than back to the balance:
// a zeroing at zeroedAt (zero if none) wins over the release of a send
// reserved before it, since WeChat said no authorisation is left, or the user
// took them all back, while that send was in flight. A reservation in the
// same millisecond as the zeroing counts as before it: in doubt, no credit
// comes back that WeChat may not have.
func RevokesRelease(reservedAt, zeroedAt time.Time) bool {
	return !zeroedAt.IsZero() && !reservedAt.After(zeroedAt)
}

// Settle returns the row after a send reserved at reservedAt settled at
// time at with effect e: it leaves flight; a release gives its credit back
// (or to revoked, see RevokesRelease); SpendAndZero keeps it spent and zeroes
// the balance at time at.
func Settle(r Row, e CreditEffect, reservedAt, at time.Time) Row {
	r.Inflight--
	c := r.Kind.Cost()
	switch e {
	case Release:
		r.Spent -= c
		if RevokesRelease(reservedAt, r.ZeroedAt) {
			r.Revoked += c
		} else {
			r.Credits += c
		}
	case SpendAndZero:
		if r.Kind == LongTerm {
			r.Status = Reject
		} else {
			r = Zero(r, at)
		}
	}
	return r
}

// Reserve returns the row after one send reserved its credit.
func Reserve(r Row) Row {
	c := r.Kind.Cost()
	r.Credits -= c
	r.Spent += c
	r.Inflight++
	return r
}
