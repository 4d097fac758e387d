package backend_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wxsub/wxsub/shared/backend"
	"github.com/wxsub/wxsub/shared/config"
	"github.com/wxsub/wxsub/shared/login"
	"github.com/wxsub/wxsub/shared/pushevents"
	"github.com/wxsub/wxsub/shared/sessiontoken"
	"github.com/wxsub/wxsub/shared/store"
	"github.com/wxsub/wxsub/shared/token"
	"github.com/wxsub/wxsub/shared/wechat"
	"github.com/wxsub/wxsub/shared/wxpush"
)

// Secrets of the test, each distinctive enough to be found in a log line.
const (
	appSecret   = "APPSECRET0123456789abcdef01234567"
	pushToken   = "PUSHTOKENsecretvalue42"
	aesKey      = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG" // 43 characters
	signingKey  = "SIGNINGKEY-0123456789-0123456789-xyz"
	adminKey    = "ADMINKEY-secret-0123456789"
	accessToken = "ACCESSTOKEN_78_abcdefghijklmnop"
	jsapiTicket = "JSAPITICKET_kgt8ON7yVITDhtdwci0qe"
	sessionKey  = "SESSIONKEYtiihtNczf5v6AKRyjwEUhQ=="
)

// loggers are the ways a value can reach a log line: slog's own handlers,
// whose ReplaceAttr sees nothing of a value's fields, and wxsub's loggers.
func loggers(w *bytes.Buffer) map[string]*slog.Logger {
	return map[string]*slog.Logger{
		"slog JSON":  slog.New(slog.NewJSONHandler(w, nil)),
		"slog text":  slog.New(slog.NewTextHandler(w, nil)),
		"wxsub JSON": backend.NewLogger(w),
		"wxsub text": backend.NewLoggerWith(w, func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewTextHandler(w, o) }),
	}
}

// forms are the ways a secret can be printed: as text, as bytes by fmt and
// as bytes by encoding/json.
func forms(secret string) []string {
	return []string{secret, fmt.Sprint([]byte(secret)), base64.StdEncoding.EncodeToString([]byte(secret))}
}

// TestSecretHoldingTypesLogNoSecret logs every type that holds a secret, as
// a careless caller would ("config", cfg), through each logger: the line
// names the value (its appid, version or lifetime) and carries no secret.
func TestSecretHoldingTypesLogNoSecret(t *testing.T) {
	cfg := config.Config{
		AppID: "wx0123456789abcdef", Secret: appSecret, PushToken: pushToken, EncodingAESKey: aesKey,
		SessionKey: []byte(signingKey), AdminKey: adminKey, Table: "wxsub", SessionTTL: time.Hour,
	}
	signer, err := sessiontoken.NewSigner([]byte(signingKey), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cipher, err := wxpush.NewCipher(aesKey, cfg.AppID)
	if err != nil {
		t.Fatal(err)
	}
	plane := token.New(token.Config{AppID: cfg.AppID, Secret: appSecret, Mode: token.Stable})
	expires := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	values := []struct {
		name string
		v    any
		want string // text the line must carry: the value was logged
	}{
		{"config.Config", cfg, cfg.AppID},
		{"*config.Config", &cfg, cfg.AppID},
		{"token.Token", token.Token{Value: accessToken, Version: 7, ExpiresAt: expires}, "2026-01-02"},
		{"token.Config", token.Config{AppID: cfg.AppID, Secret: appSecret, Mode: token.Stable}, cfg.AppID},
		{"*token.Plane", plane, cfg.AppID},
		{"store.TokenRecord", store.TokenRecord{Token: accessToken, Version: 7, ExpiresAt: expires, Cause: "schedule"}, "schedule"},
		{"*sessiontoken.Signer", signer, "ttl"},
		{"*wxpush.Cipher", cipher, cfg.AppID},
		{"wechat.Token", wechat.Token{AccessToken: accessToken, ExpiresIn: 2 * time.Hour}, "expires_in"},
		{"wechat.Ticket", wechat.Ticket{Ticket: jsapiTicket, ExpiresIn: 2 * time.Hour}, "expires_in"},
		{"wechat.Session", wechat.Session{OpenID: "oAbCdEf1234567890", SessionKey: sessionKey}, "oAbCdE"},
		{"*backend.Backend", &backend.Backend{Config: cfg}, cfg.AppID},
		{"*login.Handler", &login.Handler{AppID: cfg.AppID, Secret: appSecret, Sessions: signer}, cfg.AppID},
		{"*pushevents.Handler", &pushevents.Handler{AppID: cfg.AppID, Token: pushToken, Cipher: cipher}, cfg.AppID},
	}
	rawAESKey, err := base64.StdEncoding.DecodeString(aesKey + "=")
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{appSecret, pushToken, aesKey, string(rawAESKey[:16]), signingKey, adminKey, accessToken, jsapiTicket, sessionKey}
	for _, tc := range values {
		var buf bytes.Buffer
		for lname, log := range loggers(&buf) {
			buf.Reset()
			log.Info("logged", "value", tc.v)
			line := buf.String()
			if !strings.Contains(line, tc.want) {
				t.Errorf("%s through %s: the line lacks %q: %s", tc.name, lname, tc.want, line)
			}
			for _, s := range secrets {
				for _, f := range forms(s) {
					if strings.Contains(line, f) {
						t.Errorf("%s through %s prints a secret (%q): %s", tc.name, lname, f, line)
					}
				}
			}
		}
	}
}
