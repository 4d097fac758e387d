package wechat_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/wxsub/wxsub/shared/wechat"
)

func TestClassOfErrcodes(t *testing.T) {
	cases := []struct {
		code int
		want wechat.Class
	}{
		{40001, wechat.ClassToken},
		{40014, wechat.ClassToken},
		{41001, wechat.ClassToken},
		{42001, wechat.ClassToken},
		{43101, wechat.ClassNoSubscription},
		{45009, wechat.ClassRate},
		{45011, wechat.ClassRate},
		{43108, wechat.ClassRate},
		{-1, wechat.ClassUnavailable},
		{40003, wechat.ClassRequest},
		{40037, wechat.ClassRequest},
		{41030, wechat.ClassRequest},
		{47001, wechat.ClassRequest},
		{47003, wechat.ClassRequest},
		{45168, wechat.ClassRequest},
		{43107, wechat.ClassRequest},
		{40029, wechat.ClassRequest},
		{40163, wechat.ClassRequest},
		{40226, wechat.ClassRequest},
		{40013, wechat.ClassRequest},
		{40125, wechat.ClassRequest},
		{40164, wechat.ClassRequest},
		{40002, wechat.ClassRequest},
		{41002, wechat.ClassRequest},
		{41004, wechat.ClassRequest},
		{43002, wechat.ClassRequest},
		{48001, wechat.ClassRequest},
		{48006, wechat.ClassRequest},
		{76021, wechat.ClassRequest},
		{200100, wechat.ClassRequest},
	}
	for _, tc := range cases {
		err := &wechat.Error{Op: "subscribe/send", Code: tc.code, Msg: "x", HTTPStatus: 200}
		if got := wechat.ClassOf(err); got != tc.want {
			t.Errorf("errcode %d: class %v, want %v", tc.code, got, tc.want)
		}
		// Callers wrap errors; the class and code survive.
		wrapped := fmt.Errorf("sending: %w", err)
		if got := wechat.ClassOf(wrapped); got != tc.want {
			t.Errorf("wrapped errcode %d: class %v, want %v", tc.code, got, tc.want)
		}
		if got := wechat.CodeOf(wrapped); got != tc.code {
			t.Errorf("CodeOf(wrapped %d) = %d", tc.code, got)
		}
	}
}

