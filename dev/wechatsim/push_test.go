package wechatsim_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/wxpush"
)

// receiver is a push endpoint that checks signatures like a real backend
// and records the events it accepted.
type receiver struct {
	t      *testing.T
	cfg    *wechatsim.Config // filled once the Sim exists
	secure bool
	format wxpush.Format
	fail   func(n int, w http.ResponseWriter, r *http.Request) bool // n = attempt number

	mu       sync.Mutex
	attempts int
	events   []wxpush.Event
	problems []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	rc.attempts++
	n := rc.attempts
	rc.mu.Unlock()
	if rc.fail != nil && rc.fail(n, w, r) {
		return
	}
	ev, problem := rc.check(r)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if problem != "" {
		rc.problems = append(rc.problems, problem)
		http.Error(w, problem, http.StatusBadRequest)
		return
	}
	rc.events = append(rc.events, ev)
	io.WriteString(w, "success")
}

// check verifies a push the way wxsub does and returns its event.
func (rc *receiver) check(r *http.Request) (wxpush.Event, string) {
	q := r.URL.Query()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return wxpush.Event{}, "read body"
	}
	wantType := map[wxpush.Format]string{wxpush.XML: "text/xml", wxpush.JSON: "application/json"}[rc.format]
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != wantType {
		return wxpush.Event{}, "method or content type " + r.Method + " " + r.Header.Get("Content-Type")
	}
	ts, nonce := q.Get("timestamp"), q.Get("nonce")
	if !wxpush.Verify(wxpush.Signature(rc.cfg.PushToken, ts, nonce), q.Get("signature")) {
		return wxpush.Event{}, "bad signature"
	}
	if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || sec < start.Unix() {
		return wxpush.Event{}, "timestamp " + ts + " is not simulated time"
	}
	plain := body
	if rc.secure {
		if q.Get("encrypt_type") != "aes" {
			return wxpush.Event{}, "secure push without encrypt_type=aes"
		}
		env, f, err := wxpush.ParseEnvelope(body)
		if err != nil || f != rc.format || env.ToUserName != rc.cfg.OriginalID {
			return wxpush.Event{}, "envelope"
		}
		if !wxpush.Verify(wxpush.MsgSignature(rc.cfg.PushToken, ts, nonce, env.Encrypt), q.Get("msg_signature")) {
			return wxpush.Event{}, "bad msg_signature"
		}
		c, err := wxpush.NewCipher(rc.cfg.EncodingAESKey, rc.cfg.AppID)
		if err != nil {
			return wxpush.Event{}, err.Error()
		}
		if plain, err = c.Decrypt(env.Encrypt); err != nil {
			return wxpush.Event{}, "decrypt: " + err.Error()
		}
	} else if q.Has("encrypt_type") || q.Has("msg_signature") {
		return wxpush.Event{}, "plaintext push with secure-mode parameters"
	}
	ev, f, err := wxpush.ParseEvent(plain)
	if err != nil || f != rc.format {
		return wxpush.Event{}, "event does not parse as " + string(rc.format)
	}
	return ev, ""
}

func (rc *receiver) got() ([]wxpush.Event, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.problems) > 0 {
		rc.t.Fatalf("receiver refused pushes: %v", rc.problems)
	}
	return append([]wxpush.Event(nil), rc.events...), rc.attempts
}

// pushEnv starts a Sim that pushes to a new receiver.
func pushEnv(t *testing.T, cfg wechatsim.Config, rc *receiver) *env {
	rc.t, rc.secure, rc.format = t, cfg.PushSecure, cfg.PushFormat
	if rc.format == "" {
		rc.format = wxpush.XML
	}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	cfg.PushURL = srv.URL + "/v1/wechat/events"
	e := newEnv(t, cfg)
	rc.cfg = &e.cfg
	return e
}

func TestPushesOfEveryEventInEveryMode(t *testing.T) {
	for _, mode := range []struct {
		format wxpush.Format
		secure bool
	}{{wxpush.XML, false}, {wxpush.XML, true}, {wxpush.JSON, false}, {wxpush.JSON, true}} {
		t.Run(string(mode.format)+map[bool]string{true: "-secure", false: "-plain"}[mode.secure], func(t *testing.T) {
			rc := &receiver{}
			e := pushEnv(t, wechatsim.Config{PushFormat: mode.format, PushSecure: mode.secure}, rc)
			tok := e.token()
			openid, _ := e.login("")
			e.popup(openid, map[string]string{
				wechatsim.TmplOrderShipped: "accept", wechatsim.TmplAppointment: "reject",
				wechatsim.TmplParkingFee: "ban", wechatsim.TmplServiceReview: "filter",
			})
			msgid := e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)).int("msgid")
			e.control("POST", "/__sim/switch", map[string]any{"openid": openid, "template_id": wechatsim.TmplAppointment})
			e.sim.Flush()

			events, _ := rc.got()
			if len(events) != 3 {
				t.Fatalf("got %d events, want popup, sent and change: %+v", len(events), events)
			}
			for _, ev := range events {
				if ev.ToUserName != e.cfg.OriginalID || ev.FromUserName != openid || ev.MsgType != "event" || ev.CreateTime != start.Unix() {
					t.Errorf("event header %+v", ev)
				}
			}
			popup, sent, change := events[0], events[1], events[2]
			wantItems := []wxpush.Item{
				{TemplateID: wechatsim.TmplAppointment, Status: "reject"},
				{TemplateID: wechatsim.TmplOrderShipped, Status: "accept"},
			}
			if popup.Event != wxpush.EventPopup || !sameItems(popup.Items, wantItems) {
				t.Errorf("popup event %+v: want only the accept and reject taps, scene 0", popup)
			}
			if sent.Event != wxpush.EventSent || len(sent.Items) != 1 || sent.Items[0] != (wxpush.Item{
				TemplateID: wechatsim.TmplOrderShipped, MsgID: strconv.FormatInt(msgid, 10), ErrorCode: 0, ErrorStatus: "success",
			}) {
				t.Errorf("sent event %+v, want msgid %d", sent, msgid)
			}
			if change.Event != wxpush.EventChange || len(change.Items) != 1 || change.Items[0] != (wxpush.Item{
				TemplateID: wechatsim.TmplAppointment, Status: "reject",
			}) {
				t.Errorf("change event %+v", change)
			}
		})
	}
}

