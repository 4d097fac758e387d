package messages

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/wxsub/wxsub/shared/errcode"
	"github.com/wxsub/wxsub/shared/httpapi"
	"github.com/wxsub/wxsub/shared/keyword"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/store"
	"github.com/wxsub/wxsub/shared/wechat"
)

// TestEveryRefusalHasItsContractAnswer checks the one place that turns a
// send's typed errors into answers: each reason answers the contract's
// status and code, and nothing else is invented.
func TestEveryRefusalHasItsContractAnswer(t *testing.T) {
	want := map[Reason]struct {
		status int
		code   string
	}{
		UnknownTemplate: {404, "unknown_template"},
		InvalidData:     {422, "invalid_data"},
		NoCredit:        {409, "no_credit"},
		KeyReused:       {422, "idempotency_key_reused"},
		InProgress:      {409, "request_in_progress"},
		TooLate:         {400, "invalid_send_at"},
	}
	for reason, w := range want {
		err := fmt.Errorf("send: %w", &RefusedError{Reason: reason, TemplateID: "tmpl",
			Problems: []keyword.Problem{{Key: "thing1", Rule: "max_len", Message: "too long"}}})
		var e *httpapi.Error
		if !errors.As(HTTPError(err), &e) || e.Status != w.status || e.Code != w.code || e.Message == "" {
			t.Errorf("reason %d answers %+v, want %d %s", reason, e, w.status, w.code)
		}
	}
	var e *httpapi.Error
	if !errors.As(HTTPError(storeError(errors.New("throttled"))), &e) || e.Status != 503 || e.Code != "store_unavailable" {
		t.Errorf("the store's failure answers %+v, want 503 store_unavailable", e)
	}
	plain := errors.New("boom")
	if HTTPError(plain) != plain {
		t.Error("an error that is no refusal was turned into an answer; the router answers it 500")
	}
}

// TestAFailedSendAnswersItsRow checks that a result WeChat failed answers
// the error of errcode's row, with WeChat's errcode and the message's id
// and status, and that a replay answers the stored answer unchanged.
func TestAFailedSendAnswersItsRow(t *testing.T) {
	we := &wechat.Error{Op: "subscribe/send", Code: 45009, Msg: "reach max api daily quota limit", HTTPStatus: 200}
	m := errcode.Of(we)
	resp := response(Result{MessageID: "m1", Status: m.Outcome.Status, Meaning: m, WeChat: we})
	var body struct {
		Error struct {
			Code    string
			Details []map[string]string
			WeChat  struct{ ErrCode int }
		}
	}
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusTooManyRequests || body.Error.Code != "quota_exhausted" || body.Error.WeChat.ErrCode != 45009 ||
		len(body.Error.Details) != 1 || body.Error.Details[0]["message_id"] != "m1" || body.Error.Details[0]["status"] != string(ledger.Failed) {
		t.Errorf("45009 answered %d %s", resp.StatusCode, resp.Body)
	}
	first := Result{MessageID: "m1", Status: ledger.Failed, Replayed: true,
		first: &store.Message{ID: "m1", AnswerStatus: resp.StatusCode, Answer: resp.Body}}
	again := response(first)
	if again.StatusCode != resp.StatusCode || again.Body != resp.Body || again.Headers["Idempotent-Replayed"] != "true" {
		t.Errorf("the replay answered %d %s %v", again.StatusCode, again.Body, again.Headers)
	}
}
