package wechatsim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/wxpush"
)

func TestPopupAcceptVariantsGrantAndArePushedAsGiven(t *testing.T) {
	rc := &receiver{}
	e := pushEnv(t, wechatsim.Config{}, rc)
	openid, _ := e.login("")
	variants := map[string]string{
		wechatsim.TmplOrderShipped:  "acceptWithAudio",
		wechatsim.TmplAppointment:   "acceptWithAlert",
		wechatsim.TmplParkingFee:    "acceptWithForcePush",
		wechatsim.TmplServiceReview: "accept",
	}
	got := e.popup(openid, variants)
	for id, st := range variants {
		if got.str(id) != st {
			t.Errorf("popup answer for %s: %q, want %q as wx.requestSubscribeMessage gives it", id, got.str(id), st)
		}
		if n := e.sim.Credits(openid, id); n != 1 {
			t.Errorf("%s after %s: %d credits, want 1", id, st, n)
		}
	}
	e.sim.Flush()
	events, _ := rc.got()
	if len(events) != 1 || len(events[0].Items) != 4 {
		t.Fatalf("events %+v, want one popup event with 4 items", events)
	}
	for _, it := range events[0].Items {
		if it.Status != variants[it.TemplateID] {
			t.Errorf("pushed status %q for %s, want %q", it.Status, it.TemplateID, variants[it.TemplateID])
		}
	}
	// A long-term template too.
	e.popup(openid, map[string]string{wechatsim.TmplClinicVisit: "acceptWithAudio"})
	tok := e.token()
	wantOK(t, e.send(tok, e.message(openid, wechatsim.TmplClinicVisit)))
}

func TestPopupWithOnlyUnknownTemplateFailsWith20001(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	openid, _ := e.login("")
	got := e.popup(openid, map[string]string{"notATemplateOfThisApp": "accept"})
	want := obj{"errMsg": "requestSubscribeMessage:fail No template data return, verify the template id exist", "errCode": json.Number("20001")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("popup for an unknown template: %v, want the fail object %v", got, want)
	}
}

func TestFaultsAreListedAndCleared(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	openid := e.user(wechatsim.TmplOrderShipped, 2)
	e.fault(map[string]any{"errcode": 45011, "count": 3})
	e.control("POST", "/__sim/faults", map[string]any{"path": wechatsim.PathGetTemplate, "http_status": 502})
	wantErr(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)), 45011, "api minute-quota")

	// Unused calls stay queued: they fire on a later call, whoever makes it.
	_, raw := e.do("GET", "/__sim/faults", nil)
	want := `{"faults":[{"path":"/cgi-bin/message/subscribe/send","errcode":45011,"count":2},{"path":"/wxaapi/newtmpl/gettemplate","http_status":502,"count":1}]}`
	if string(raw) != want {
		t.Fatalf("GET /__sim/faults: %s\nwant %s", raw, want)
	}
	if got := e.control("DELETE", "/__sim/faults", nil); got.int("cleared") != 2 {
		t.Fatalf("DELETE /__sim/faults: %v, want 2 rules cleared", got)
	}
	if list := e.control("GET", "/__sim/faults", nil); len(list["faults"].([]any)) != 0 {
		t.Fatalf("faults after DELETE: %v", list)
	}
	wantOK(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)))
}

func TestOmitMsgIDAnswersASuccessWithoutMsgID(t *testing.T) {
	rc := &receiver{}
	e := pushEnv(t, wechatsim.Config{}, rc)
	tok := e.token()
	openid := e.user(wechatsim.TmplOrderShipped, 1)
	e.fault(map[string]any{"omit_msgid": true})
	got := e.send(tok, e.message(openid, wechatsim.TmplOrderShipped))
	if !reflect.DeepEqual(got, obj{"errcode": json.Number("0"), "errmsg": "ok"}) {
		t.Fatalf("answer %v, want exactly {errcode:0, errmsg:ok}", got)
	}
	in := e.sim.Inbox(openid)
	if len(in) != 1 || e.sim.Credits(openid, wechatsim.TmplOrderShipped) != 0 {
		t.Fatalf("the send was not carried out: inbox %+v", in)
	}
	e.sim.Flush()
	events, _ := rc.got()
	last := events[len(events)-1]
	if last.Event != wxpush.EventSent || last.Items[0].MsgID == "" || last.Items[0].MsgID != jsonInt(int(in[0].MsgID)) {
		t.Fatalf("sent event %+v, want the msgid the answer left out (%d)", last, in[0].MsgID)
	}
	if status, body := e.do("POST", "/__sim/faults", map[string]any{"path": wechatsim.PathToken, "omit_msgid": true}); status != 400 {
		t.Fatalf("omit_msgid on the token API: HTTP %d %s, want 400", status, body)
	}
}

