package wechatsim_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/wxpush"
)

func (e *env) fault(f map[string]any) {
	e.t.Helper()
	f["path"] = wechatsim.PathSend
	e.control("POST", "/__sim/faults", f)
}

func TestFaultErrcodeIsAnsweredWithoutSending(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	openid := e.user(wechatsim.TmplOrderShipped, 1)
	e.fault(map[string]any{"errcode": 45011, "count": 2})
	for range 2 {
		wantErr(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)), 45011, "api minute-quota reach limit")
	}
	if n := e.sim.Credits(openid, wechatsim.TmplOrderShipped); n != 1 || len(e.sim.Inbox(openid)) != 0 {
		t.Fatalf("faulted sends were processed: %d credits, inbox %d", n, len(e.sim.Inbox(openid)))
	}
	wantOK(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)))
	if c := e.sim.Stats().Calls[wechatsim.PathSend]; c != 3 {
		t.Fatalf("stats count %d send calls, want 3 (faulted ones included)", c)
	}
}

func TestFaultHTTPStatusAndRawBody(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	openid := e.user(wechatsim.TmplOrderShipped, 1)
	e.fault(map[string]any{"http_status": 502})
	status, body := e.do("POST", wechatsim.PathSend+"?access_token="+tok, e.message(openid, wechatsim.TmplOrderShipped))
	if status != 502 || !strings.Contains(string(body), "<html>") {
		t.Fatalf("http_status fault: HTTP %d %s", status, body)
	}
	e.fault(map[string]any{"body": `{"errcode":0,"errmsg":"ok"`})
	status, body = e.do("POST", wechatsim.PathSend+"?access_token="+tok, e.message(openid, wechatsim.TmplOrderShipped))
	if status != 200 || string(body) != `{"errcode":0,"errmsg":"ok"` {
		t.Fatalf("body fault: HTTP %d %s", status, body)
	}
	if n := e.sim.Credits(openid, wechatsim.TmplOrderShipped); n != 1 {
		t.Fatalf("faulted sends spent a credit: %d left", n)
	}
}

func TestFaultDelayProcessesThenAnswersLate(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	openid := e.user(wechatsim.TmplOrderShipped, 1)
	e.fault(map[string]any{"delay_ms": 300})
	began := time.Now()
	wantOK(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)))
	if waited := time.Since(began); waited < 300*time.Millisecond {
		t.Fatalf("answered after %v, want at least the 300 ms delay", waited)
	}
	if len(e.sim.Inbox(openid)) != 1 {
		t.Fatal("a delayed send was not delivered")
	}

	// A client that gives up before the delay has still sent the message.
	e.popup(openid, map[string]string{wechatsim.TmplOrderShipped: "accept"})
	e.fault(map[string]any{"delay_ms": 5000})
	client := &http.Client{Timeout: 100 * time.Millisecond}
	body, _ := json.Marshal(e.message(openid, wechatsim.TmplOrderShipped))
	if _, err := client.Post(e.url+wechatsim.PathSend+"?access_token="+url.QueryEscape(tok), "application/json", bytes.NewReader(body)); err == nil {
		t.Fatal("client got an answer before the delay")
	}
	waitFor(t, func() bool { return len(e.sim.Inbox(openid)) == 2 })
}

func TestFaultDropDeliversButClosesTheConnection(t *testing.T) {
	rc := &receiver{}
	e := pushEnv(t, wechatsim.Config{}, rc)
	tok := e.token()
	openid := e.user(wechatsim.TmplOrderShipped, 1)
	e.fault(map[string]any{"drop": true})
	body, _ := json.Marshal(e.message(openid, wechatsim.TmplOrderShipped))
	resp, err := http.Post(e.url+wechatsim.PathSend+"?access_token="+url.QueryEscape(tok), "application/json", bytes.NewReader(body))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("dropped call answered HTTP %d", resp.StatusCode)
	}
	if len(e.sim.Inbox(openid)) != 1 || e.sim.Credits(openid, wechatsim.TmplOrderShipped) != 0 {
		t.Fatal("a dropped send was not delivered")
	}
	e.sim.Flush()
	events, _ := rc.got()
	if last := events[len(events)-1]; last.Event != wxpush.EventSent || last.Items[0].MsgID == "" {
		t.Fatalf("no sent event for the dropped send: %+v", events)
	}
}

func TestFaultValidation(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	for _, body := range []string{
		`{"path":"/cgi-bin/nope","errcode":-1}`,
		`{"path":"/cgi-bin/token"}`,
		`{"path":"/cgi-bin/token","errcode":-1,"drop":true}`,
		`{"path":"/cgi-bin/token","http_status":42}`,
		`{"path":"/cgi-bin/token","errcode":-1,"count":-1}`,
	} {
		if status, out := e.do("POST", "/__sim/faults", body); status != 400 {
			t.Errorf("fault %s: HTTP %d %s, want 400", body, status, out)
		}
	}
	e.control("POST", "/__sim/faults", map[string]any{"path": wechatsim.PathToken, "errcode": -1})
	wantErr(t, e.classic(), -1, "system error")
	wantOK(t, e.classic())
}

// waitFor polls cond for a while; for effects that finish on their own
// after the request that caused them was abandoned.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFaultErrcodeCanBeLookedUpByRID(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	openid := e.user(wechatsim.TmplOrderShipped, 1)
	e.fault(map[string]any{"errcode": -1})
	bad := e.send(tok, e.message(openid, wechatsim.TmplOrderShipped))
	rid := bad.str("errmsg")[strings.LastIndex(bad.str("errmsg"), " ")+1:]
	o := e.wx("POST", wechatsim.PathRIDGet+"?access_token="+url.QueryEscape(tok), map[string]string{"rid": rid})
	wantOK(t, o)
	req, _ := o["request"].(map[string]any)
	if u, _ := req["request_url"].(string); !strings.HasPrefix(u, wechatsim.PathSend) {
		t.Fatalf("rid/get of a faulted answer: %v", o)
	}
}
