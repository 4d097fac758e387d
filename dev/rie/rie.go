//go:build linux

package rie

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ToolName is the emulator's name in the tools module.
const ToolName = "aws-lambda-rie"

// startTimeout bounds how long Start waits for the emulator to listen.
const startTimeout = 30 * time.Second

// Binary builds the emulator pinned by the tools module in toolsDir (the
// folder holding its go.mod) and returns the executable's path. The go
// command caches the build, so later calls are fast.
func Binary(ctx context.Context, toolsDir string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "tool", "-n", ToolName)
	cmd.Dir = toolsDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("rie: build %s in %s: %w: %s", ToolName, toolsDir, err, strings.TrimSpace(stderr.String()))
	}
	path := strings.TrimSpace(string(out))
	if path == "" || strings.ContainsAny(path, "\n ") {
		return "", fmt.Errorf("rie: unexpected output of go tool -n %s: %q", ToolName, out)
	}
	return path, nil
}

// Options configures Start.
type Options struct {
	// RIE is the emulator's executable (see Binary).
	RIE string
	// Bootstrap is the function's executable. Its folder is the working
	// directory and LAMBDA_TASK_ROOT, as /var/task is in Lambda.
	Bootstrap string
	// Name is the function's name (AWS_LAMBDA_FUNCTION_NAME); default "function".
	Name string
	// Timeout is the function's timeout; default 3 s, as in Lambda.
	Timeout time.Duration
	// Env is the function's environment as "KEY=value" entries. It is added
	// to a Lambda-like base (PATH, TZ, LANG, AWS_REGION us-east-1, dummy
	// credentials) and replaces any of those it names; nothing is inherited
	// from the calling process.
	Env []string
	// Output receives the emulator's and the function's logs; nil discards
	// them. It is written from other goroutines.
	Output io.Writer
}

// Emulator is a running emulator with one function.
type Emulator struct {
	// URL is the emulator's base URL, e.g. http://127.0.0.1:40123.
	URL string

	cmd    *exec.Cmd
	client *http.Client
	exited chan struct{}
	once   sync.Once
	err    error
}

// Start starts the emulator for o.Bootstrap and returns when it accepts
// invocations. The function itself starts on the first invocation, as a cold
// start does in Lambda.
func Start(ctx context.Context, o Options) (*Emulator, error) {
	if o.RIE == "" || o.Bootstrap == "" {
		return nil, errors.New("rie: Options.RIE and Options.Bootstrap are required")
	}
	bootstrap, err := filepath.Abs(o.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("rie: %w", err)
	}
	if o.Name == "" {
		o.Name = "function"
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	out := o.Output
	if out == nil {
		out = io.Discard
	}
	invokeAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	runtimeAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}

	secs := int((o.Timeout + time.Second - 1) / time.Second)
	env := map[string]string{
		"PATH":                            "/usr/local/bin:/usr/bin:/bin",
		"TZ":                              ":UTC",
		"LANG":                            "en_US.UTF-8",
		"LAMBDA_TASK_ROOT":                filepath.Dir(bootstrap),
		"AWS_REGION":                      "us-east-1",
		"AWS_DEFAULT_REGION":              "us-east-1",
		"AWS_ACCESS_KEY_ID":               "AKIDLOCALRIE",
		"AWS_SECRET_ACCESS_KEY":           "local-rie-secret",
		"AWS_LAMBDA_FUNCTION_NAME":        o.Name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     strconv.Itoa(secs),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
	}
	for _, kv := range o.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("rie: environment entry without KEY=: %q", kv)
		}
		env[k] = v
	}

	cmd := exec.Command(o.RIE,
		"--runtime-interface-emulator-address", invokeAddr,
		"--runtime-api-address", runtimeAddr,
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = make([]string, 0, len(env))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that Close also ends the function the
	// emulator started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("rie: start %s: %w", o.RIE, err)
	}
	e := &Emulator{
		URL:    "http://" + invokeAddr,
		cmd:    cmd,
		client: &http.Client{Timeout: o.Timeout + 30*time.Second},
		exited: make(chan struct{}),
	}
	go func() {
		e.err = cmd.Wait()
		close(e.exited)
	}()
	if err := e.waitListening(ctx, invokeAddr); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("rie: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (e *Emulator) waitListening(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var d net.Dialer
		if c, err := d.DialContext(ctx, "tcp", addr); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-e.exited:
			return fmt.Errorf("rie: the emulator exited before listening: %v", e.err)
		case <-ctx.Done():
			return fmt.Errorf("rie: the emulator did not listen on %s: %w", addr, ctx.Err())
		case <-tick.C:
		}
	}
}

// Result is the answer to one invocation.
type Result struct {
	// Payload is what the function returned (or the error document when it failed).
	Payload []byte
	// ErrorType and ErrorMessage are set when the function failed: it
	// returned an error, panicked, exited or timed out.
	ErrorType, ErrorMessage string
}

// Failed reports whether the invocation failed.
func (r Result) Failed() bool { return r.ErrorType != "" }

// Invoke sends one event to the function, as Lambda's Invoke API does with
// the RequestResponse invocation type, and returns its answer.
func (e *Emulator) Invoke(ctx context.Context, event []byte) (Result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		e.URL+"/2015-03-31/functions/function/invocations", bytes.NewReader(event))
	if err != nil {
		return Result{}, fmt.Errorf("rie: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("rie: invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Result{}, fmt.Errorf("rie: read the answer: %w", err)
	}
	res := Result{Payload: body}
	var doc struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	switch {
	case resp.StatusCode != http.StatusOK:
		// 502 is the emulator's answer when the function crashed or exited.
		res.ErrorType = "Emulator." + strconv.Itoa(resp.StatusCode)
		res.ErrorMessage = "the emulator answered " + resp.Status
		if b := strings.TrimSpace(string(body)); b != "" {
			res.ErrorMessage += ": " + b
		}
		if json.Unmarshal(body, &doc) == nil && doc.ErrorType != "" {
			res.ErrorType, res.ErrorMessage = doc.ErrorType, doc.ErrorMessage
		}
	case strings.HasPrefix(string(body), "Task timed out after"):
		res.ErrorType, res.ErrorMessage = "Sandbox.Timedout", string(body)
	case json.Unmarshal(body, &doc) == nil && doc.ErrorType != "" && isErrorDocument(body):
		res.ErrorType, res.ErrorMessage = doc.ErrorType, doc.ErrorMessage
	}
	return res, nil
}

// isErrorDocument reports whether a payload is Lambda's error document,
// whose only keys are errorType, errorMessage and stackTrace.
func isErrorDocument(body []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return false
	}
	for k := range m {
		if k != "errorType" && k != "errorMessage" && k != "stackTrace" {
			return false
		}
	}
	return true
}

// Close stops the emulator and the function.
func (e *Emulator) Close() error {
	e.once.Do(func() {
		pgid := e.cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-e.exited:
		case <-time.After(5 * time.Second):
		}
		// Whatever is left of the group (the function, if the emulator did
		// not end it) goes too.
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-e.exited
	})
	return nil
}
