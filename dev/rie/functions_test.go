//go:build linux

package rie_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/wxsub/wxsub/dev/localdb"
	"github.com/wxsub/wxsub/dev/rie"
	"github.com/wxsub/wxsub/dev/samtemplate"
	"github.com/wxsub/wxsub/dev/wechatsim"
)

// TestFunctionsUnderRIE builds every function of template.yaml with its
// Makefile target (for the host's architecture), runs the bootstrap under
// the Runtime Interface Emulator against an in-process DynamoDB and the
// WeChat simulator, and invokes it with its samples from events/.
func TestFunctionsUnderRIE(t *testing.T) {
	bin := emulator(t)
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed: the smoke test builds with the Makefile's build-<LogicalId> targets")
	}
	tpl, root := loadTemplate(t)
	samples := loadSamples(t, root, tpl)
	if t.Failed() {
		t.FailNow()
	}

	// DynamoDB, with the template's table: the local one, as realistic as
	// in every other test (conflicts, write budgets, index lag).
	const table = "wxsub"
	ddb, err := localdb.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ddb.Close() })
	if err := localdb.EnsureTable(t.Context(), ddb.Client(), tpl.Table.CreateTableInput(table)); err != nil {
		t.Fatal(err)
	}

	// WeChat.
	sim := wechatsim.New(wechatsim.Config{})
	t.Cleanup(sim.Close)
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	cfg := sim.Config()

	key := make([]byte, 32)
	rand.Read(key)
	signingKey := base64.StdEncoding.EncodeToString(key)
	secrets := map[string]string{
		"WECHAT_SECRET":           cfg.Secret,
		"WECHAT_PUSH_TOKEN":       cfg.PushToken,
		"WECHAT_ENCODING_AES_KEY": cfg.EncodingAESKey,
		"SESSION_SIGNING_KEY":     signingKey,
	}
	// What each variable of template.yaml is locally; "" leaves it unset.
	local := map[string]string{
		"TABLE_NAME":          table,
		"WECHAT_APPID":        cfg.AppID,
		"WECHAT_TOKEN_API":    "stable",
		"WECHAT_PUSH_MODE":    "secure",
		"WXSUB_CREDIT_SOURCE": "both",
		"WECHAT_APP_KIND":     "miniprogram",
		"WECHAT_API_BASE":     simSrv.URL,
		"SESSION_TTL":         "168h",
		"WXSUB_SECRETS":       "", // locally the secrets are in the environment
		// No sample reaches SQS: the POST fails validation, the worker's job is dropped.
		"BROADCAST_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/wxsub-BroadcastQueue-local",
		// The defaults of template.yaml's BroadcastRate and BroadcastWorkers.
		"BROADCAST_RATE":    "50",
		"BROADCAST_WORKERS": "10",
		// Each function runs alone under the emulator, with no refresher to
		// invoke: it fetches a token itself (the local stack's tests check
		// that the refresher makes every token call).
		"WXSUB_REFRESHER": "",
	}

	for _, fn := range tpl.Functions {
		t.Run(fn.LogicalID, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(root, fn.CodeDir, "main.go")); errors.Is(err, fs.ErrNotExist) {
				t.Skipf("%s/main.go does not exist yet", fn.CodeDir)
			}
			env := []string{"DYNAMODB_ENDPOINT=" + ddb.URL}
			for k, v := range secrets {
				env = append(env, k+"="+v)
			}
			for k, v := range fn.Env {
				lv, known := local[k]
				switch {
				case known && lv != "":
					env = append(env, k+"="+lv)
				case known:
				case !strings.HasPrefix(v, "!"):
					env = append(env, k+"="+v)
				default:
					t.Fatalf("template.yaml sets %s to %s: tell this test what it is locally", k, v)
				}
			}
			e, logs := start(t, rie.Options{
				RIE: bin, Bootstrap: buildFunction(t, root, fn), Name: fn.LogicalID, Timeout: fn.Timeout, Env: env,
			})
			for _, s := range samples {
				if s.Fn.LogicalID != fn.LogicalID {
					continue
				}
				t.Run(s.File, func(t *testing.T) {
					event, vars := fill(t, s.Raw, simSrv.URL)
					res := invoke(t, e, string(event))
					if res.Failed() {
						t.Fatalf("the function failed: %s: %s", res.ErrorType, res.ErrorMessage)
					}
					for name, v := range secrets {
						if bytes.Contains(res.Payload, []byte(v)) {
							t.Errorf("the answer contains %s", name)
						}
					}
					switch {
					case s.Route != nil:
						checkHTTPAnswer(t, res.Payload, expectations[s.File], vars)
					case s.Queue != nil:
						checkQueueAnswer(t, res.Payload, expectations[s.File], vars)
					}
				})
			}
			for name, v := range secrets {
				if strings.Contains(logs.String(), v) {
					t.Errorf("the function's logs contain %s", name)
				}
			}
		})
	}
}

