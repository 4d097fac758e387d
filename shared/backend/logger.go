package backend

import (
	"io"
	"log/slog"
	"strings"
)

// NewLogger returns wxsub's structured JSON logger. Whatever a caller passes,
// attributes that name a secret are replaced and openids are shortened, so a
// log line never carries a token, a secret, a session or a full openid.
func NewLogger(w io.Writer) *slog.Logger {
	return NewLoggerWith(w, nil)
}

// HandlerFunc makes the slog.Handler of a logger; slog.NewJSONHandler is one.
type HandlerFunc func(io.Writer, *slog.HandlerOptions) slog.Handler

// NewLoggerWith is NewLogger with another handler (nil: JSON), given the
// same redaction. The local stack prints text lines with it.
func NewLoggerWith(w io.Writer, handler HandlerFunc) *slog.Logger {
	opts := &slog.HandlerOptions{ReplaceAttr: redactAttr}
	if handler == nil {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(handler(w, opts))
}

func redactAttr(_ []string, a slog.Attr) slog.Attr {
	switch strings.ToLower(a.Key) {
	case "token", "access_token", "secret", "appsecret", "session_key", "session", "authorization",
		"encoding_aes_key", "push_token", "signing_key", "code", "js_code":
		return slog.String(a.Key, "[redacted]")
	case "openid", "touser", "from_user":
		return slog.String(a.Key, MaskOpenID(a.Value.String()))
	}
	return a
}

// MaskOpenID keeps the first 6 characters of an openid, enough to correlate
// log lines without naming the user.
func MaskOpenID(s string) string {
	if len(s) <= 6 {
		return "***"
	}
	return s[:6] + "***"
}