func TestKeptChoiceAnswersWithoutAPopupAndGrantsEachCall(t *testing.T) {
	rc := &receiver{}
	e := pushEnv(t, wechatsim.Config{}, rc)
	openid, _ := e.login("")
	tmpl := wechatsim.TmplOrderShipped
	e.control("POST", "/__sim/popup", map[string]any{"openid": openid, "results": map[string]string{tmpl: "accept"}, "keep": true})
	// Later calls name the template without a choice: the kept accept answers.
	for i := 2; i <= 3; i++ {
		got := e.control("POST", "/__sim/popup", map[string]any{"openid": openid, "tmpl_ids": []string{tmpl}})
		if got.str(tmpl) != "accept" {
			t.Fatalf("kept call %d: %v", i, got)
		}
		if n := e.sim.Credits(openid, tmpl); n != i {
			t.Fatalf("after %d calls: %d credits, want %d", i, n, i)
		}
	}
	// Whatever the call says, the kept choice answers.
	if got := e.popup(openid, map[string]string{tmpl: "reject"}); got.str(tmpl) != "accept" {
		t.Fatalf("a kept accept answered %v", got)
	}
	e.sim.Flush()
	if events, _ := rc.got(); len(events) != 4 {
		t.Fatalf("%d popup events, want 4: silent grants are pushed by default", len(events))
	}

	// With push_silent_grants off, silent grants still count, unpushed.
	if got := e.control("POST", "/__sim/settings", map[string]any{"push_silent_grants": false}); got["push_silent_grants"] != false {
		t.Fatalf("settings answer %v", got)
	}
	e.control("POST", "/__sim/popup", map[string]any{"openid": openid, "tmpl_ids": []string{tmpl}})
	e.sim.Flush()
	if n := e.sim.Credits(openid, tmpl); n != 5 {
		t.Fatalf("credits %d, want 5", n)
	}
	if events, _ := rc.got(); len(events) != 4 {
		t.Fatalf("%d popup events, want still 4 with push_silent_grants off", len(events))
	}

	// A kept reject answers reject forever, and grants nothing.
	other, _ := e.login("")
	e.control("POST", "/__sim/popup", map[string]any{"openid": other, "results": map[string]string{tmpl: "reject"}, "keep": true})
	if got := e.popup(other, map[string]string{tmpl: "accept"}); got.str(tmpl) != "reject" || e.sim.Credits(other, tmpl) != 0 {
		t.Fatalf("a kept reject answered %v with %d credits", got, e.sim.Credits(other, tmpl))
	}
	// Naming a template that is not kept without a choice is a misuse.
	if status, body := e.do("POST", "/__sim/popup", map[string]any{"openid": other, "tmpl_ids": []string{wechatsim.TmplAppointment}}); status != 400 {
		t.Fatalf("tmpl_ids without a kept choice: HTTP %d %s, want 400", status, body)
	}
	if status, _ := e.do("POST", "/__sim/settings", map[string]any{}); status != 400 {
		t.Fatalf("settings without push_silent_grants: HTTP %d, want 400", status)
	}
}

// rawReceiver records push bodies as they arrive.
type rawReceiver struct {
	mu     sync.Mutex
	bodies []string
}

func (rr *rawReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rr.mu.Lock()
	rr.bodies = append(rr.bodies, string(b))
	rr.mu.Unlock()
	io.WriteString(w, "success")
}

func TestJSONPushesAreShapedAsWeChatSendsThem(t *testing.T) {
	rr := &rawReceiver{}
	srv := httptest.NewServer(rr)
	t.Cleanup(srv.Close)
	e := newEnv(t, wechatsim.Config{PushFormat: wxpush.JSON, PushURL: srv.URL})
	openid, _ := e.login("")
	e.popup(openid, map[string]string{wechatsim.TmplOrderShipped: "accept"})
	e.popup(openid, map[string]string{wechatsim.TmplOrderShipped: "accept", wechatsim.TmplAppointment: "reject"})
	e.sim.Flush()
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if len(rr.bodies) != 2 {
		t.Fatalf("%d pushes, want 2", len(rr.bodies))
	}
	created := `"CreateTime":` + jsonInt(int(start.Unix())) + `,`
	for i, b := range rr.bodies {
		if !strings.Contains(b, created) {
			t.Errorf("push %d: CreateTime is not a number: %s", i, b)
		}
	}
	if !strings.Contains(rr.bodies[0], `"List":{"TemplateId"`) {
		t.Errorf("one item: List should be an object: %s", rr.bodies[0])
	}
	if !strings.Contains(rr.bodies[1], `"List":[{"TemplateId"`) {
		t.Errorf("two items: List should be an array: %s", rr.bodies[1])
	}
}

func TestDeliverFaultDeliversThenAnswersTheFault(t *testing.T) {
	rc := &receiver{}
	e := pushEnv(t, wechatsim.Config{}, rc)
	tok := e.token()
	openid := e.user(wechatsim.TmplOrderShipped, 2)
	e.fault(map[string]any{"http_status": 502, "deliver": true})
	status, body := e.do("POST", wechatsim.PathSend+"?access_token="+tok, e.message(openid, wechatsim.TmplOrderShipped))
	if status != 502 || !strings.Contains(string(body), "502 Bad Gateway") {
		t.Fatalf("answer HTTP %d %s, want the gateway's 502 page", status, body)
	}
	in := e.sim.Inbox(openid)
	if len(in) != 1 || e.sim.Credits(openid, wechatsim.TmplOrderShipped) != 1 {
		t.Fatalf("the send was not carried out: inbox %+v, credits %d", in, e.sim.Credits(openid, wechatsim.TmplOrderShipped))
	}
	e.sim.Flush()
	events, _ := rc.got()
	last := events[len(events)-1]
	if last.Event != wxpush.EventSent || last.Items[0].MsgID != jsonInt(int(in[0].MsgID)) || last.Items[0].ErrorCode != 0 {
		t.Fatalf("sent event %+v, want the delivered message's", last)
	}
	for _, bad := range []map[string]any{
		{"path": wechatsim.PathSend, "deliver": true},
		{"path": wechatsim.PathToken, "deliver": true, "http_status": 502},
	} {
		if status, body := e.do("POST", "/__sim/faults", bad); status != 400 {
			t.Fatalf("fault %v: HTTP %d %s, want 400", bad, status, body)
		}
	}
}