func TestClassOfOtherFailures(t *testing.T) {
	unknown := fmt.Errorf("%w: %w", wechat.ErrOutcomeUnknown, context.DeadlineExceeded)
	cases := []struct {
		name string
		err  error
		want wechat.Class
	}{
		{"nil", nil, wechat.ClassNone},
		{"not a wechat error", errors.New("boom"), wechat.ClassUnavailable},
		{"HTTP 500", &wechat.Error{HTTPStatus: 500}, wechat.ClassUnavailable},
		{"HTTP 502", &wechat.Error{HTTPStatus: 502}, wechat.ClassUnavailable},
		{"HTTP 503", &wechat.Error{HTTPStatus: 503}, wechat.ClassUnavailable},
		{"HTTP 504", &wechat.Error{HTTPStatus: 504}, wechat.ClassUnavailable},
		{"HTTP 5xx outranks the errcode", &wechat.Error{HTTPStatus: 500, Code: 40003}, wechat.ClassUnavailable},
		{"HTTP 429", &wechat.Error{HTTPStatus: 429}, wechat.ClassRate},
		{"HTTP 404", &wechat.Error{HTTPStatus: 404}, wechat.ClassRequest},
		{"cause before the request was written", &wechat.Error{Err: io.EOF}, wechat.ClassUnavailable},
		{"outcome unknown", &wechat.Error{Err: unknown}, wechat.ClassUnknown},
		{"malformed answer", &wechat.Error{HTTPStatus: 200, Err: fmt.Errorf("%w: malformed", wechat.ErrOutcomeUnknown)}, wechat.ClassUnknown},
	}
	for _, tc := range cases {
		if got := wechat.ClassOf(tc.err); got != tc.want {
			t.Errorf("%s: class %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCodeOf(t *testing.T) {
	if got := wechat.CodeOf(nil); got != 0 {
		t.Errorf("CodeOf(nil) = %d", got)
	}
	if got := wechat.CodeOf(errors.New("x")); got != 0 {
		t.Errorf("CodeOf(plain error) = %d", got)
	}
	if got := wechat.CodeOf(&wechat.Error{Err: io.EOF}); got != 0 {
		t.Errorf("CodeOf(transport error) = %d", got)
	}
}

func TestClassString(t *testing.T) {
	want := map[wechat.Class]string{
		wechat.ClassNone:           "none",
		wechat.ClassToken:          "token",
		wechat.ClassRequest:        "request",
		wechat.ClassNoSubscription: "no_subscription",
		wechat.ClassRate:           "rate",
		wechat.ClassUnavailable:    "unavailable",
		wechat.ClassUnknown:        "unknown",
		wechat.Class(42):           "Class(42)",
	}
	for c, s := range want {
		if c.String() != s {
			t.Errorf("Class(%d).String() = %q, want %q", int(c), c.String(), s)
		}
	}
}

func TestErrorText(t *testing.T) {
	cases := []struct {
		err  *wechat.Error
		want string
	}{
		{&wechat.Error{Op: "subscribe/send", Code: 43101, Msg: "user refuse to accept the msg", HTTPStatus: 200},
			"wechat subscribe/send: errcode 43101: user refuse to accept the msg"},
		{&wechat.Error{Op: "token", HTTPStatus: 503}, "wechat token: HTTP 503"},
		{&wechat.Error{Op: "token", HTTPStatus: 502, Code: -1, Msg: "system error"}, "wechat token: HTTP 502: errcode -1: system error"},
		{&wechat.Error{Op: "stable_token", Err: io.ErrUnexpectedEOF}, "wechat stable_token: unexpected EOF"},
		{&wechat.Error{Code: 40001}, "wechat: errcode 40001"},
	}
	for _, tc := range cases {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
	e := &wechat.Error{Op: "token", Err: context.DeadlineExceeded}
	if !errors.Is(e, context.DeadlineExceeded) || e.Unwrap() != context.DeadlineExceeded {
		t.Error("Error does not unwrap to its cause")
	}
}

func TestRIDFromErrmsg(t *testing.T) {
	cases := []struct{ msg, rid string }{
		{"invalid credential, access_token is invalid or not latest rid: 64e41852-5c2e1227-2885cbfa", "64e41852-5c2e1227-2885cbfa"},
		{"invalid openid rid:64e41852-5c2e1227-2885cbfa", "64e41852-5c2e1227-2885cbfa"},
		{"argument invalid! data.thing18.value invalid rid: 6551bd6c-0e0f3a8b-2a7d37b1, more text", "6551bd6c-0e0f3a8b-2a7d37b1"},
		{"invalid credential, access_token is invalid or not latest hint: [aBcD0123vr21!]", "aBcD0123vr21!"},
		{"user refuse to accept the msg hint: [Xy-09]", "Xy-09"},
		{"invalid template_id", ""},
		{"hint: [unclosed", ""},
		{"rid: ", ""},
	}
	f := newWxFake(t, 200, "")
	c := newWxClient(t, f.URL, 0)
	for _, tc := range cases {
		f.answer(200, fmt.Sprintf(`{"errcode":40037,"errmsg":%q}`, tc.msg))
		_, err := c.SendSubscribe(context.Background(), wxToken, wechat.Message{})
		we := wxErr(t, err)
		if we.RID != tc.rid || we.Msg != tc.msg {
			t.Errorf("errmsg %q: RID %q Msg %q, want RID %q and the errmsg unchanged", tc.msg, we.RID, we.Msg, tc.rid)
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("error %q does not show the errmsg", err)
		}
	}
}
