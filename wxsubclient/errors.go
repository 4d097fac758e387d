package wxsubclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is an answer other than 2xx. Code is the contract's error code
// (CodeNoCredit, …); it is empty when API Gateway answered itself (IAM
// refused the signature, or throttling), with its message in Message.
type Error struct {
	// Status is the HTTP status.
	Status int
	// Code is the contract's snake_case error code.
	Code string
	// Message says what went wrong and what to do.
	Message string
	// Details holds one entry per bad keyword (invalid_data), or the
	// message a failed send recorded.
	Details []json.RawMessage
	// WeChat is WeChat's answer, when one caused the error.
	WeChat *WeChatError
	// RetryAfter is the answer's Retry-After (429 and 503), zero without one.
	RetryAfter time.Duration
}

// WeChatError is WeChat's errcode and errmsg.
type WeChatError struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wxsub: %d", e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.WeChat != nil {
		fmt.Fprintf(&b, " (WeChat %d %s)", e.WeChat.ErrCode, e.WeChat.ErrMsg)
	}
	return b.String()
}

// Retryable reports whether the same request may succeed later: nothing was
// sent and no credit spent (429, 502 wechat_error, 503). Retry a send with
// the same Idempotency-Key: these answers free it.
func (e *Error) Retryable() bool {
	switch {
	case e.Status == http.StatusTooManyRequests, e.Status == http.StatusServiceUnavailable:
		return true
	case e.Status == http.StatusBadGateway && e.Code == CodeWeChatError:
		return true
	}
	return false
}

// The contract's error codes a business backend meets most.
const (
	CodeNoCredit          = "no_credit"
	CodeInvalidData       = "invalid_data"
	CodeUnknownTemplate   = "unknown_template"
	CodeUnknownUser       = "unknown_user"
	CodeQuotaExhausted    = "quota_exhausted"
	CodeRateLimited       = "rate_limited"
	CodeWeChatError       = "wechat_error"
	CodeOutcomeUnknown    = "outcome_unknown"
	CodeWeChatTimeout     = "wechat_timeout"
	CodeStoreUnavailable  = "store_unavailable"
	CodeTokenUnavailable  = "token_unavailable"
	CodeMessageNotFound   = "message_not_found"
	CodeBroadcastNotFound = "broadcast_not_found"
	CodeUnauthorized      = "unauthorized"
)

// IsCode reports whether err is an *Error with the code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

func errorFrom(resp *http.Response, raw []byte) *Error {
	e := &Error{Status: resp.StatusCode}
	if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s >= 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	var body struct {
		Error *struct {
			Code    string            `json:"code"`
			Message string            `json:"message"`
			Details []json.RawMessage `json:"details"`
			WeChat  *WeChatError      `json:"wechat"`
		} `json:"error"`
		Message string `json:"message"` // API Gateway's own answers
	}
	switch {
	case json.Unmarshal(raw, &body) != nil:
		e.Message = strings.TrimSpace(string(raw))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200]
		}
	case body.Error != nil:
		e.Code, e.Message, e.Details, e.WeChat = body.Error.Code, body.Error.Message, body.Error.Details, body.Error.WeChat
	default:
		e.Message = body.Message
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}
