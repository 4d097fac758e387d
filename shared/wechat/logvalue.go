package wechat

import "log/slog"

// LogValue gives log/slog the token's lifetime, never the access_token.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.Duration("expires_in", t.ExpiresIn))
}

// LogValue gives log/slog the ticket's lifetime, never the jsapi_ticket.
func (t Ticket) LogValue() slog.Value {
	return slog.GroupValue(slog.Duration("expires_in", t.ExpiresIn))
}

// LogValue gives log/slog the user's openid (which wxsub's logger shortens),
// never the session_key.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("openid", s.OpenID))
}
