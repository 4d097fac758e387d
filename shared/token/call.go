package token

import (
	"context"

	"github.com/wxsub/wxsub/shared/wechat"
)

// NoTokenError is returned by Call when no token could be had at all.
type NoTokenError struct{ Err error }

func (e *NoTokenError) Error() string { return "no access_token: " + e.Err.Error() }
func (e *NoTokenError) Unwrap() error { return e.Err }

// Call runs fn with the shared token. When fn fails with a token error
// (40001, 40014, 41001, 42001) it reports the token as bad (ReportBad) and
// runs fn once more with the fresh one; WeChat's answer to that second call
// is final. It returns a *NoTokenError when no token could be had.
func (p *Plane) Call(ctx context.Context, fn func(accessToken string) error) error {
	tok, err := p.Get(ctx)
	if err != nil {
		return &NoTokenError{err}
	}
	err = fn(tok.Value)
	if wechat.ClassOf(err) != wechat.ClassToken {
		return err
	}
	fresh, terr := p.ReportBad(ctx, tok)
	if terr != nil {
		p.cfg.Logger.WarnContext(ctx, "no fresh token after a token error", "appid", p.cfg.AppID, "err", terr)
		return err
	}
	return fn(fresh.Value)
}
