//go:build linux

package rie_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/wxsub/wxsub/dev/rie"
	"github.com/wxsub/wxsub/dev/samtemplate"
)

// repoRoot is the folder of template.yaml.
func repoRoot(t *testing.T) string {
	t.Helper()
	p, err := samtemplate.Find(".")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(p)
}

// emulator returns the pinned emulator's executable, or skips under -short.
func emulator(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the Lambda Runtime Interface Emulator and function binaries; run without -short")
	}
	bin, err := rie.Binary(t.Context(), filepath.Join(repoRoot(t), "tools"))
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// buildEcho builds testdata/echo as a host bootstrap.
func buildEcho(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-tags", "lambda.norpc", "-o", out, "./testdata/echo")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build echo: %v\n%s", err, b)
	}
	return out
}

// logBuffer collects the emulator's output; it is written from other goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// start starts an emulator that the test closes; the emulator's output is
// logged when the test fails.
func start(t *testing.T, o rie.Options) (*rie.Emulator, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	o.Output = logs
	e, err := rie.Start(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close()
		if t.Failed() {
			t.Logf("emulator output:\n%s", logs)
		}
	})
	return e, logs
}

func invoke(t *testing.T, e *rie.Emulator, event string) rie.Result {
	t.Helper()
	res, err := e.Invoke(t.Context(), []byte(event))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestInvokeRunsTheBootstrapWithItsEnvironment(t *testing.T) {
	bin := emulator(t)
	t.Setenv("WXSUB_RIE_TEST_LEAK", "from the test process")
	e, _ := start(t, rie.Options{RIE: bin, Bootstrap: buildEcho(t), Env: []string{"GREETING=你好=hello"}})

	for _, tc := range []struct{ variable, want string }{
		{"GREETING", "你好=hello"},
		{"WXSUB_RIE_TEST_LEAK", ""}, // nothing is inherited from the caller
		{"AWS_REGION", "us-east-1"}, // the Lambda-like base
		{"AWS_LAMBDA_FUNCTION_NAME", "function"},
	} {
		event := `{"env":"` + tc.variable + `"}`
		res := invoke(t, e, event)
		if res.Failed() {
			t.Fatalf("%s: the function failed: %s: %s", event, res.ErrorType, res.ErrorMessage)
		}
		var got struct {
			Event json.RawMessage `json:"event"`
			Env   string          `json:"env"`
		}
		if err := json.Unmarshal(res.Payload, &got); err != nil {
			t.Fatalf("%s: payload %s: %v", event, res.Payload, err)
		}
		if string(got.Event) != event || got.Env != tc.want {
			t.Errorf("%s: got event %s and %s=%q, want the event back and %q", event, got.Event, tc.variable, got.Env, tc.want)
		}
	}
}

func TestEnvReplacesTheBase(t *testing.T) {
	bin := emulator(t)
	e, _ := start(t, rie.Options{RIE: bin, Bootstrap: buildEcho(t), Name: "SendFunction", Env: []string{"AWS_REGION=cn-north-1"}})
	for variable, want := range map[string]string{"AWS_REGION": "cn-north-1", "AWS_LAMBDA_FUNCTION_NAME": "SendFunction"} {
		res := invoke(t, e, `{"env":"`+variable+`"}`)
		var got struct{ Env string }
		if err := json.Unmarshal(res.Payload, &got); err != nil || got.Env != want {
			t.Errorf("%s = %q (payload %s), want %q", variable, got.Env, res.Payload, want)
		}
	}
}

func TestFunctionErrorIsReported(t *testing.T) {
	bin := emulator(t)
	e, _ := start(t, rie.Options{RIE: bin, Bootstrap: buildEcho(t)})
	res := invoke(t, e, `{"fail":"the table is gone"}`)
	if !res.Failed() || res.ErrorMessage != "the table is gone" {
		t.Errorf("got %+v (payload %s), want a failure with the function's message", res, res.Payload)
	}
	// The function keeps serving after a failed invocation.
	if res := invoke(t, e, `{"env":"PATH"}`); res.Failed() {
		t.Errorf("the invocation after a failure failed too: %s", res.ErrorMessage)
	}
}

func TestExitAtStartIsReported(t *testing.T) {
	bin := emulator(t)
	e, _ := start(t, rie.Options{RIE: bin, Bootstrap: buildEcho(t), Env: []string{"EXIT_AT_INIT=1"}})
	if res := invoke(t, e, `{}`); !res.Failed() {
		t.Errorf("a bootstrap that exits at start gave %s, want a failure", res.Payload)
	}
}

func TestCloseStopsTheEmulator(t *testing.T) {
	bin := emulator(t)
	e, _ := start(t, rie.Options{RIE: bin, Bootstrap: buildEcho(t)})
	invoke(t, e, `{}`)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Invoke(context.Background(), []byte(`{}`)); err == nil {
		t.Error("Invoke after Close succeeded")
	}
}

func TestStartRejectsAMalformedEnvironment(t *testing.T) {
	_, err := rie.Start(t.Context(), rie.Options{RIE: "/nonexistent/rie", Bootstrap: "/nonexistent/bootstrap", Env: []string{"NO_EQUALS_SIGN"}})
	if err == nil {
		t.Fatal("Start accepted an environment entry without =")
	}
}
