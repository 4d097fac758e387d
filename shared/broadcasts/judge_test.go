package broadcasts

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wxsub/wxsub/shared/errcode"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/messages"
	"github.com/wxsub/wxsub/shared/token"
	"github.com/wxsub/wxsub/shared/wechat"
)

func TestBroadcastJudgesEachSendAnswer(t *testing.T) {
	wechatAnswer := func(err error) messages.Result {
		m := errcode.Of(err)
		return messages.Result{MessageID: "m1", Status: m.Outcome.Status, Meaning: m, WeChat: err}
	}
	withCode := func(errcode int) messages.Result {
		return wechatAnswer(&wechat.Error{Op: "subscribe/send", Code: errcode, Msg: "...", HTTPStatus: 200})
	}
	replayed := func(r messages.Result) messages.Result {
		r.Replayed = true
		return r
	}
	refused := func(r messages.Reason) error { return &messages.RefusedError{Reason: r, TemplateID: "tmpl"} }
	noTokenResult := messages.Result{MessageID: "m1", Status: ledger.Failed, Meaning: errcode.NoToken, WeChat: &token.NoTokenError{Err: errors.New("no token")}}
	for name, c := range map[string]struct {
		res  messages.Result
		err  error
		want answer
	}{
		"sent":                 {res: wechatAnswer(nil), want: answer{verdict: served}},
		"45011":                {res: withCode(45011), want: answer{verdict: slowDown, errcode: 45011}},
		"43108":                {res: withCode(43108), want: answer{verdict: slowDown, errcode: 43108}},
		"45009":                {res: withCode(45009), want: answer{verdict: quotaUsedUp, errcode: 45009}},
		"no token":             {res: noTokenResult, want: answer{verdict: noToken}},
		"45009 replayed":       {res: replayed(withCode(45009)), want: answer{verdict: served}},
		"45011 replayed":       {res: replayed(withCode(45011)), want: answer{verdict: served}},
		"47003":                {res: withCode(47003), want: answer{verdict: served, errcode: 47003}},
		"timeout":              {res: wechatAnswer(&wechat.Error{Op: "subscribe/send", Err: wechat.ErrOutcomeUnknown}), want: answer{verdict: served}},
		"no credit":            {err: refused(messages.NoCredit), want: answer{verdict: served}},
		"in progress":          {err: refused(messages.InProgress), want: answer{verdict: served}},
		"store unavailable":    {err: fmt.Errorf("%w: down", messages.ErrStoreUnavailable), want: answer{verdict: retry}},
		"catalogue changed":    {err: refused(messages.InvalidData), want: answer{verdict: uncounted}},
		"template withdrawn":   {err: refused(messages.UnknownTemplate), want: answer{verdict: uncounted}},
		"not an answer at all": {err: errors.New("boom"), want: answer{verdict: failed}},
	} {
		if got := judge(c.res, c.err); got != c.want {
			t.Errorf("%s: judged %+v, want %+v", name, got, c.want)
		}
	}
}

func TestBroadcastQuotaResetsAtMidnightChinaTime(t *testing.T) {
	for now, want := range map[time.Time]time.Duration{
		// 23:30 in Beijing is 15:30 UTC.
		time.Date(2026, 5, 18, 15, 30, 0, 0, time.UTC): 30 * time.Minute,
		// 00:00 in Beijing: a whole day to go.
		time.Date(2026, 5, 18, 16, 0, 0, 0, time.UTC): 24 * time.Hour,
		time.Date(2026, 5, 18, 2, 0, 0, 0, time.UTC):  14 * time.Hour,
	} {
		if got := untilQuotaReset(now); got != want {
			t.Errorf("at %s the quota resets in %s, want %s", now, got, want)
		}
	}
}
