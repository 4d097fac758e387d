// Package callers_test checks the SigV4 snippets of docs/server-callers.md
// (sigv4.mjs for Node, sigv4.py for Python): each signs fixed requests with
// fixed credentials at a fixed time, and its Authorization must be the one
// the aws-sdk-go-v2 signer computes, which is what API Gateway's IAM
// authorizer checks.
package callers_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// request is one fixed request to sign.
type request struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

var (
	creds = aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
		SessionToken: "IQoJb3JpZ2luX2VjEXAMPLETOKEN"}
	at       = time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)
	requests = []request{
		{Method: "POST", URL: "https://k3x9q2m7va.execute-api.cn-north-1.amazonaws.com.cn/v1/messages",
			Headers: map[string]string{"Content-Type": "application/json", "Idempotency-Key": "order-SO20240518001-shipped", "Content-Length": fmt.Sprint(len(sendBody))},
			Body:    sendBody},
		{Method: "GET", URL: "https://k3x9q2m7va.execute-api.cn-north-1.amazonaws.com.cn/v1/users/oSimU0d3kqZ1r7N2mYbXc4Ae9PwQ/subscriptions"},
		{Method: "GET", URL: "https://k3x9q2m7va.execute-api.cn-north-1.amazonaws.com.cn/v1/broadcasts/b_01JDZ9/messages?next=o%2Fx%3D1&limit=50"},
		{Method: "GET", URL: "http://127.0.0.1:3000/v1/quota"},
	}
)

const (
	region   = "cn-north-1"
	sendBody = `{"touser":"oSimU0d3kqZ1r7N2mYbXc4Ae9PwQ","template_id":"RaAXmaHZ6OFYKcCbG9rsyEpBqsERIZsLLga8-KL5xqI","data":{"thing2":{"value":"无线蓝牙耳机"}}}`
)

// want signs r with the aws-sdk-go-v2 signer.
func want(t *testing.T, r request) string {
	t.Helper()
	req, err := http.NewRequest(r.Method, r.URL, strings.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	// The SDK signs Content-Length when the request has a body; the
	// snippets sign the headers they are given, Content-Length among them.
	if r.Body != "" && r.Headers["Content-Length"] == "" {
		t.Fatalf("give the snippets the Content-Length of %s %s", r.Method, r.URL)
	}
	sum := sha256.Sum256([]byte(r.Body))
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "execute-api", region, at); err != nil {
		t.Fatal(err)
	}
	return req.Header.Get("Authorization")
}

func check(t *testing.T, name string, run func(r request) (map[string]string, error)) {
	for _, r := range requests {
		got, err := run(r)
		if err != nil {
			t.Fatalf("%s %s %s: %v", name, r.Method, r.URL, err)
		}
		if w := want(t, r); got["authorization"] != w {
			t.Errorf("%s %s %s:\n got %s\nwant %s", name, r.Method, r.URL, got["authorization"], w)
		}
		if got["x-amz-date"] != "20261201T160000Z" || got["x-amz-security-token"] != creds.SessionToken {
			t.Errorf("%s: headers %v", name, got)
		}
	}
}

func TestNodeSnippetSignsAsTheSDK(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	dir, _ := filepath.Abs(".")
	check(t, "node", func(r request) (map[string]string, error) {
		in, _ := json.Marshal(r)
		script := `import { signRequest } from ` + jsString("file://"+filepath.Join(dir, "sigv4.mjs")) + `;
const r = JSON.parse(process.env.REQUEST);
const h = signRequest({ method: r.method, url: r.url, headers: r.headers || {}, body: r.body, region: ` + jsString(region) + `,
  credentials: { accessKeyId: ` + jsString(creds.AccessKeyID) + `, secretAccessKey: ` + jsString(creds.SecretAccessKey) + `, sessionToken: ` + jsString(creds.SessionToken) + ` },
  date: new Date('2026-12-01T16:00:00Z') });
console.log(JSON.stringify(h));`
		cmd := exec.Command("node", "--input-type=module", "-e", script)
		cmd.Env = append(os.Environ(), "REQUEST="+string(in))
		return output(cmd)
	})
}

func TestPythonSnippetSignsAsTheSDK(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	check(t, "python", func(r request) (map[string]string, error) {
		in, _ := json.Marshal(r)
		script := `import datetime, json, os
from sigv4 import sign_request
r = json.loads(os.environ["REQUEST"])
h = sign_request(r["method"], r["url"], "` + region + `", "` + creds.AccessKeyID + `", "` + creds.SecretAccessKey + `",
                 session_token="` + creds.SessionToken + `", headers=r.get("headers") or {}, body=r["body"].encode(),
                 now=datetime.datetime(2026, 12, 1, 16, 0, 0, tzinfo=datetime.timezone.utc))
print(json.dumps(h))`
		cmd := exec.Command("python3", "-c", script)
		cmd.Env = append(os.Environ(), "REQUEST="+string(in), "PYTHONPATH=.", "PYTHONDONTWRITEBYTECODE=1")
		return output(cmd)
	})
}

func output(cmd *exec.Cmd) (map[string]string, error) {
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return nil, &runError{err, string(ee.Stderr)}
		}
		return nil, err
	}
	var h map[string]string
	return h, json.Unmarshal(out, &h)
}

type runError struct {
	err    error
	stderr string
}

func (e *runError) Error() string { return e.err.Error() + ": " + e.stderr }

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestGuideShowsTheTestedSnippets: the guide's Node and Python code is
// these files, word for word.
func TestGuideShowsTheTestedSnippets(t *testing.T) {
	guide, err := os.ReadFile("../server-callers.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"sigv4.mjs", "sigv4.py"} {
		code, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(guide), string(code)) {
			t.Errorf("docs/server-callers.md does not show docs/callers/%s as it is", f)
		}
	}
}
