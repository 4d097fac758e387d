package messages

import (
	"errors"
	"net/http"

	"github.com/wxsub/wxsub/shared/errcode"
	"github.com/wxsub/wxsub/shared/httpapi"
)

// This file is the HTTP side of a send: the answers of POST /v1/messages
// (and of POST /v1/broadcasts's validation) to the results and errors of
// Send, SendScheduled and Validate. The answer a message record keeps for
// an Idempotency-Key's replays is rendered here too.

type sentAnswer struct {
	MessageID   string    `json:"message_id"`
	Status      string    `json:"status"`
	CreditsLeft *int64    `json:"credits_left"`
	Warnings    []Warning `json:"warnings,omitempty"`
}

type scheduledBody struct {
	MessageID   string    `json:"message_id"`
	Status      string    `json:"status"`
	SendAt      string    `json:"send_at"`
	CreditsLeft *int64    `json:"credits_left"`
	Warnings    []Warning `json:"warnings,omitempty"`
}

// response is the answer to a send's result: a replay repeats the first
// answer as its record keeps it; a reminder's scheduling answers 202 with
// its status now; WeChat's failure answers errcode's error for it, with the
// message's id and status; a send WeChat took answers 200.
func response(r Result) httpapi.Response {
	switch {
	case r.first != nil:
		return httpapi.Response{
			StatusCode: r.first.AnswerStatus,
			Headers:    map[string]string{"Content-Type": "application/json; charset=utf-8", "Idempotent-Replayed": "true"},
			Body:       r.first.Answer,
		}
	case !r.SendAt.IsZero():
		resp := httpapi.JSON(http.StatusAccepted, scheduledBody{
			MessageID: r.MessageID, Status: string(r.Status), SendAt: formatTime(r.SendAt), CreditsLeft: r.CreditsLeft, Warnings: r.Warnings,
		})
		if r.Replayed {
			resp.Headers["Idempotent-Replayed"] = "true"
		}
		return resp
	case r.Meaning.Failed():
		e := sendError(r.Meaning, r.WeChat)
		e.Details = append(e.Details, map[string]string{"message_id": r.MessageID, "status": string(r.Status)})
		return e.Response()
	}
	return httpapi.JSON(http.StatusOK, sentAnswer{MessageID: r.MessageID, Status: string(r.Status), CreditsLeft: r.CreditsLeft, Warnings: r.Warnings})
}

// sendError is the contract's error for a send that failed as m says;
// WeChat's errcode and errmsg go with it when WeChat answered one.
func sendError(m errcode.Meaning, err error) *httpapi.Error {
	e := &httpapi.Error{Status: m.HTTPStatus, Code: m.Code, Message: m.Message}
	if m != errcode.NoToken {
		e.WeChat = httpapi.WeChatDetail(err)
	}
	return e
}

// HTTPError is the contract's answer to an error of Send, SendScheduled or
// Validate: a *RefusedError's 4xx, ErrStoreUnavailable's 503
// store_unavailable; any other error is returned as it is.
func HTTPError(err error) error {
	if r, ok := refused(err); ok {
		return refusal(r)
	}
	if errors.Is(err, ErrStoreUnavailable) {
		return errStoreUnavailable()
	}
	return err
}

// refusal is the answer to a send refused before WeChat was called.
func refusal(r *RefusedError) *httpapi.Error {
	e := &httpapi.Error{Message: r.Message()}
	switch r.Reason {
	case UnknownTemplate:
		e.Status, e.Code = http.StatusNotFound, "unknown_template"
	case InvalidData:
		e.Status, e.Code = http.StatusUnprocessableEntity, "invalid_data"
		for _, p := range r.Problems {
			e.Details = append(e.Details, map[string]string{"key": p.Key, "rule": p.Rule, "message": p.Message})
		}
	case NoCredit:
		e.Status, e.Code = http.StatusConflict, "no_credit"
	case KeyReused:
		e.Status, e.Code = http.StatusUnprocessableEntity, "idempotency_key_reused"
	case InProgress:
		e.Status, e.Code = http.StatusConflict, "request_in_progress"
	case TooLate:
		e.Status, e.Code = http.StatusBadRequest, "invalid_send_at"
	default:
		e.Status, e.Code = http.StatusInternalServerError, "internal"
	}
	return e
}

func errStoreUnavailable() *httpapi.Error {
	return httpapi.Errorf(http.StatusServiceUnavailable, "store_unavailable",
		"wxsub's database did not answer; nothing was sent and no credit was spent; retry shortly")
}
