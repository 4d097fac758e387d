package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxsub/wxsub/cmd/wxsub/cli"
	"github.com/wxsub/wxsub/dev/localstack"
	"github.com/wxsub/wxsub/dev/wechatsim"
)

func stack(t *testing.T) *localstack.Stack {
	t.Helper()
	s, err := localstack.Start(context.Background(), localstack.Options{Addr: "127.0.0.1:0", SimAddr: "127.0.0.1:0", NoSchedules: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, job := range []string{"RefreshTokenFunction", "TemplatesFunction"} {
		if err := s.RunSchedule(context.Background(), job); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// run runs `wxsub args...` with WXSUB_URL and WXSUB_ADMIN_KEY of the stack
// and returns what it printed on stdout and stderr.
func run(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := cli.New(func(k string) string { return env[k] }, &out, &errOut)
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func post(t *testing.T, url, auth string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return out
}

func subscriber(t *testing.T, s *localstack.Stack, tmpl string, n int) string {
	t.Helper()
	l := post(t, s.SimURL+"/__sim/login", "", map[string]any{})
	sess := post(t, s.URL+"/v1/session", "", map[string]any{"code": l["code"]})
	openid, token := sess["openid"].(string), sess["token"].(string)
	for i := 0; i < n; i++ {
		p := post(t, s.SimURL+"/__sim/popup", "", map[string]any{"openid": openid, "results": map[string]string{tmpl: "accept"}})
		post(t, s.URL+"/v1/subscriptions", token, map[string]any{"result": p})
	}
	s.Sim.Flush()
	return openid
}

func dataArgs() []string {
	var args []string
	for _, tp := range wechatsim.DefaultTemplates() {
		if tp.ID == wechatsim.TmplOrderShipped {
			for _, k := range tp.Keywords {
				args = append(args, "-d", k.Key+"="+k.Example)
			}
		}
	}
	return args
}

func TestSendMessageUserAsTablesAndJSON(t *testing.T) {
	s := stack(t)
	env := map[string]string{"WXSUB_URL": s.URL, "WXSUB_ADMIN_KEY": s.AdminKey}
	tmpl := wechatsim.TmplOrderShipped
	openid := subscriber(t, s, tmpl, 2)

	out, _, err := run(t, env, append([]string{"send", "--to", openid, "--template", tmpl, "--page", "pages/index/index"}, dataArgs()...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "status        sent") || !strings.Contains(out, "credits left  1") {
		t.Fatalf("send printed:\n%s", out)
	}
	out, _, err = run(t, env, append([]string{"--json", "send", "--to", openid, "--template", tmpl, "--idempotency-key", "k1"}, dataArgs()...)...)
	if err != nil {
		t.Fatal(err)
	}
	var sent struct {
		MessageID   string `json:"message_id"`
		CreditsLeft int    `json:"credits_left"`
	}
	if err := json.Unmarshal([]byte(out), &sent); err != nil || sent.MessageID == "" || sent.CreditsLeft != 0 {
		t.Fatalf("send --json printed %q (%v)", out, err)
	}
	if n := len(s.Sim.Inbox(openid)); n != 2 {
		t.Fatalf("inbox %d, want 2", n)
	}

	out, _, err = run(t, env, "message", sent.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, sent.MessageID) || !strings.Contains(out, openid) {
		t.Fatalf("message printed:\n%s", out)
	}
	out, _, err = run(t, env, "user", openid)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "订单发货通知") || !strings.Contains(out, "TEMPLATE") {
		t.Fatalf("user printed:\n%s", out)
	}
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, tmpl) {
			line = l
		}
	}
	if f := strings.Fields(line); len(f) < 6 || f[1] != "one_time" || f[2] != "accept" || f[3] != "0" || f[5] != "订单发货通知" {
		t.Fatalf("user's row for %s: %q", tmpl, line)
	}

	// A refusal: the contract's code and message, as the command's error.
	_, _, err = run(t, env, append([]string{"send", "--to", openid, "--template", tmpl}, dataArgs()...)...)
	if err == nil || !strings.Contains(cli.Explain(err), "HTTP 409 no_credit") {
		t.Fatalf("send without credit: %v", err)
	}
	_, _, err = run(t, env, "send", "--to", openid, "--template", tmpl, "-d", "thing2")
	if err == nil || !strings.Contains(err.Error(), "key=value") {
		t.Fatalf("bad --data: %v", err)
	}
	_, _, err = run(t, map[string]string{"WXSUB_URL": s.URL}, "quota")
	if err == nil || !strings.Contains(err.Error(), "admin key") {
		t.Fatalf("no admin key: %v", err)
	}
}

func TestBroadcastFollowsToDone(t *testing.T) {
	s := stack(t)
	env := map[string]string{"WXSUB_URL": s.URL, "WXSUB_ADMIN_KEY": s.AdminKey}
	tmpl := wechatsim.TmplOrderShipped
	for i := 0; i < 4; i++ {
		subscriber(t, s, tmpl, 1)
	}
	time.Sleep(400 * time.Millisecond) // the broadcast reads gsi1, which lags

	out, progress, err := run(t, env, append([]string{"broadcast", "--template", tmpl, "--every", "50ms"}, dataArgs()...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "state      done") || !strings.Contains(out, "sent       4") {
		t.Fatalf("broadcast printed:\n%s", out)
	}
	if !strings.Contains(progress, "queued") || !strings.Contains(progress, "4/4") || !strings.Contains(progress, "done: sent 4") {
		t.Fatalf("progress printed:\n%s", progress)
	}
	id := strings.Fields(strings.TrimPrefix(progress, "broadcast "))[0]

	out, progress, err = run(t, env, "--json", "broadcast", "--follow", id)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		BroadcastID string `json:"broadcast_id"`
		State       string `json:"state"`
		Sent        int    `json:"sent"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.BroadcastID != id || st.State != "done" || st.Sent != 4 || progress != "" {
		t.Fatalf("broadcast --json --follow printed %q, %q (%v)", out, progress, err)
	}
}

func TestTemplatesAndQuota(t *testing.T) {
	s := stack(t)
	env := map[string]string{"WXSUB_URL": s.URL, "WXSUB_ADMIN_KEY": s.AdminKey}
	out, _, err := run(t, env, "templates")
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range wechatsim.DefaultTemplates() {
		if !strings.Contains(out, tp.ID) || !strings.Contains(out, tp.Title) {
			t.Fatalf("templates lacks %s %s:\n%s", tp.ID, tp.Title, out)
		}
	}
	if !strings.Contains(out, "待缴费|已缴费|已超时") {
		t.Fatalf("templates does not show an enum's values:\n%s", out)
	}
	subscriber(t, s, wechatsim.TmplOrderShipped, 1)
	if _, _, err := run(t, env, append([]string{"send", "--to", subscriber(t, s, wechatsim.TmplOrderShipped, 1), "--template", wechatsim.TmplOrderShipped}, dataArgs()...)...); err != nil {
		t.Fatal(err)
	}
	s.DrainStreams(context.Background())
	out, _, err = run(t, env, "quota")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "/cgi-bin/message/subscribe/send") || !strings.Contains(out, "credits granted   2") || !strings.Contains(out, "sent              1") {
		t.Fatalf("quota printed:\n%s", out)
	}
}

// --stack reads the stack's ApiUrl output from CloudFormation (here a local
// server speaking CloudFormation's query protocol, reached through the SDK's
// AWS_ENDPOINT_URL_CLOUDFORMATION).
func TestStackFlagReadsApiUrl(t *testing.T) {
	s := stack(t)
	var asked string
	cfn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		asked = string(body)
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member>
<StackName>wxsub-dev</StackName><StackStatus>CREATE_COMPLETE</StackStatus><CreationTime>2026-12-01T00:00:00Z</CreationTime>
<Outputs><member><OutputKey>TableName</OutputKey><OutputValue>wxsub-dev-Table</OutputValue></member>
<member><OutputKey>ApiUrl</OutputKey><OutputValue>%s</OutputValue></member></Outputs>
</member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></DescribeStacksResponse>`, s.URL)
	}))
	defer cfn.Close()
	t.Setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", cfn.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "cn-north-1")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")

	out, _, err := run(t, map[string]string{"WXSUB_ADMIN_KEY": s.AdminKey}, "--stack", "wxsub-dev", "templates")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(asked, "Action=DescribeStacks") || !strings.Contains(asked, "StackName=wxsub-dev") {
		t.Fatalf("CloudFormation was asked %q", asked)
	}
	if !strings.Contains(out, wechatsim.TmplOrderShipped) {
		t.Fatalf("templates through --stack printed:\n%s", out)
	}
}

func TestReminderSendAtAndCancel(t *testing.T) {
	s := stack(t)
	env := map[string]string{"WXSUB_URL": s.URL, "WXSUB_ADMIN_KEY": s.AdminKey}
	tmpl := wechatsim.TmplOrderShipped
	openid := subscriber(t, s, tmpl, 1)
	at := s.Sim.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	out, _, err := run(t, env, append([]string{"--json", "send", "--to", openid, "--template", tmpl, "--send-at", at}, dataArgs()...)...)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		MessageID string `json:"message_id"`
		Status    string `json:"status"`
		SendAt    string `json:"send_at"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Status != "scheduled" || r.SendAt != at {
		t.Fatalf("send --send-at printed %q (%v)", out, err)
	}
	out, _, err = run(t, env, "cancel", r.MessageID)
	if err != nil || !strings.Contains(out, "cancelled") {
		t.Fatalf("cancel printed %q (%v)", out, err)
	}
	if _, _, err := run(t, env, append([]string{"send", "--to", openid, "--template", tmpl, "--send-at", "tomorrow"}, dataArgs()...)...); err == nil {
		t.Fatal("a send-at that is not RFC 3339 was accepted")
	}
}