func sameItems(got, want []wxpush.Item) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			return false
		}
	}
	return true
}

func TestPushRetriesThreeAttempts(t *testing.T) {
	rc := &receiver{fail: func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return true
		}
		return false
	}}
	e := pushEnv(t, wechatsim.Config{}, rc)
	openid, _ := e.login("")
	e.popup(openid, map[string]string{wechatsim.TmplOrderShipped: "accept"})
	e.sim.Flush()
	if events, attempts := rc.got(); len(events) != 1 || attempts != 3 {
		t.Fatalf("%d events after %d attempts, want 1 after 3", len(events), attempts)
	}

	e.sim.SetPushURL("http://127.0.0.1:1/unreachable")
	e.popup(openid, map[string]string{wechatsim.TmplOrderShipped: "accept"})
	e.sim.Flush()
	if p := e.sim.Stats().Pushes; p.Delivered != 1 || p.Failed != 1 || p.Attempts != 6 {
		t.Fatalf("push counts %+v: want 1 delivered, 1 failed, 6 attempts", p)
	}
}

func TestPushTimesOutAndRetries(t *testing.T) {
	rc := &receiver{fail: func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n == 1 {
			io.Copy(io.Discard, r.Body)
			// Answer far too late: the Sim must give up on its own after
			// PushTimeout. (Waiting for the client to leave alone can hang when
			// the server does not notice the closed connection.)
			select {
			case <-r.Context().Done():
			case <-time.After(3 * time.Second):
			}
			return true
		}
		return false
	}}
	e := pushEnv(t, wechatsim.Config{PushTimeout: 200 * time.Millisecond}, rc)
	openid, _ := e.login("")
	e.popup(openid, map[string]string{wechatsim.TmplOrderShipped: "accept"})
	e.sim.Flush()
	if events, attempts := rc.got(); len(events) != 1 || attempts != 2 {
		t.Fatalf("%d events after %d attempts, want 1 after 2", len(events), attempts)
	}
}

func TestPushesDoNotBlockAnswersAndKeepOrderPerUser(t *testing.T) {
	release := make(chan struct{})
	rc := &receiver{fail: func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n == 1 {
			<-release
		}
		return false
	}}
	e := pushEnv(t, wechatsim.Config{}, rc)
	tok := e.token()
	openid, _ := e.login("")
	for range 3 {
		// The first push hangs in the receiver until release; the API answers anyway.
		e.popup(openid, map[string]string{wechatsim.TmplOrderShipped: "accept"})
		wantOK(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)))
	}
	if _, attempts := rc.got(); attempts > 1 {
		t.Fatalf("%d push attempts while the first is unanswered: pushes for one user must wait their turn", attempts)
	}
	close(release)
	e.sim.Flush()
	events, _ := rc.got()
	if len(events) != 6 {
		t.Fatalf("got %d events, want 6", len(events))
	}
	for i, ev := range events {
		want := []string{wxpush.EventPopup, wxpush.EventSent}[i%2]
		if ev.Event != want {
			t.Fatalf("event %d is %s, want %s: pushes for one user out of order", i, ev.Event, want)
		}
	}
}

func TestNoPushWithoutURL(t *testing.T) {
	rc := &receiver{}
	e := pushEnv(t, wechatsim.Config{}, rc)
	e.sim.SetPushURL("")
	openid, _ := e.login("")
	e.popup(openid, map[string]string{wechatsim.TmplOrderShipped: "accept"})
	e.sim.Flush()
	if _, attempts := rc.got(); attempts != 0 {
		t.Fatalf("%d pushes with no push URL", attempts)
	}
	if e.control("GET", "/__sim/config", nil).str("push_url") != "" {
		t.Fatal("config still shows a push URL")
	}
}

func TestCloseWaitsForPushes(t *testing.T) {
	rc := &receiver{fail: func(n int, w http.ResponseWriter, r *http.Request) bool {
		time.Sleep(50 * time.Millisecond) // a slow receiver
		return false
	}}
	e := pushEnv(t, wechatsim.Config{}, rc)
	for range 3 {
		openid, _ := e.login("")
		e.popup(openid, map[string]string{wechatsim.TmplOrderShipped: "accept"})
	}
	e.sim.Close()
	if events, _ := rc.got(); len(events) != 3 {
		t.Fatalf("Close returned with %d of 3 pushes delivered", len(events))
	}
}
