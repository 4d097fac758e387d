package httpapi

import (
	"errors"
	"net/http"

	"github.com/wxsub/wxsub/shared/wechat"
)

// WeChatDetail is the errcode and errmsg of a WeChat failure, for the "wechat"
// member of an error answer; nil when the failure has no errcode.
func WeChatDetail(err error) *WeChatError {
	code := wechat.CodeOf(err)
	if code == 0 {
		return nil
	}
	d := &WeChatError{ErrCode: code}
	var we *wechat.Error
	if errors.As(err, &we) {
		d.ErrMsg = we.Msg
	}
	return d
}

// WeChatFailure is the answer for a WeChat call that failed for a reason the
// caller cannot fix: 504 when the outcome is unknown, 502 otherwise.
func WeChatFailure(err error) error {
	switch wechat.ClassOf(err) {
	case wechat.ClassUnknown:
		return &Error{Status: http.StatusGatewayTimeout, Code: "wechat_timeout",
			Message: "WeChat did not answer in time; try again", WeChat: WeChatDetail(err)}
	case wechat.ClassRate:
		return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
			Message: "WeChat's rate limit was hit; try again later", WeChat: WeChatDetail(err)}
	}
	return &Error{Status: http.StatusBadGateway, Code: "wechat_error",
		Message: "WeChat refused or failed the call; see wechat for its answer", WeChat: WeChatDetail(err)}
}
