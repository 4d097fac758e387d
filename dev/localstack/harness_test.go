package localstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/localstack"
	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/store"
)

// harness is a running local stack plus helpers to act as the mini-program,
// the business backend and WeChat's test console.
type harness struct {
	t     *testing.T
	s     *localstack.Stack
	logs  *syncBuffer
	appid string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type option func(*localstack.Options)

func withSim(f func(*wechatsim.Config)) option {
	return func(o *localstack.Options) { o.SimConfig = f }
}

// start starts a stack with a token already fetched (the refresher's
// schedule run once).
func start(t *testing.T, opts ...option) *harness {
	t.Helper()
	h := startFresh(t, opts...)
	if err := h.s.RunSchedule(context.Background(), "RefreshTokenFunction"); err != nil {
		t.Fatal(err)
	}
	return h
}

// startFresh starts a stack whose schedules have never run: no token yet.
func startFresh(t *testing.T, opts ...option) *harness {
	t.Helper()
	logs := &syncBuffer{}
	o := localstack.Options{
		Getenv:        func(string) string { return "" },
		Addr:          "127.0.0.1:0",
		SimAddr:       "127.0.0.1:0",
		LogOutput:     logs,
		NoSchedules:   true,
		WeChatTimeout: 1500 * time.Millisecond,
	}
	if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
		o.Getenv = func(name string) string {
			switch name {
			case "DYNAMODB_ENDPOINT":
				return ep
			case "TABLE_NAME":
				return fmt.Sprintf("wxsub-e2e-%d", time.Now().UnixNano())
			}
			return ""
		}
	}
	for _, f := range opts {
		f(&o)
	}
	// Every exchange with the API is checked against docs/openapi.yaml
	// once the stack has stopped (see openapi_test.go).
	tr := &traffic{}
	wrap := o.Wrap
	o.Wrap = func(h http.Handler) http.Handler {
		if wrap != nil {
			h = wrap(h)
		}
		return tr.wrap(h)
	}
	t.Cleanup(func() { checkTraffic(t, tr) })
	s, err := localstack.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &harness{t: t, s: s, logs: logs, appid: s.Config.AppID}
}

// answer is a decoded HTTP answer.
type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (a answer) errCode() string {
	if e, ok := a.body["error"].(map[string]any); ok {
		c, _ := e["code"].(string)
		return c
	}
	return ""
}

func (h *harness) do(method, url, auth string, body any, headers ...string) answer {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	json.Unmarshal(raw, &a.body)
	return a
}

func (h *harness) api(method, path, auth string, body any, headers ...string) answer {
	h.t.Helper()
	return h.do(method, h.s.URL+path, auth, body, headers...)
}

func (h *harness) admin(method, path string, body any, headers ...string) answer {
	h.t.Helper()
	return h.api(method, path, h.s.AdminKey, body, headers...)
}

func (h *harness) sim(method, path string, body any) answer {
	h.t.Helper()
	return h.do(method, h.s.SimURL+path, "", body)
}

// user is a mini-program user with a session.
type user struct {
	openid, token string
}

func (h *harness) login(openid string) user {
	h.t.Helper()
	l := h.sim("POST", "/__sim/login", map[string]string{"openid": openid})
	code, _ := l.body["code"].(string)
	a := h.api("POST", "/v1/session", "", map[string]string{"code": code})
	if a.status != 200 {
		h.t.Fatalf("login: %d %s", a.status, a.raw)
	}
	return user{openid: a.body["openid"].(string), token: a.body["token"].(string)}
}

// accept taps "allow" n times in the simulated popup and reports each result,
// then waits for WeChat's popup events (each pairs with its report).
func (h *harness) accept(u user, tmpl string, n int) {
	h.t.Helper()
	for i := 0; i < n; i++ {
		p := h.sim("POST", "/__sim/popup", map[string]any{"openid": u.openid, "results": map[string]string{tmpl: "accept"}})
		if p.status != 200 {
			h.t.Fatalf("popup: %d %s", p.status, p.raw)
		}
		a := h.api("POST", "/v1/subscriptions", u.token, map[string]any{"result": p.body})
		if a.status != 200 {
			h.t.Fatalf("report: %d %s", a.status, a.raw)
		}
	}
	if h.s.Sim != nil {
		h.s.Sim.Flush()
	}
}

func exampleData(tmpl string) map[string]any {
	for _, t := range wechatsim.DefaultTemplates() {
		if t.ID == tmpl {
			d := map[string]any{}
			for _, k := range t.Keywords {
				v := k.Example
				if v == "" && len(k.Enum) > 0 {
					v = k.Enum[0]
				}
				d[k.Key] = map[string]string{"value": v}
			}
			return d
		}
	}
	panic("no template " + tmpl)
}

