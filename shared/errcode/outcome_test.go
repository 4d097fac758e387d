package errcode_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/wxsub/wxsub/shared/errcode"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/wechat"
)

// Decide is what a send's settlement reads of WeChat's answer.
func Decide(err error) ledger.Outcome { return errcode.Of(err).Outcome }

func TestDecideCoversEveryRowOfTheOutcomeTable(t *testing.T) {
	we := func(code int) error { return &wechat.Error{Op: "subscribe/send", Code: code, Msg: "x"} }
	cases := []struct {
		name string
		err  error
		want ledger.Outcome
	}{
		{"0", nil, ledger.Outcome{Status: ledger.Sent, Credit: ledger.Spend}},
		{"43101", we(43101), ledger.Outcome{Status: ledger.Failed, Credit: ledger.SpendAndZero}},
		{"40001", we(40001), ledger.Outcome{Status: ledger.Failed, Credit: ledger.Release, Retry: ledger.RetryFreshToken, Retryable: true}},
		{"40014", we(40014), ledger.Outcome{Status: ledger.Failed, Credit: ledger.Release, Retry: ledger.RetryFreshToken, Retryable: true}},
		{"42001", we(42001), ledger.Outcome{Status: ledger.Failed, Credit: ledger.Release, Retry: ledger.RetryFreshToken, Retryable: true}},
		{"43108", we(43108), ledger.Outcome{Status: ledger.Failed, Credit: ledger.Release, Retry: ledger.RetryBackoff, Retryable: true}},
		{"45009", we(45009), ledger.Outcome{Status: ledger.Failed, Credit: ledger.Release, Retryable: true}},
		{"45011", we(45011), ledger.Outcome{Status: ledger.Failed, Credit: ledger.Release, Retryable: true}},
		{"-1", we(-1), ledger.Outcome{Status: ledger.Failed, Credit: ledger.Release, Retryable: true}},
		{"http 502 without errcode", &wechat.Error{HTTPStatus: 502}, ledger.Outcome{Status: ledger.Unknown, Credit: ledger.Spend}},
		{"http 500 without errcode", &wechat.Error{HTTPStatus: 500}, ledger.Outcome{Status: ledger.Unknown, Credit: ledger.Spend}},
		{"http 503 with errcode -1", &wechat.Error{HTTPStatus: 503, Code: -1}, ledger.Outcome{Status: ledger.Failed, Credit: ledger.Release, Retryable: true}},
		{"timeout", &wechat.Error{Err: fmt.Errorf("%w: deadline", wechat.ErrOutcomeUnknown)}, ledger.Outcome{Status: ledger.Unknown, Credit: ledger.Spend}},
		{"refused", &wechat.Error{Err: errors.New("connection refused")}, ledger.Outcome{Status: ledger.Failed, Credit: ledger.Release, Retryable: true}},
	}
	for _, code := range []int{40003, 40037, 41030, 47001, 47003, 45168, 43107} {
		cases = append(cases, struct {
			name string
			err  error
			want ledger.Outcome
		}{fmt.Sprint(code), we(code), ledger.Outcome{Status: ledger.Failed, Credit: ledger.Release}})
	}
	for _, c := range cases {
		if got := Decide(c.err); got != c.want {
			t.Errorf("Decide(%s) = %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestFreesKeyOnlyAfterRetryableReleases(t *testing.T) {
	we := func(code int) error { return &wechat.Error{Op: "subscribe/send", Code: code, Msg: "x"} }
	free := map[string]error{"-1": we(-1), "45009": we(45009), "45011": we(45011), "43108": we(43108), "42001": we(42001),
		"connection refused": &wechat.Error{Err: errors.New("connection refused")}}
	for name, err := range free {
		if !Decide(err).FreesKey() {
			t.Errorf("%s keeps the key; nothing was delivered and the retry is a new attempt", name)
		}
	}
	kept := map[string]error{"0": nil, "43101": we(43101), "47003": we(47003), "40037": we(40037), "43107": we(43107),
		"http 502": &wechat.Error{HTTPStatus: 502},
		"timeout":  &wechat.Error{Err: fmt.Errorf("%w: deadline", wechat.ErrOutcomeUnknown)}}
	for name, err := range kept {
		if Decide(err).FreesKey() {
			t.Errorf("%s frees the key; its answer is final and must be replayed", name)
		}
	}
}

// TestEveryRowAgreesWithItself checks that a row's answer says what its
// outcome does: a send WeChat took answers 200; an answer that frees the
// key asks for a retry (429, 502 or 503); an unknown outcome keeps its
// credit spent and answers 502 outcome_unknown or 504 wechat_timeout; a
// final refusal is a 4xx.
func TestEveryRowAgreesWithItself(t *testing.T) {
	rows := map[string]errcode.Meaning{"Sent": errcode.Sent, "Other": errcode.Other, "Throttled": errcode.Throttled,
		"ServerError": errcode.ServerError, "Gateway": errcode.Gateway, "Unreachable": errcode.Unreachable,
		"NoAnswer": errcode.NoAnswer, "NoToken": errcode.NoToken}
	for _, c := range errcode.Codes() {
		rows[fmt.Sprint(c)] = errcode.For(errcode.Answer{Code: c, HTTPStatus: 200})
	}
	for name, m := range rows {
		o := m.Outcome
		switch {
		case o.Status == ledger.Sent:
			if m.HTTPStatus != 200 || m.Code != "" || m.Class != errcode.ClassNone {
				t.Errorf("%s: sent, but answers %d %q (class %v)", name, m.HTTPStatus, m.Code, m.Class)
			}
		case o.FreesKey():
			if m.HTTPStatus != 429 && m.HTTPStatus != 502 && m.HTTPStatus != 503 {
				t.Errorf("%s: frees the key for a retry, but answers %d %s", name, m.HTTPStatus, m.Code)
			}
		case o.Status == ledger.Unknown:
			if o.Credit != ledger.Spend || (m.Code != "outcome_unknown" && m.Code != "wechat_timeout") {
				t.Errorf("%s: unknown, but %+v answered %d %s", name, o, m.HTTPStatus, m.Code)
			}
		case o.Status == ledger.Failed && !o.Retryable:
			if m.HTTPStatus >= 500 && name != "Other" {
				t.Errorf("%s: a final refusal answered %d %s", name, m.HTTPStatus, m.Code)
			}
		default:
			t.Errorf("%s: outcome %+v is no row of the contract", name, o)
		}
		if m.Class == errcode.ClassUnknown && o.Status != ledger.Unknown {
			t.Errorf("%s: class unknown, but the message is %s", name, o.Status)
		}
	}
	// An HTTP 5xx outranks the errcode it carries, in all three columns.
	if got := errcode.For(errcode.Answer{Code: 43101, HTTPStatus: 500}); got != errcode.ServerError {
		t.Errorf("43101 under HTTP 500 is %+v, want the row of a server error", got)
	}
}
