package wechatsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/wechatsim"
)

// curlLine is one command of the walk-through:
// [VAR=$(]curl -s [-w '\n'] [-X POST] URL [-d BODY][ | sed … "field":…)]
var curlLine = regexp.MustCompile(`^(?:([A-Z]+)=\$\()?curl -s (?:-w '\\n' )?(?:-X (POST) )?('[^']*'|"[^"]*")(?: -d '([^']*)')?(?: \| sed -n 's/\.\*"([a-z_]+)":"\\\(\[\^"\]\*\\\)"\.\*/\\1/p'\))?$`)

// TestWalkThroughRunsAsPrinted executes every command of the printed
// walk-through over HTTP, as bash and curl would, and checks its story.
func TestWalkThroughRunsAsPrinted(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	text := e.sim.WalkThrough(e.url)
	vars := map[string]string{}
	var answers []string
	for line := range strings.Lines(text) {
		line = strings.TrimSuffix(line, "\n")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := curlLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("walk-through line is not a command this test understands:\n%s", line)
		}
		capture, method, rawURL, body, field := m[1], m[2], m[3], m[4], m[5]
		if method == "" {
			method = "GET"
		}
		u := rawURL[1 : len(rawURL)-1]
		if rawURL[0] == '"' { // bash expands $VARS inside double quotes
			u = regexp.MustCompile(`\$([A-Z]+)`).ReplaceAllStringFunc(u, func(v string) string { return vars[v[1:]] })
		}
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, u, r)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: HTTP %d %s", line, resp.StatusCode, out)
		}
		if capture != "" {
			var o map[string]any
			json.Unmarshal(out, &o)
			if vars[capture], _ = o[field].(string); vars[capture] == "" {
				t.Fatalf("%s: no %q in %s", line, field, out)
			}
			continue
		}
		answers = append(answers, string(out))
	}
	checkWalkThroughStory(t, answers)
}

// TestWalkThroughInBash pastes the walk-through into bash, when bash and
// curl are installed.
func TestWalkThroughInBash(t *testing.T) {
	bash, err1 := exec.LookPath("bash")
	_, err2 := exec.LookPath("curl")
	_, err3 := exec.LookPath("sed")
	if err1 != nil || err2 != nil || err3 != nil {
		t.Skip("needs bash, curl and sed")
	}
	e := newEnv(t, wechatsim.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, "-e")
	cmd.Stdin = strings.NewReader(e.sim.WalkThrough(e.url + "/"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bash: %v\n%s", err, stderr.String())
	}
	checkWalkThroughStory(t, strings.Split(strings.TrimSpace(stdout.String()), "\n"))
}

// checkWalkThroughStory checks the printed answers of the walk-through:
// session, popup, send ok, inbox with the message, send again 43101.
func checkWalkThroughStory(t *testing.T, answers []string) {
	t.Helper()
	if len(answers) != 5 {
		t.Fatalf("walk-through printed %d answers, want 5:\n%s", len(answers), strings.Join(answers, "\n"))
	}
	var session, popup, sent, again map[string]any
	var inbox struct{ Messages []map[string]any }
	for i, v := range []any{&session, &popup, &sent, &inbox, &again} {
		if err := json.Unmarshal([]byte(answers[i]), v); err != nil {
			t.Fatalf("answer %d %q: %v", i+1, answers[i], err)
		}
	}
	if session["openid"] != wechatsim.WalkThroughOpenID {
		t.Errorf("jscode2session: %v", session)
	}
	if popup["errMsg"] != "requestSubscribeMessage:ok" {
		t.Errorf("popup: %v", popup)
	}
	if sent["errcode"] != float64(0) || sent["msgid"] == nil {
		t.Errorf("first send: %v", sent)
	}
	if len(inbox.Messages) != 1 {
		t.Errorf("inbox: %v", inbox)
	}
	if again["errcode"] != float64(43101) {
		t.Errorf("second send: %v, want 43101", again)
	}
}
