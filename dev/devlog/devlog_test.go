package devlog_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/wxsub/wxsub/dev/devlog"
	"github.com/wxsub/wxsub/dev/localstack"
	"github.com/wxsub/wxsub/shared/backend"
	"github.com/wxsub/wxsub/shared/metrics"
)

func text(w io.Writer, opts *slog.HandlerOptions) slog.Handler { return devlog.NewHandler(w, opts) }

func TestLinesAreShortAndRedacted(t *testing.T) {
	var b bytes.Buffer
	log := backend.NewLoggerWith(&b, text).With("appid", "wx0123456789abcdef")
	log.Info("request", "request_id", "abc", "route", "POST /v1/messages", "status", 200, "duration_ms", 12, "function", "SendFunction")
	log.Warn("token refresh failed", "secret", "s3cr3t", "openid", "oUser0123456789abcdefghijkl", "err", "WeChat answered 40164: invalid ip")
	log.Debug("not shown")
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	if !regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} INFO  request POST /v1/messages 200 12ms function=SendFunction$`).MatchString(lines[0]) {
		t.Errorf("request line: %q", lines[0])
	}
	if !regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} WARN  token refresh failed secret=\[redacted\] openid=oUser0\*\*\* err="WeChat answered 40164: invalid ip"$`).MatchString(lines[1]) {
		t.Errorf("warning line: %q", lines[1])
	}
	if strings.Contains(b.String(), "s3cr3t") || strings.Contains(b.String(), "abcdefghijkl") || strings.Contains(b.String(), "wx0123") {
		t.Errorf("a secret, a full openid or the appid was printed:\n%s", b.String())
	}
}

func TestSummaryAddsUpTheMetrics(t *testing.T) {
	var b bytes.Buffer
	s := devlog.NewSummary(slog.New(devlog.NewHandler(&b, nil)))
	m := metrics.New(s, nil)
	m.Count(metrics.Sends, 1, metrics.Dim{Name: metrics.Outcome, Value: "sent"}, metrics.Dim{Name: metrics.ErrCode, Value: "0"})
	m.Count(metrics.Sends, 1, metrics.Dim{Name: metrics.Outcome, Value: "sent"}, metrics.Dim{Name: metrics.ErrCode, Value: "0"})
	m.Count(metrics.Sends, 1, metrics.Dim{Name: metrics.Outcome, Value: "failed"}, metrics.Dim{Name: metrics.ErrCode, Value: "43101"})
	m.Count(metrics.CreditsGranted, 2)
	m.Emit(metrics.TokenAgeSeconds, metrics.Seconds, 90)
	m.Emit(metrics.TokenAgeSeconds, metrics.Seconds, 390)
	s.Flush()
	want := "metrics summary=\"CreditsGranted=2, Sends failed 43101=1, Sends sent 0=2, TokenAgeSeconds=6m30s\""
	if !strings.Contains(b.String(), want) || strings.Count(b.String(), "\n") != 1 {
		t.Fatalf("summary:\n%s\nwant a line with %s", b.String(), want)
	}
	b.Reset()
	s.Flush()
	if b.Len() != 0 {
		t.Fatalf("a flush with nothing new printed %q", b.String())
	}
}

// The local stack with the text handler and the summary, as `make run`
// starts it: a request is one short line, and no JSON reaches the output.
func TestLocalStackPrintsText(t *testing.T) {
	var out bytes.Buffer
	var mu syncWriter
	mu.w = &out
	sum := devlog.NewSummary(backend.NewLoggerWith(&mu, text))
	s, err := localstack.Start(context.Background(), localstack.Options{Addr: "127.0.0.1:0", SimAddr: "127.0.0.1:0",
		LogOutput: &mu, LogHandler: text, MetricsOutput: sum})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", s.URL+"/v1/quota", nil)
	req.Header.Set("Authorization", "Bearer "+s.AdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.Close()
	sum.Flush()
	got := mu.String()
	if !regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{3} INFO  request GET /v1/quota 200 \d+ms`).MatchString(got) {
		t.Errorf("no request line for GET /v1/quota:\n%s", got)
	}
	if !strings.Contains(got, "INFO  metrics summary=") || !strings.Contains(got, "TokenRefreshes") {
		t.Errorf("no metrics summary:\n%s", got)
	}
	if strings.Contains(got, "{\"") {
		t.Errorf("JSON in the output:\n%s", got)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}