func (h *harness) send(openid, tmpl string, headers ...string) answer {
	h.t.Helper()
	return h.admin("POST", "/v1/messages", map[string]any{
		"touser": openid, "template_id": tmpl, "page": "pages/index/index", "data": exampleData(tmpl),
	}, headers...)
}

// drain waits until the tally has counted every change made so far (today's
// counts and broadcasts' counts follow the table's stream).
func (h *harness) drain() {
	h.t.Helper()
	if err := h.s.DrainStreams(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) row(openid, tmpl string) ledger.Row {
	h.t.Helper()
	r, err := h.s.Backend.Store.Row(context.Background(), store.RowKey{AppID: h.appid, OpenID: openid, TemplateID: tmpl})
	if err != nil {
		h.t.Fatalf("row %s/%s: %v", openid, tmpl, err)
	}
	return r
}

// checkInvariant asserts the contract's ledger invariant for one row:
// granted = credits + held + spent + revoked, spent equals the messages
// WeChat accepted (including those its sent event reported failed) plus those
// unknown plus those answered 43101 (plus any in flight), and held equals the
// reminders still scheduled.
func (h *harness) checkInvariant(openid, tmpl string) ledger.Row {
	h.t.Helper()
	r := h.row(openid, tmpl)
	if r.Kind == ledger.OneTime && !r.Balanced() {
		h.t.Fatalf("granted %d != credits %d + held %d + spent %d + revoked %d", r.Granted, r.Credits, r.Held, r.Spent, r.Revoked)
	}
	var counted, scheduled int64
	h.messages(openid, func(msgs []store.Message) bool {
		r = h.row(openid, tmpl)
		counted, scheduled = 0, 0
		for _, m := range msgs {
			if m.TemplateID != tmpl {
				continue
			}
			if m.Status == ledger.Sent || m.Status == ledger.Delivered || m.Status == ledger.Unknown || m.ErrCode == 43101 || m.Accepted {
				counted++
			}
			if m.Status == ledger.Scheduled {
				scheduled++
			}
		}
		return r.Kind != ledger.OneTime || (r.Spent == counted+r.Inflight && r.Held == scheduled)
	})
	if r.Kind == ledger.OneTime && r.Spent != counted+r.Inflight {
		h.t.Fatalf("spent %d != accepted+unknown+43101 messages %d + in flight %d", r.Spent, counted, r.Inflight)
	}
	if r.Kind == ledger.OneTime && r.Held != scheduled {
		h.t.Fatalf("held %d != scheduled reminders %d", r.Held, scheduled)
	}
	return r
}

// messages lists the user's messages as the table holds them. They are
// listed from gsi1, which DynamoDB updates asynchronously (the local
// DynamoDB lags too), and read again one by one; the listing is repeated
// until the index agrees with the table and ready (nil for none) accepts
// the messages, for up to 10 s. After that the last listing is returned,
// for the caller's assertions to judge.
func (h *harness) messages(openid string, ready func([]store.Message) bool) []store.Message {
	h.t.Helper()
	ctx := context.Background()
	var msgs []store.Message
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		listed, err := h.s.Backend.Store.UserMessages(ctx, h.appid, openid)
		if err != nil {
			h.t.Fatal(err)
		}
		agree := true
		msgs = msgs[:0]
		for _, m := range listed {
			now, err := h.s.Backend.Store.Message(ctx, m.ID)
			if err != nil {
				h.t.Fatal(err)
			}
			agree = agree && now.Status == m.Status
			msgs = append(msgs, now)
		}
		if agree && (ready == nil || ready(msgs)) || time.Now().After(deadline) {
			return msgs
		}
	}
}

// waitIndexed waits until gsi1 lists n ledger rows of the template.
func (h *harness) waitIndexed(tmpl string, n int) {
	h.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got, after := 0, ""
		for {
			rows, next, err := h.s.Backend.Store.TemplateRows(context.Background(), h.appid, tmpl, after, 100)
			if err != nil {
				h.t.Fatal(err)
			}
			got += len(rows)
			if next == "" {
				break
			}
			after = next
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("gsi1 lists %d rows of %s, want %d", got, tmpl, n)
		}
	}
}

func (h *harness) inbox(openid, tmpl string) int {
	n := 0
	for _, d := range h.s.Sim.Inbox(openid) {
		if d.TemplateID == tmpl {
			n++
		}
	}
	return n
}

func (h *harness) fault(f map[string]any) {
	h.t.Helper()
	if a := h.sim("POST", "/__sim/faults", f); a.status != 200 {
		h.t.Fatalf("fault: %d %s", a.status, a.raw)
	}
}