// buildFunction builds fn's bootstrap for this machine with its Makefile
// target, the one `sam build` runs.
func buildFunction(t *testing.T, root string, fn samtemplate.Function) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), "make", "-s", "-C", root, "build-"+fn.LogicalID,
		"ARTIFACTS_DIR="+dir, "LAMBDA_GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build-%s: %v\n%s", fn.LogicalID, err, out)
	}
	return filepath.Join(dir, "bootstrap")
}

var placeholder = regexp.MustCompile(`\$\{([A-Z_]+)\}`)

// fill replaces the placeholders of a sample: ${CODE} becomes a fresh
// wx.login code from the simulator (and vars["OPENID"] its openid).
func fill(t *testing.T, raw []byte, simURL string) ([]byte, map[string]string) {
	t.Helper()
	vars := map[string]string{}
	for _, m := range placeholder.FindAllSubmatch(raw, -1) {
		switch name := string(m[1]); name {
		case "CODE":
			if _, done := vars["CODE"]; done {
				continue
			}
			var login struct{ Code, OpenID string }
			postJSON(t, simURL+"/__sim/login", `{}`, &login)
			if login.Code == "" || login.OpenID == "" {
				t.Fatalf("the simulator's login answer has no code or openid: %+v", login)
			}
			vars["CODE"], vars["OPENID"] = login.Code, login.OpenID
		default:
			t.Fatalf("unknown placeholder ${%s}", name)
		}
	}
	out := placeholder.ReplaceAllFunc(raw, func(m []byte) []byte {
		return []byte(vars[string(m[2:len(m)-1])])
	})
	return out, vars
}

func postJSON(t *testing.T, url, body string, v any) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.WithoutCancel(t.Context()), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s: %s", url, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("POST %s: %v: %s", url, err, b)
	}
}

// checkQueueAnswer checks that a function's answer to an SQS event is the
// partial batch response Lambda reads when ReportBatchItemFailures is on.
func checkQueueAnswer(t *testing.T, payload []byte, want expectation, vars map[string]string) {
	t.Helper()
	var resp struct {
		BatchItemFailures []struct {
			ItemIdentifier string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp); err != nil {
		t.Fatalf("the answer is not an SQS batch response (%v): %s", err, payload)
	}
	t.Logf("%s", payload)
	for _, f := range resp.BatchItemFailures {
		if f.ItemIdentifier == "" {
			t.Errorf("a batch item failure without an itemIdentifier: %s", payload)
		}
	}
	var doc map[string]any
	json.Unmarshal(payload, &doc)
	if want.check != nil {
		want.check(t, doc, vars)
	}
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// checkHTTPAnswer checks that a function's answer is a well-formed API
// Gateway payload 2.0 response in the contract's shape, with the expected status.
func checkHTTPAnswer(t *testing.T, payload []byte, want expectation, vars map[string]string) {
	t.Helper()
	var resp struct {
		StatusCode        *int                `json:"statusCode"`
		Headers           map[string]string   `json:"headers"`
		MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
		Cookies           []string            `json:"cookies"`
		Body              string              `json:"body"`
		IsBase64Encoded   bool                `json:"isBase64Encoded"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp); err != nil || resp.StatusCode == nil {
		t.Fatalf("the answer is not an API Gateway response (%v): %s", err, payload)
	}
	status := *resp.StatusCode
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			t.Fatalf("isBase64Encoded but the body is not base64: %v", err)
		}
	}
	t.Logf("%d %s", status, body)
	switch {
	case want.status != 0 && status != want.status:
		t.Errorf("status %d, want %d", status, want.status)
	case want.status == 0 && (status < 200 || status >= 500):
		t.Errorf("status %d, want a success or a client error", status)
	}
	if len(body) == 0 {
		t.Fatal("the answer has no body; every answer of the contract is JSON")
	}
	contentType := ""
	for k, v := range resp.Headers {
		if strings.EqualFold(k, "Content-Type") {
			contentType = v
		}
	}
	if !strings.HasPrefix(contentType, "application/json") {
		t.Errorf("Content-Type %q, want application/json", contentType)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("the body is not a JSON object: %v", err)
	}
	if status >= 400 {
		e, _ := doc["error"].(map[string]any)
		code, _ := e["code"].(string)
		msg, _ := e["message"].(string)
		if !snakeCase.MatchString(code) || msg == "" {
			t.Errorf(`an error answer must be {"error":{"code":"snake_case","message":"..."}}, got %s`, body)
		}
		if want.code != "" && code != want.code {
			t.Errorf("error code %q, want %q", code, want.code)
		}
	}
	if want.check != nil {
		want.check(t, doc, vars)
	}
}
