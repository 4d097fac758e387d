// Package login answers POST /v1/session: it trades a wx.login code for a
// wxsub session token through WeChat's jscode2session. WeChat's session_key is
// neither stored nor returned. For an official account the code is the one
// WeChat's web authorisation (snsapi_base) put on the page's URL, traded
// through sns/oauth2/access_token; the user's web access_token it answers is
// dropped at once.
package login

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/wxsub/wxsub/shared/httpapi"
	"github.com/wxsub/wxsub/shared/sessiontoken"
	"github.com/wxsub/wxsub/shared/wechat"
)

// Handler is the session function.
type Handler struct {
	AppID, Secret string
	WeChat        *wechat.Client
	Sessions      *sessiontoken.Signer
	Logger        *slog.Logger
	// WebOAuth trades codes of an official account's web authorisation
	// (sns/oauth2/access_token) instead of wx.login codes.
	WebOAuth bool
}

// LogValue gives log/slog the handler's appid and mode, never the secret.
func (h *Handler) LogValue() slog.Value {
	return slog.GroupValue(slog.String("appid", h.AppID), slog.Bool("web_oauth", h.WebOAuth))
}

// Routes served by the handler.
func (h *Handler) Routes() httpapi.Router {
	return httpapi.Router{"POST /v1/session": h.session}
}

// Handle is the Lambda entry point.
func (h *Handler) Handle(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	return h.Routes().HandleWith(ctx, req, h.Logger, "appid", h.AppID)
}

type sessionRequest struct {
	Code string `json:"code"`
}

type sessionAnswer struct {
	Token     string `json:"token"`
	ExpiresAt string `json:"expires_at"`
	OpenID    string `json:"openid"`
}

func (h *Handler) session(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	var body sessionRequest
	if err := httpapi.Decode(req, &body, 4<<10); err != nil {
		return httpapi.Response{}, err
	}
	if !httpapi.ValidLoginCode(body.Code) {
		// Refused before WeChat is called: each jscode2session call spends
		// the app's per-minute quota, which, once spent, answers 45011 to
		// every real user (see README, Abuse limits).
		if h.WebOAuth {
			return httpapi.Response{}, httpapi.Errorf(http.StatusBadRequest, "invalid_code",
				"code must be the code WeChat's web authorisation put on the page's URL: 1-128 letters, digits, - or _")
		}
		return httpapi.Response{}, httpapi.Errorf(http.StatusBadRequest, "invalid_code",
			"code must be the code from wx.login: 1-128 letters, digits, - or _")
	}
	var s wechat.Session
	var err error
	if h.WebOAuth {
		var u wechat.WebUser
		u, err = h.WeChat.OAuthUser(ctx, h.AppID, h.Secret, body.Code)
		s = wechat.Session{OpenID: u.OpenID, UnionID: u.UnionID}
	} else {
		s, err = h.WeChat.Code2Session(ctx, h.AppID, h.Secret, body.Code)
	}
	if err != nil {
		return httpapi.Response{}, h.loginError(err)
	}
	if !httpapi.ValidSubject(s.OpenID) {
		// A session binds this openid; one outside WeChat's shape would be
		// stored in keys and logs. WeChat's openids are 28 characters.
		h.Logger.ErrorContext(ctx, "jscode2session answered an openid outside its shape; no session issued", "length", len(s.OpenID))
		return httpapi.Response{}, httpapi.Errorf(http.StatusBadGateway, "wechat_error",
			"WeChat's jscode2session answered an openid that is not 1-64 letters, digits, - or _; no session was issued")
	}
	tok, sess, err := h.Sessions.Issue(h.AppID, s.OpenID)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, sessionAnswer{
		Token: tok, ExpiresAt: sess.ExpiresAt.UTC().Format(time.RFC3339), OpenID: s.OpenID,
	}), nil
}

// loginError maps jscode2session (or sns/oauth2/access_token) failures to
// the contract's answers.
func (h *Handler) loginError(err error) error {
	var e *httpapi.Error
	switch code := wechat.CodeOf(err); {
	case (code == 40029 || code == 40163) && h.WebOAuth:
		e = httpapi.Errorf(http.StatusBadRequest, "invalid_code",
			"the web authorisation code is invalid, expired (5 minutes) or was already used; send the user through WeChat's authorize URL again")
	case code == 40029 || code == 40163:
		e = httpapi.Errorf(http.StatusBadRequest, "invalid_code",
			"the wx.login code is invalid or was already used; call wx.login again and send the new code")
	case code == 45011:
		e = httpapi.Errorf(http.StatusTooManyRequests, "rate_limited",
			"WeChat limits logins per minute; wait a minute and try again")
	case code == 40226:
		e = httpapi.Errorf(http.StatusForbidden, "login_blocked",
			"WeChat blocked this user's login as high-risk (40226)")
	default:
		return httpapi.WeChatFailure(err)
	}
	e.WeChat = httpapi.WeChatDetail(err)
	return e
}
