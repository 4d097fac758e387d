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
