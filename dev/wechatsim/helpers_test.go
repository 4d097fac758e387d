package wechatsim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/wechatsim"
)

// start is the simulated time every test begins at: 10:00 in Shanghai.
var start = time.Date(2024, 5, 18, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

// env is a Sim behind a real HTTP server.
type env struct {
	t   *testing.T
	sim *wechatsim.Sim
	url string
	cfg wechatsim.Config
}

// newEnv starts a Sim with cfg on a fixed clock.
func newEnv(t *testing.T, cfg wechatsim.Config) *env {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return start }
	}
	sim := wechatsim.New(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		sim.Close()
	})
	return &env{t: t, sim: sim, url: srv.URL, cfg: sim.Config()}
}

// do makes a request and returns the status and body.
func (e *env) do(method, path string, body any) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.url+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, out
}

// wx makes a WeChat API call, checks it answered HTTP 200 with JSON, and
// returns the decoded object.
func (e *env) wx(method, path string, body any) obj {
	e.t.Helper()
	status, out := e.do(method, path, body)
	if status != http.StatusOK {
		e.t.Fatalf("%s %s: HTTP %d %s", method, path, status, out)
	}
	var o obj
	d := json.NewDecoder(bytes.NewReader(out))
	d.UseNumber()
	if err := d.Decode(&o); err != nil {
		e.t.Fatalf("%s %s: answer is not a JSON object: %s", method, path, out)
	}
	return o
}

// control makes a control call that must answer 200 and decodes it.
func (e *env) control(method, path string, body any) obj {
	e.t.Helper()
	status, out := e.do(method, path, body)
	if status != http.StatusOK {
		e.t.Fatalf("%s %s: HTTP %d %s", method, path, status, out)
	}
	var o obj
	d := json.NewDecoder(bytes.NewReader(out))
	d.UseNumber()
	if err := d.Decode(&o); err != nil {
		e.t.Fatalf("%s %s: %v: %s", method, path, err, out)
	}
	return o
}

type obj map[string]any

// code returns the errcode of a WeChat answer, 0 when absent.
func (o obj) code() int {
	n, ok := o["errcode"].(json.Number)
	if !ok {
		return 0
	}
	i, _ := n.Int64()
	return int(i)
}

func (o obj) str(k string) string { s, _ := o[k].(string); return s }

func (o obj) int(k string) int64 {
	n, _ := o[k].(json.Number)
	i, _ := n.Int64()
	return i
}

var ridSuffix = regexp.MustCompile(` rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`)

// wantErr checks that o is WeChat's error answer with code and an errmsg
// that starts with msg and ends with a request id.
func wantErr(t *testing.T, o obj, code int, msg string) {
	t.Helper()
	if o.code() != code {
		t.Fatalf("errcode = %d, want %d (answer %v)", o.code(), code, o)
	}
	m := o.str("errmsg")
	if !strings.HasPrefix(m, msg) || !ridSuffix.MatchString(m) {
		t.Fatalf("errmsg = %q, want %q followed by a rid", m, msg)
	}
}

// wantOK checks that o is a success answer.
func wantOK(t *testing.T, o obj) {
	t.Helper()
	if o.code() != 0 {
		t.Fatalf("errcode = %d (%s), want success", o.code(), o.str("errmsg"))
	}
}

// classic gets a classic token.
func (e *env) classic() obj {
	e.t.Helper()
	return e.wx("GET", wechatsim.PathToken+"?"+url.Values{
		"grant_type": {"client_credential"}, "appid": {e.cfg.AppID}, "secret": {e.cfg.Secret}}.Encode(), nil)
}

// stable calls stable_token.
func (e *env) stable(force bool) obj {
	e.t.Helper()
	return e.wx("POST", wechatsim.PathStableToken, map[string]any{
		"grant_type": "client_credential", "appid": e.cfg.AppID, "secret": e.cfg.Secret, "force_refresh": force})
}

// token returns a working stable token.
func (e *env) token() string {
	e.t.Helper()
	o := e.stable(false)
	wantOK(e.t, o)
	return o.str("access_token")
}

// login registers a user and returns its openid and a code.
func (e *env) login(openid string) (string, string) {
	e.t.Helper()
	body := map[string]string{}
	if openid != "" {
		body["openid"] = openid
	}
	o := e.control("POST", "/__sim/login", body)
	return o.str("openid"), o.str("code")
}

// popup taps the subscription popup.
func (e *env) popup(openid string, results map[string]string) obj {
	e.t.Helper()
	return e.control("POST", "/__sim/popup", map[string]any{"openid": openid, "results": results})
}

// user logs a new user in and accepts templateID n times.
func (e *env) user(templateID string, accepts int) string {
	e.t.Helper()
	openid, _ := e.login("")
	for range accepts {
		e.popup(openid, map[string]string{templateID: "accept"})
	}
	return openid
}

// template returns the template with id.
func (e *env) template(id string) wechatsim.Template {
	e.t.Helper()
	for _, t := range e.cfg.Templates {
		if t.ID == id {
			return t
		}
	}
	e.t.Fatalf("no template %s", id)
	return wechatsim.Template{}
}

// message returns a send body with the template's example data.
func (e *env) message(openid, templateID string) map[string]any {
	e.t.Helper()
	data := map[string]any{}
	for k, v := range e.template(templateID).ExampleData() {
		data[k] = map[string]string{"value": v}
	}
	return map[string]any{"touser": openid, "template_id": templateID, "page": "pages/order?id=1", "data": data}
}

// send calls subscribe/send with token.
func (e *env) send(token string, body any) obj {
	e.t.Helper()
	return e.wx("POST", wechatsim.PathSend+"?access_token="+url.QueryEscape(token), body)
}
