package localstack_test

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/wxsub/wxsub/dev/loadgen"
	"github.com/wxsub/wxsub/dev/localstack"
	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/backend"
	"github.com/wxsub/wxsub/shared/config"
	"github.com/wxsub/wxsub/wxsubclient"
)

// TestToolingLogsNoSecret logs the tooling's secret-holding types (the
// simulator's configuration, a running stack, a load target, a client of
// the API) through slog's handlers and wxsub's: the line names the value
// and carries none of its secrets.
func TestToolingLogsNoSecret(t *testing.T) {
	t.Parallel()
	const (
		appid     = "wx0123456789abcdef"
		secret    = "SIMSECRET0123456789abcdef0123456"
		pushToken = "SIMPUSHTOKEN42"
		aesKey    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
		adminKey  = "ADMINKEY-secret-0123456789"
	)
	client, err := wxsubclient.Local("http://127.0.0.1:3000", adminKey)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]any{
		"wechatsim.Config":    wechatsim.Config{AppID: appid, Secret: secret, PushToken: pushToken, EncodingAESKey: aesKey},
		"*localstack.Stack":   &localstack.Stack{URL: "http://127.0.0.1:3000", AdminKey: adminKey, Config: config.Config{AppID: appid, Secret: secret, PushToken: pushToken, EncodingAESKey: aesKey, AdminKey: adminKey}},
		"loadgen.Target":      loadgen.Target{URL: "http://127.0.0.1:3000", AdminKey: adminKey},
		"*wxsubclient.Client": client,
	}
	text := func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewTextHandler(w, o) }
	var buf bytes.Buffer
	loggers := map[string]*slog.Logger{
		"slog JSON":  slog.New(slog.NewJSONHandler(&buf, nil)),
		"slog text":  slog.New(slog.NewTextHandler(&buf, nil)),
		"wxsub JSON": backend.NewLogger(&buf),
		"wxsub text": backend.NewLoggerWith(&buf, text),
	}
	for name, v := range values {
		for lname, log := range loggers {
			buf.Reset()
			log.Info("logged", "value", v)
			line := buf.String()
			if !strings.Contains(line, "127.0.0.1") && !strings.Contains(line, appid) {
				t.Errorf("%s through %s: the line names nothing of it: %s", name, lname, line)
			}
			for _, s := range []string{secret, pushToken, aesKey, adminKey} {
				if strings.Contains(line, s) {
					t.Errorf("%s through %s prints a secret (%q): %s", name, lname, s, line)
				}
			}
		}
	}
}
