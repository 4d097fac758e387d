package wechat

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// WebUser is the answer of sns/oauth2/access_token for an snsapi_base
// authorisation: who the user is. The user's own web access token (and its
// refresh token) is not kept: wxsub only needs the openid.
type WebUser struct {
	OpenID  string
	Scope   string
	UnionID string
}

type webUserAnswer struct {
	AccessToken string `json:"access_token"`
	OpenID      string `json:"openid"`
	Scope       string `json:"scope"`
	UnionID     string `json:"unionid"`
}

func (a *webUserAnswer) check() error {
	if a.OpenID == "" {
		return errors.New("no openid in answer")
	}
	return nil
}

// OAuthUser trades the code of an official account's web authorisation
// redirect for the user's openid (GET /sns/oauth2/access_token,
// https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html).
// Codes are single-use and live 5 minutes. The answer's user access_token
// and refresh_token are secrets of that user's session: they are dropped
// here and never leave this function.
func (c *Client) OAuthUser(ctx context.Context, appid, secret, code string) (WebUser, error) {
	var a webUserAnswer
	err := c.do(ctx, call{
		op:     "sns/oauth2/access_token",
		method: http.MethodGet,
		path:   "/sns/oauth2/access_token",
		query: url.Values{
			"appid":      {appid},
			"secret":     {secret},
			"code":       {code},
			"grant_type": {"authorization_code"},
		},
		secrets: []string{secret, code},
	}, &a)
	if err != nil {
		return WebUser{}, err
	}
	return WebUser{OpenID: a.OpenID, Scope: a.Scope, UnionID: a.UnionID}, nil
}

// Ticket is a JS-SDK jsapi_ticket and how long WeChat said it stays valid.
type Ticket struct {
	Ticket    string
	ExpiresIn time.Duration
}

type ticketAnswer struct {
	Ticket    string `json:"ticket"`
	ExpiresIn number `json:"expires_in"`
}

func (a *ticketAnswer) check() error {
	if a.Ticket == "" {
		return errors.New("no ticket in answer")
	}
	return nil
}

// JSAPITicket gets the official account's jsapi_ticket
// (GET /cgi-bin/ticket/getticket?type=jsapi, JS-SDK documentation, appendix 1:
// https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html).
// It lives 7200 s and its calls have a small daily limit: cache it.
func (c *Client) JSAPITicket(ctx context.Context, accessToken string) (Ticket, error) {
	var a ticketAnswer
	q := withToken(accessToken)
	q.Set("type", "jsapi")
	err := c.do(ctx, call{
		op:      "ticket/getticket",
		method:  http.MethodGet,
		path:    "/cgi-bin/ticket/getticket",
		query:   q,
		secrets: []string{accessToken},
	}, &a)
	if err != nil {
		return Ticket{}, err
	}
	return Ticket{Ticket: a.Ticket, ExpiresIn: time.Duration(a.ExpiresIn) * time.Second}, nil
}
