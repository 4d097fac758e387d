package broadcasts

import (
	"errors"
	"testing"
	"time"

	"github.com/wxsub/wxsub/shared/httpapi"
)

func TestBroadcastJudgesEachSendAnswer(t *testing.T) {
	wechatAnswer := func(status int, code string, errcode int) httpapi.Response {
		e := httpapi.Errorf(status, code, "WeChat said no")
		e.WeChat = &httpapi.WeChatError{ErrCode: errcode, ErrMsg: "..."}
		return e.Response()
	}
	replayed := func(r httpapi.Response) httpapi.Response {
		r.Headers["Idempotent-Replayed"] = "true"
		return r
	}
	for name, c := range map[string]struct {
		resp httpapi.Response
		err  error
		want answer
	}{
		"sent":                 {resp: httpapi.JSON(200, map[string]string{"status": "sent"}), want: answer{verdict: served}},
		"45011":                {resp: wechatAnswer(429, "rate_limited", 45011), want: answer{verdict: slowDown, errcode: 45011}},
		"43108":                {resp: wechatAnswer(429, "rate_limited", 43108), want: answer{verdict: slowDown, errcode: 43108}},
		"45009":                {resp: wechatAnswer(429, "quota_exhausted", 45009), want: answer{verdict: quotaUsedUp, errcode: 45009}},
		"no token":             {resp: httpapi.Errorf(503, "token_unavailable", "no token").Response(), want: answer{verdict: noToken}},
		"45009 replayed":       {resp: replayed(wechatAnswer(429, "quota_exhausted", 45009)), want: answer{verdict: served}},
		"45011 replayed":       {resp: replayed(wechatAnswer(429, "rate_limited", 45011)), want: answer{verdict: served}},
		"47003":                {resp: wechatAnswer(422, "invalid_data", 47003), want: answer{verdict: served, errcode: 47003}},
		"timeout":              {resp: wechatAnswer(504, "wechat_timeout", 0), want: answer{verdict: served}},
		"no credit":            {err: httpapi.Errorf(409, "no_credit", "none left"), want: answer{verdict: served}},
		"in progress":          {err: httpapi.Errorf(409, "request_in_progress", "wait"), want: answer{verdict: served}},
		"store unavailable":    {err: httpapi.Errorf(503, "store_unavailable", "down"), want: answer{verdict: retry}},
		"catalogue changed":    {err: httpapi.Errorf(422, "invalid_data", "bad"), want: answer{verdict: uncounted}},
		"template withdrawn":   {err: httpapi.Errorf(404, "unknown_template", "gone"), want: answer{verdict: uncounted}},
		"not an answer at all": {err: errors.New("boom"), want: answer{verdict: failed}},
	} {
		if got := judge(c.resp, c.err); got != c.want {
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
