package wechat

import (
	"errors"
	"strconv"
	"strings"

	"github.com/wxsub/wxsub/shared/errcode"
)

// ErrOutcomeUnknown is wrapped by Error.Err when a request was fully written
// to WeChat but no readable answer came back (a timeout, a lost connection,
// or an HTTP 200 whose body is not the expected JSON). WeChat may or may not
// have acted on such a request. ClassOf reports these errors as ClassUnknown.
var ErrOutcomeUnknown = errors.New("outcome unknown")

// Error is the error returned for every failed WeChat call.
//
// Code and Msg are WeChat's errcode and errmsg (Msg as WeChat sent it, with
// any secret of the call blanked out); RID is the request id found in the
// errmsg, for openapi/rid/get. HTTPStatus is the HTTP status when an answer
// arrived, and Err the transport or decoding cause when the call failed below
// WeChat's own error reporting.
type Error struct {
	Op         string // the API, e.g. "subscribe/send"
	Code       int    // errcode; 0 when WeChat sent none
	Msg        string // errmsg
	RID        string // request id from errmsg, "" when none
	HTTPStatus int    // 0 when no answer arrived
	Err        error  // transport or decoding cause, nil for a WeChat errcode
}

// Error returns the operation followed by WeChat's errcode and errmsg, the
// HTTP status or the cause, whichever apply.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("wechat")
	if e.Op != "" {
		b.WriteString(" ")
		b.WriteString(e.Op)
	}
	if e.HTTPStatus != 0 && (e.HTTPStatus < 200 || e.HTTPStatus > 299) {
		b.WriteString(": HTTP ")
		b.WriteString(strconv.Itoa(e.HTTPStatus))
	}
	if e.Code != 0 {
		b.WriteString(": errcode ")
		b.WriteString(strconv.Itoa(e.Code))
		if e.Msg != "" {
			b.WriteString(": ")
			b.WriteString(e.Msg)
		}
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the transport or decoding cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Class sorts WeChat failures by what a caller should do about them; the
// table of package errcode says which class each answer is in.
type Class = errcode.Class

// The classes returned by ClassOf.
const (
	ClassNone           = errcode.ClassNone           // no error
	ClassToken          = errcode.ClassToken          // the access token is invalid, expired or missing: refresh it
	ClassRequest        = errcode.ClassRequest        // the request itself is wrong: retrying it will not help
	ClassNoSubscription = errcode.ClassNoSubscription // 43101: the user holds no subscription for the template
	ClassRate           = errcode.ClassRate           // a daily quota, per-minute rate or per-user concurrency limit
	ClassUnavailable    = errcode.ClassUnavailable    // WeChat did not act on the request: safe to retry later
	ClassUnknown        = errcode.ClassUnknown        // the request was sent but the outcome is unknown
)

// Answer says what WeChat answered to the call, for errcode's table; the
// zero Answer for a nil *Error.
func (e *Error) Answer() errcode.Answer {
	if e == nil {
		return errcode.Answer{}
	}
	return errcode.Answer{
		Code:       e.Code,
		HTTPStatus: e.HTTPStatus,
		Unwritten:  e.Err != nil && !errors.Is(e.Err, ErrOutcomeUnknown),
		Unknown:    errors.Is(e.Err, ErrOutcomeUnknown),
	}
}

// ClassOf classifies err by errcode's table. It returns ClassNone for nil,
// and ClassUnavailable for an error that is not (and does not wrap) a *Error.
//
// For a *Error: a cause wrapping ErrOutcomeUnknown gives ClassUnknown; any
// other cause, an HTTP 5xx status or errcode -1 gives ClassUnavailable;
// errcodes 40001, 40014, 41001 and 42001 give ClassToken; 43101 gives
// ClassNoSubscription; 45009, 45011, 43108 and HTTP 429 give ClassRate;
// everything else gives ClassRequest.
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) && e == nil {
		return ClassNone
	}
	return errcode.Of(err).Class
}

// IsGatewayFailure reports whether err is an HTTP 5xx answer that carries no
// WeChat errcode: a gateway or proxy between the caller and WeChat failed
// (nginx's "502 Bad Gateway" page, say). Such an answer says nothing about
// whether WeChat acted on the request before the gateway gave up. ClassOf
// still reports it as ClassUnavailable; a caller whose request must not be
// carried out twice (a send) treats its outcome as unknown (errcode.Gateway).
func IsGatewayFailure(err error) bool {
	var e *Error
	return errors.As(err, &e) && e != nil && errcode.For(e.Answer()) == errcode.Gateway
}

// CodeOf returns the WeChat errcode carried by err, or 0 when there is none.
func CodeOf(err error) int {
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e.Code
	}
	return 0
}

// ridOf extracts the request id from an errmsg: the current form ends with
// "rid: 64e41852-5c2e1227-2885cbfa", older answers carried "hint: [xxxx]".
func ridOf(msg string) string {
	if i := strings.LastIndex(msg, "rid:"); i >= 0 {
		s := strings.TrimLeft(msg[i+len("rid:"):], " \t")
		end := strings.IndexFunc(s, func(r rune) bool {
			return !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		})
		if end >= 0 {
			s = s[:end]
		}
		if s != "" {
			return s
		}
	}
	if i := strings.LastIndex(msg, "hint:"); i >= 0 {
		s := strings.TrimLeft(msg[i+len("hint:"):], " \t")
		if rest, ok := strings.CutPrefix(s, "["); ok {
			if id, _, ok := strings.Cut(rest, "]"); ok {
				return strings.TrimSpace(id)
			}
		}
	}
	return ""
}
