// Package errcode is the one table of what WeChat's answers mean to wxsub.
// For each errcode, and for each answer that carries none (a gateway's HTTP
// 5xx, a timeout, a connection refused), one Meaning says:
//   - the Class any caller of WeChat acts on (wechat.ClassOf reads it);
//   - what the answer to a send does to the message and its credit (the
//     outcome table of the contract: status, credit effect, retries);
//   - the send's answer to its caller: HTTP status, the contract's error
//     code and the message.
//
// Every other package derives these from here; the README's outcome table
// and route errors are checked against it by this package's tests.
package errcode

import (
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/wxsub/wxsub/shared/ledger"
)

// Class sorts WeChat failures by what a caller should do about them.
type Class int

// The classes of the table.
const (
	ClassNone           Class = iota // no error
	ClassToken                       // the access token is invalid, expired or missing: refresh it
	ClassRequest                     // the request itself is wrong: retrying it will not help
	ClassNoSubscription              // 43101: the user holds no subscription for the template
	ClassRate                        // a daily quota, per-minute rate or per-user concurrency limit
	ClassUnavailable                 // WeChat did not act on the request: safe to retry later
	ClassUnknown                     // the request was sent but the outcome is unknown
)

// String returns a short snake_case name for the class, fit for logs and metrics.
func (c Class) String() string {
	switch c {
	case ClassNone:
		return "none"
	case ClassToken:
		return "token"
	case ClassRequest:
		return "request"
	case ClassNoSubscription:
		return "no_subscription"
	case ClassRate:
		return "rate"
	case ClassUnavailable:
		return "unavailable"
	case ClassUnknown:
		return "unknown"
	}
	return "Class(" + strconv.Itoa(int(c)) + ")"
}

// Meaning is one row of the table: what one kind of answer means.
type Meaning struct {
	// Class is what any caller of WeChat should do about the answer.
	Class Class
	// Outcome is what the answer to a send does to the message and its credit.
	Outcome ledger.Outcome
	// HTTPStatus, Code and Message are a send's answer to its caller: 200
	// and no code for a send WeChat took, else the contract's error.
	HTTPStatus int
	Code       string
	Message    string
}

// Failed reports whether the send's answer is an error.
func (m Meaning) Failed() bool { return m.HTTPStatus >= 400 }

// The contract's messages shared by several rows.
const (
	retryLater  = "WeChat failed the send; the credit was kept, retry later"
	slowingDown = "WeChat asked to slow down; the credit was kept, retry later"
	invalidData = "WeChat rejected the template data; see wechat.errmsg for the field"
)

// Outcomes shared by several rows.
var (
	released    = ledger.Outcome{Status: ledger.Failed, Credit: ledger.Release}
	passing     = ledger.Outcome{Status: ledger.Failed, Credit: ledger.Release, Retryable: true}
	mayHaveGone = ledger.Outcome{Status: ledger.Unknown, Credit: ledger.Spend}
	freshTok    = ledger.Outcome{Status: ledger.Failed, Credit: ledger.Release, Retry: ledger.RetryFreshToken, Retryable: true}
)

// byCode is the table's rows for WeChat's errcodes. An errcode it does not
// hold means Other (or Throttled under an HTTP 429).
var byCode = map[int]Meaning{
	// A token error: the send is retried once with a fresh token
	// (token.Plane.Call); its answer after that retry is final.
	40001: {ClassToken, freshTok, http.StatusBadGateway, "wechat_error", retryLater},
	40014: {ClassToken, freshTok, http.StatusBadGateway, "wechat_error", retryLater},
	41001: {ClassToken, freshTok, http.StatusBadGateway, "wechat_error", retryLater},
	42001: {ClassToken, freshTok, http.StatusBadGateway, "wechat_error", retryLater},

	43101: {ClassNoSubscription, ledger.Outcome{Status: ledger.Failed, Credit: ledger.SpendAndZero}, http.StatusConflict, "no_credit",
		"WeChat says the user has no authorisation left for this template (43101); the balance is now 0"},

	45009: {ClassRate, passing, http.StatusTooManyRequests, "quota_exhausted",
		"WeChat's daily quota for subscribe/send is used up (45009); see GET /v1/quota"},
	45011: {ClassRate, passing, http.StatusTooManyRequests, "rate_limited", slowingDown},
	// Another send to the same user is in flight: retried with jittered
	// backoff before it settles.
	43108: {ClassRate, ledger.Outcome{Status: ledger.Failed, Credit: ledger.Release, Retry: ledger.RetryBackoff, Retryable: true},
		http.StatusTooManyRequests, "rate_limited", slowingDown},

	-1: {ClassUnavailable, passing, http.StatusBadGateway, "wechat_error", retryLater},

	47001: {ClassRequest, released, http.StatusUnprocessableEntity, "invalid_data", invalidData},
	47003: {ClassRequest, released, http.StatusUnprocessableEntity, "invalid_data", invalidData},
	40037: {ClassRequest, released, http.StatusNotFound, "unknown_template", "WeChat does not know this template_id (40037)"},
	40003: {ClassRequest, released, http.StatusNotFound, "unknown_user", "WeChat does not know this openid for this app (40003)"},
	41030: {ClassRequest, released, http.StatusUnprocessableEntity, "invalid_page", "page does not exist in the released mini-program (41030)"},
	45168: {ClassRequest, released, http.StatusUnprocessableEntity, "sensitive_content", "WeChat found sensitive words in the data (45168)"},
	43107: {ClassRequest, released, http.StatusForbidden, "subscription_banned",
		"subscription messages are banned for this account or template (43107)"},
}

