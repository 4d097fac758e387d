package errcode_test

import (
	"fmt"
	"testing"

	"github.com/wxsub/wxsub/shared/errcode"
	"github.com/wxsub/wxsub/shared/wechat"
)

// BenchmarkOf maps a mix of WeChat answers to the rows of the table, the
// decision every send makes after calling WeChat.
func BenchmarkOf(b *testing.B) {
	answers := []error{
		nil,
		&wechat.Error{Op: "subscribe/send", Code: 43101, Msg: "user refuse to accept the msg rid: 6650a1b2-1c2d3e4f-5a6b7c8d"},
		&wechat.Error{Op: "subscribe/send", Code: 40001, Msg: "invalid credential"},
		&wechat.Error{Op: "subscribe/send", Code: 43108},
		&wechat.Error{Op: "subscribe/send", Code: 45009},
		&wechat.Error{Op: "subscribe/send", HTTPStatus: 502},
		fmt.Errorf("send: %w", &wechat.Error{Op: "subscribe/send", Err: wechat.ErrOutcomeUnknown}),
	}
	i := 0
	for b.Loop() {
		out := errcode.Of(answers[i%len(answers)]).Outcome
		if out.Status == "" {
			b.Fatal("no status")
		}
		i++
	}
}
