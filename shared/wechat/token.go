package wechat

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// Token is an access token and how long WeChat said it stays valid.
type Token struct {
	AccessToken string
	ExpiresIn   time.Duration
}

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   number `json:"expires_in"`
}

func (a *tokenAnswer) check() error {
	if a.AccessToken == "" {
		return errors.New("no access_token in answer")
	}
	return nil
}

func (a *tokenAnswer) token() Token {
	return Token{AccessToken: a.AccessToken, ExpiresIn: time.Duration(a.ExpiresIn) * time.Second}
}

// Token gets a classic access token (GET /cgi-bin/token). Each call issues a
// new token; the previous one stays valid for 5 more minutes.
func (c *Client) Token(ctx context.Context, appid, secret string) (Token, error) {
	var a tokenAnswer
	err := c.do(ctx, call{
		op:     "token",
		method: http.MethodGet,
		path:   "/cgi-bin/token",
		query: url.Values{
			"grant_type": {"client_credential"},
			"appid":      {appid},
			"secret":     {secret},
		},
		secrets: []string{secret},
	}, &a)
	if err != nil {
		return Token{}, err
	}
	return a.token(), nil
}

// StableToken gets a stable access token (POST /cgi-bin/stable_token). In
// normal mode repeated calls return the same token while it is valid; force
// invalidates it and issues a new one (WeChat allows 20 forced calls a day,
// at least 30 s apart).
func (c *Client) StableToken(ctx context.Context, appid, secret string, force bool) (Token, error) {
	var a tokenAnswer
	err := c.do(ctx, call{
		op:     "stable_token",
		method: http.MethodPost,
		path:   "/cgi-bin/stable_token",
		body: struct {
			GrantType    string `json:"grant_type"`
			AppID        string `json:"appid"`
			Secret       string `json:"secret"`
			ForceRefresh bool   `json:"force_refresh"`
		}{"client_credential", appid, secret, force},
		secrets: []string{secret},
	}, &a)
	if err != nil {
		return Token{}, err
	}
	return a.token(), nil
}

// Session is the answer of jscode2session. SessionKey is a secret of the
// user's session; UnionID is "" unless the app is bound to an Open Platform
// account.
type Session struct {
	OpenID     string
	SessionKey string
	UnionID    string
}

type sessionAnswer struct {
	OpenID     string `json:"openid"`
	SessionKey string `json:"session_key"`
	UnionID    string `json:"unionid"`
}

func (a *sessionAnswer) check() error {
	if a.OpenID == "" {
		return errors.New("no openid in answer")
	}
	return nil
}

// Code2Session exchanges a wx.login code for the user's openid
// (GET /sns/jscode2session). Codes are single-use.
func (c *Client) Code2Session(ctx context.Context, appid, secret, code string) (Session, error) {
	var a sessionAnswer
	err := c.do(ctx, call{
		op:     "jscode2session",
		method: http.MethodGet,
		path:   "/sns/jscode2session",
		query: url.Values{
			"appid":      {appid},
			"secret":     {secret},
			"js_code":    {code},
			"grant_type": {"authorization_code"},
		},
		secrets: []string{secret, code},
	}, &a)
	if err != nil {
		return Session{}, err
	}
	return Session(a), nil
}
