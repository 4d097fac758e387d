package wechat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/wechat"
)

// simStart is the simulated time every contract test begins at; the
// simulator's clock only moves when a test calls Advance.
var simStart = time.Date(2024, 5, 18, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

// simShortTimeout is the timeout of simEnv.quick, for calls that are meant
// to time out against a delayed answer.
const simShortTimeout = 300 * time.Millisecond

// simRIDPattern is the shape of the request ids the simulator writes.
var simRIDPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`)

// simEnv is a simulator behind a real HTTP server and clients that call it.
type simEnv struct {
	sim    *wechatsim.Sim
	srv    *httptest.Server
	c      *wechat.Client // generous timeout
	quick  *wechat.Client // simShortTimeout
	appID  string
	secret string
	trs    []*http.Transport // of c and quick

	mu      sync.Mutex
	secrets []string // values no error may show: the secret, tokens, codes
}

// newSimEnv starts a simulator on a fixed clock, with clients that share no
// connections with other tests.
func newSimEnv(t *testing.T) *simEnv {
	t.Helper()
	sim := wechatsim.New(wechatsim.Config{Now: func() time.Time { return simStart }})
	srv := httptest.NewServer(sim)
	cfg := sim.Config()
	e := &simEnv{
		sim:     sim,
		srv:     srv,
		appID:   cfg.AppID,
		secret:  cfg.Secret,
		secrets: []string{cfg.Secret},
	}
	e.c = e.client(t, 10*time.Second)
	e.quick = e.client(t, simShortTimeout)
	t.Cleanup(func() {
		srv.Close()
		sim.Close()
	})
	return e
}

func (e *simEnv) client(t *testing.T, timeout time.Duration) *wechat.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	e.trs = append(e.trs, tr)
	return wechat.NewClient(e.srv.URL, &http.Client{Transport: tr, Timeout: timeout})
}

// shutDown stops the server as if WeChat were unreachable: it waits for the
// requests in flight, and the clients keep no connection to it.
func (e *simEnv) shutDown() {
	e.srv.Close()
	for _, tr := range e.trs {
		tr.CloseIdleConnections()
	}
}

// remember records v as a value no error may show, and returns it.
func (e *simEnv) remember(v string) string {
	if v == "" {
		return v
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets = append(e.secrets, v)
	return v
}

// token returns a fresh stable access token.
func (e *simEnv) token(t *testing.T) string {
	t.Helper()
	tok, err := e.c.StableToken(context.Background(), e.appID, e.secret, false)
	if err != nil {
		t.Fatalf("stable_token: %v", err)
	}
	return e.remember(tok.AccessToken)
}

// code returns a single-use wx.login code for openid ("" for a new user).
func (e *simEnv) code(t *testing.T, openid string) (code, id string) {
	t.Helper()
	code, id, err := e.sim.Login(openid)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	return e.remember(code), id
}

// subscriber returns a new user who tapped accept for templateID n times.
func (e *simEnv) subscriber(t *testing.T, templateID string, n int) string {
	t.Helper()
	_, openid := e.code(t, "")
	for range n {
		res, err := e.sim.Popup(openid, map[string]string{templateID: "accept"})
		if err != nil || res["errMsg"] != "requestSubscribeMessage:ok" {
			t.Fatalf("popup: %v %v", res, err)
		}
	}
	return openid
}

// simData returns the example data of a template as a send's data.
func simData(t *testing.T, templateID string) map[string]wechat.Value {
	t.Helper()
	for _, tm := range wechatsim.DefaultTemplates() {
		if tm.ID == templateID {
			data := make(map[string]wechat.Value)
			for k, v := range tm.ExampleData() {
				data[k] = wechat.Value{Value: v}
			}
			return data
		}
	}
	t.Fatalf("no default template %s", templateID)
	return nil
}

// control calls a /__sim/ endpoint over HTTP and decodes its JSON answer
// into out (which may be nil). It fails the test unless the answer is 200.
func (e *simEnv) control(t *testing.T, method, path string, body, out any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: HTTP %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
}

// fault injects one fault through POST /__sim/faults; f holds every field
// but path and count (which is 1).
func (e *simEnv) fault(t *testing.T, path string, f map[string]any) {
	t.Helper()
	body := map[string]any{"path": path, "count": 1}
	for k, v := range f {
		body[k] = v
	}
	var ans struct {
		Path  string `json:"path"`
		Count int    `json:"count"`
	}
	e.control(t, http.MethodPost, "/__sim/faults", body, &ans)
	if ans.Path != path || ans.Count != 1 {
		t.Fatalf("faults answered %+v for %v", ans, body)
	}
}

// simInboxMessage is one message of GET /__sim/inbox.
type simInboxMessage struct {
	MsgID      int64                   `json:"msgid"`
	TemplateID string                  `json:"template_id"`
	Data       map[string]wechat.Value `json:"data"`
	Page       string                  `json:"page"`
	SentAt     time.Time               `json:"sent_at"`
}

// inbox returns what the simulator delivered to openid, read over HTTP.
func (e *simEnv) inbox(t *testing.T, openid string) []simInboxMessage {
	t.Helper()
	var ans struct {
		Messages []simInboxMessage `json:"messages"`
	}
	e.control(t, http.MethodGet, "/__sim/inbox?openid="+url.QueryEscape(openid), nil, &ans)
	return ans.Messages
}

// calls returns how many calls the simulator received for path.
func (e *simEnv) calls(path string) int64 { return e.sim.Stats().Calls[path] }

// simWant is what a failed call must look like.
type simWant struct {
	op    string
	class wechat.Class
	code  int  // errcode; 0 when WeChat sent none
	http  int  // Error.HTTPStatus; 0 when no answer arrived
	rid   bool // the answer's errmsg carries a rid
}

// check asserts that err is the failure w describes and shows none of the
// environment's secrets. It returns the *wechat.Error.
func (e *simEnv) check(t *testing.T, err error, w simWant) *wechat.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want class %v errcode %d", w.op, w.class, w.code)
	}
	var we *wechat.Error
	if !errors.As(err, &we) {
		t.Fatalf("%s: %v (%T) is not a *wechat.Error", w.op, err, err)
	}
	if got := wechat.ClassOf(err); got != w.class {
		t.Errorf("%s: class %v, want %v (%v)", w.op, got, w.class, err)
	}
	if got := wechat.CodeOf(err); got != w.code {
		t.Errorf("%s: errcode %d, want %d (%v)", w.op, got, w.code, err)
	}
	if we.Op != w.op {
		t.Errorf("Op %q, want %q", we.Op, w.op)
	}
	if we.HTTPStatus != w.http {
		t.Errorf("%s: HTTPStatus %d, want %d (%v)", w.op, we.HTTPStatus, w.http, err)
	}
	switch {
	case w.rid && !simRIDPattern.MatchString(we.RID):
		t.Errorf("%s: RID %q from errmsg %q, want a simulator rid", w.op, we.RID, we.Msg)
	case w.rid && !strings.HasSuffix(we.Msg, "rid: "+we.RID):
		t.Errorf("%s: RID %q is not the one ending errmsg %q", w.op, we.RID, we.Msg)
	case !w.rid && we.RID != "":
		t.Errorf("%s: RID %q, want none", w.op, we.RID)
	}
	e.noSecrets(t, err)
	return we
}

// noSecrets fails if err, anything it wraps, or its errmsg shows the
// AppSecret, an access token or a login code.
func (e *simEnv) noSecrets(t *testing.T, err error) {
	t.Helper()
	var texts []string
	var walk func(error)
	walk = func(x error) {
		if x == nil {
			return
		}
		texts = append(texts, x.Error(), fmt.Sprintf("%+v", x))
		switch u := x.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, y := range u.Unwrap() {
				walk(y)
			}
		}
	}
	walk(err)
	var we *wechat.Error
	if errors.As(err, &we) {
		texts = append(texts, we.Msg, we.RID)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range texts {
		for _, secret := range e.secrets {
			if strings.Contains(s, secret) {
				t.Errorf("error text %q shows a secret", s)
			}
		}
	}
}