// The table's rows for answers that are not an errcode of their own.
var (
	// Sent is errcode 0: WeChat took the send.
	Sent = Meaning{Class: ClassNone, Outcome: ledger.Outcome{Status: ledger.Sent, Credit: ledger.Spend}, HTTPStatus: http.StatusOK}
	// Other is any errcode the table does not list: the request was wrong.
	Other = Meaning{ClassRequest, released, http.StatusBadGateway, "wechat_error", retryLater}
	// Throttled is an HTTP 429 without an errcode the table lists.
	Throttled = Meaning{ClassRate, passing, http.StatusBadGateway, "wechat_error", retryLater}
	// ServerError is an HTTP 5xx that carries an errcode: WeChat itself
	// failed and did not act on the request (its errcode is -1, "system
	// busy", as a rule).
	ServerError = Meaning{ClassUnavailable, passing, http.StatusBadGateway, "wechat_error", retryLater}
	// Gateway is an HTTP 5xx without an errcode: a gateway in front of
	// WeChat failed, perhaps after WeChat delivered the message. WeChat's
	// send documents only errcode answers
	// (https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html),
	// so nothing tells the two apart: a caller that may retry reads it as
	// unavailable, but a send never risks a double delivery: the credit
	// stays spent and the sent event settles the message.
	Gateway = Meaning{ClassUnavailable, mayHaveGone, http.StatusBadGateway, "outcome_unknown",
		"a gateway in front of WeChat failed (HTTP 5xx without errcode) after the message may have been delivered, so its credit stays spent (status unknown); do not resend: WeChat's sent event settles it"}
	// Unreachable is a call that failed before its request was written
	// (DNS, connect, TLS), or a failure that is no WeChat answer at all:
	// WeChat did not act on it.
	Unreachable = Meaning{ClassUnavailable, passing, http.StatusBadGateway, "wechat_error", retryLater}
	// NoAnswer is a request written to WeChat that got no readable answer
	// (a timeout, a lost connection, an unreadable 200): WeChat may have
	// acted on it, so a send's credit stays spent.
	NoAnswer = Meaning{ClassUnknown, mayHaveGone, http.StatusGatewayTimeout, "wechat_timeout",
		"WeChat did not answer; the message may have been delivered, so its credit stays spent (status unknown)"}
	// NoToken is wxsub's own answer when it has no access_token to call
	// WeChat with: nothing was sent.
	NoToken = Meaning{ClassUnavailable, passing, http.StatusServiceUnavailable, "token_unavailable",
		"wxsub has no valid WeChat access_token right now; nothing was sent and the credit was kept; retry shortly"}
)

// Answer is what WeChat answered to one call, as far as the table tells
// answers apart.
type Answer struct {
	// Code is WeChat's errcode, 0 when it sent none.
	Code int
	// HTTPStatus is the answer's HTTP status, 0 when none arrived.
	HTTPStatus int
	// Unwritten: the call failed before its request was written.
	Unwritten bool
	// Unknown: the request was written and no readable answer came back.
	Unknown bool
}

// For returns the row of an answer. An answer without a readable body
// outranks its HTTP status, and an HTTP 5xx outranks the errcode it
// carries; an errcode the table lists outranks an HTTP 429.
func For(a Answer) Meaning {
	switch {
	case a.Unknown:
		return NoAnswer
	case a.Unwritten:
		return Unreachable
	case a.HTTPStatus >= 500 && a.HTTPStatus <= 599 && a.Code == 0:
		return Gateway
	case a.HTTPStatus >= 500:
		return ServerError
	}
	if m, ok := byCode[a.Code]; ok {
		return m
	}
	if a.HTTPStatus == http.StatusTooManyRequests {
		return Throttled
	}
	return Other
}

// answerer is an error that knows what WeChat answered, as *wechat.Error does.
type answerer interface{ Answer() Answer }

// Of returns the row of a call's error: Sent for nil, the row of the
// answer an error in err's chain reports through an Answer method (as
// *wechat.Error does), and Unreachable for any other error.
func Of(err error) Meaning {
	if err == nil {
		return Sent
	}
	var a answerer
	if !errors.As(err, &a) {
		return Unreachable
	}
	return For(a.Answer())
}

// Codes returns the errcodes the table lists, in increasing order.
func Codes() []int {
	codes := make([]int, 0, len(byCode))
	for c := range byCode {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	return codes
}
