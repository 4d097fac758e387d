package wechatsim_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/wechatsim"
)

// inbox reads /__sim/inbox.
func (e *env) inbox(openid string) []struct {
	TemplateID string                       `json:"template_id"`
	Data       map[string]map[string]string `json:"data"`
	Page       string                       `json:"page"`
	SentAt     string                       `json:"sent_at"`
	MsgID      int64                        `json:"msgid"`
} {
	e.t.Helper()
	status, body := e.do("GET", "/__sim/inbox?openid="+url.QueryEscape(openid), nil)
	var out struct {
		Messages []struct {
			TemplateID string                       `json:"template_id"`
			Data       map[string]map[string]string `json:"data"`
			Page       string                       `json:"page"`
			SentAt     string                       `json:"sent_at"`
			MsgID      int64                        `json:"msgid"`
		} `json:"messages"`
	}
	if status != 200 || json.Unmarshal(body, &out) != nil || out.Messages == nil {
		e.t.Fatalf("inbox: HTTP %d %s", status, body)
	}
	return out.Messages
}

func TestSendDeliversAndSpendsOneCredit(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	openid := e.user(wechatsim.TmplOrderShipped, 1)
	e.sim.Advance(time.Minute)
	o := e.send(tok, e.message(openid, wechatsim.TmplOrderShipped))
	wantOK(t, o)
	if o.str("errmsg") != "ok" || o.int("msgid") <= 0 {
		t.Fatalf("send answer %v: want errmsg ok and a msgid", o)
	}
	if n := e.sim.Credits(openid, wechatsim.TmplOrderShipped); n != 0 {
		t.Fatalf("credits after the send: %d, want 0", n)
	}
	msgs := e.inbox(openid)
	if len(msgs) != 1 {
		t.Fatalf("inbox has %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	want := e.template(wechatsim.TmplOrderShipped).ExampleData()
	if m.TemplateID != wechatsim.TmplOrderShipped || m.Page != "pages/order?id=1" || m.MsgID != o.int("msgid") {
		t.Fatalf("inbox message %+v", m)
	}
	for k, v := range want {
		if m.Data[k]["value"] != v {
			t.Errorf("inbox data %s = %q, want %q", k, m.Data[k]["value"], v)
		}
	}
	if at, err := time.Parse(time.RFC3339, m.SentAt); err != nil || !at.Equal(start.Add(time.Minute)) {
		t.Errorf("sent_at %q, want the simulated time %v", m.SentAt, start.Add(time.Minute))
	}
	wantErr(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)), 43101, "user refuse to accept the msg")
	if s := e.sim.Stats(); s.Delivered != 1 || s.Calls[wechatsim.PathSend] != 2 {
		t.Fatalf("stats %+v: want 1 delivered of 2 send calls", s)
	}
}

func TestOneTimeCreditsAccumulate(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	openid := e.user(wechatsim.TmplAppointment, 3)
	seen := map[int64]bool{}
	for i := range 3 {
		o := e.send(tok, e.message(openid, wechatsim.TmplAppointment))
		wantOK(t, o)
		if seen[o.int("msgid")] {
			t.Fatalf("send %d repeated msgid %d", i+1, o.int("msgid"))
		}
		seen[o.int("msgid")] = true
	}
	wantErr(t, e.send(tok, e.message(openid, wechatsim.TmplAppointment)), 43101, "user refuse to accept the msg")
	if n := len(e.inbox(openid)); n != 3 {
		t.Fatalf("inbox has %d, want 3", n)
	}
}

func TestPopupRejectKeepsEarlierCredits(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	openid := e.user(wechatsim.TmplOrderShipped, 2)
	e.popup(openid, map[string]string{wechatsim.TmplOrderShipped: "reject"})
	if n := e.sim.Credits(openid, wechatsim.TmplOrderShipped); n != 2 {
		t.Fatalf("credits after a popup reject: %d, want 2", n)
	}
	wantOK(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)))
	wantOK(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)))
	wantErr(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)), 43101, "user refuse to accept the msg")
}

func TestBanAnswers43107UntilNextAccept(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	openid := e.user(wechatsim.TmplOrderShipped, 2)
	e.popup(openid, map[string]string{wechatsim.TmplOrderShipped: "ban"})
	// The platform banned the template: 43107, and the credits are kept.
	wantErr(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)), 43107, "subscribe message capability banned")
	if n := e.sim.Credits(openid, wechatsim.TmplOrderShipped); n != 2 {
		t.Fatalf("credits after a ban: %d, want 2 (kept)", n)
	}
	e.popup(openid, map[string]string{wechatsim.TmplOrderShipped: "accept"})
	for range 3 {
		wantOK(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)))
	}
}

func TestSwitchOffErasesCredits(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	openid := e.user(wechatsim.TmplOrderShipped, 3)
	o := e.control("POST", "/__sim/switch", map[string]any{"openid": openid, "template_id": wechatsim.TmplOrderShipped})
	if credits, _ := o["credits"].(map[string]any); credits[wechatsim.TmplOrderShipped] != json.Number("0") {
		t.Fatalf("switch answer %v", o)
	}
	wantErr(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)), 43101, "user refuse")
	e.popup(openid, map[string]string{wechatsim.TmplOrderShipped: "accept"})
	wantOK(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)))
}

func TestMainSwitchOff(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	openid := e.user(wechatsim.TmplOrderShipped, 2)
	e.popup(openid, map[string]string{wechatsim.TmplClinicVisit: "accept"})
	e.control("POST", "/__sim/switch", map[string]any{"openid": openid, "main_switch_off": true})
	wantErr(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)), 43101, "user refuse")
	wantErr(t, e.send(tok, e.message(openid, wechatsim.TmplClinicVisit)), 43101, "user refuse")
	p := e.popup(openid, map[string]string{wechatsim.TmplOrderShipped: "accept"})
	if p.str("errMsg") != "requestSubscribeMessage:fail The main switch is switched off" || p.int("errCode") != 20004 {
		t.Fatalf("popup with the main switch off: %v", p)
	}
	e.control("POST", "/__sim/switch", map[string]any{"openid": openid, "main_switch_off": false})
	e.popup(openid, map[string]string{wechatsim.TmplOrderShipped: "accept"})
	wantOK(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)))
	wantErr(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)), 43101, "user refuse")
}

func TestLongTermTemplate(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	openid, _ := e.login("")
	msg := e.message(openid, wechatsim.TmplClinicVisit)
	wantErr(t, e.send(tok, msg), 43101, "user refuse")
	e.popup(openid, map[string]string{wechatsim.TmplClinicVisit: "accept"})
	for range 5 {
		wantOK(t, e.send(tok, msg))
	}
	e.popup(openid, map[string]string{wechatsim.TmplClinicVisit: "reject"})
	wantErr(t, e.send(tok, msg), 43101, "user refuse")
	e.popup(openid, map[string]string{wechatsim.TmplClinicVisit: "accept"})
	wantOK(t, e.send(tok, msg))
	e.control("POST", "/__sim/switch", map[string]any{"openid": openid, "template_id": wechatsim.TmplClinicVisit})
	wantErr(t, e.send(tok, msg), 43101, "user refuse")
}

func TestSendRequestErrors(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	openid := e.user(wechatsim.TmplOrderShipped, 1)
	with := func(edit func(m map[string]any)) map[string]any {
		m := e.message(openid, wechatsim.TmplOrderShipped)
		edit(m)
		return m
	}
	data := func(m map[string]any) map[string]any { return m["data"].(map[string]any) }
	cases := []struct {
		name string
		body any
		code int
		msg  string
	}{
		{"malformed openid", with(func(m map[string]any) { m["touser"] = "oNeverLoggedIn" }), 40003, "invalid openid"},
		{"another app's openid", with(func(m map[string]any) { m["touser"] = "oOtherApp" + strings.Repeat("x", 19) }), 40003, "invalid openid"},
		{"no touser", with(func(m map[string]any) { delete(m, "touser") }), 40003, "invalid openid"},
		{"unknown template", with(func(m map[string]any) { m["template_id"] = "nope" }), 40037, "invalid template_id"},
		{"no template", with(func(m map[string]any) { delete(m, "template_id") }), 40037, "invalid template_id"},
		{"data as a string", with(func(m map[string]any) { m["data"] = `{"thing2":{"value":"x"}}` }), 47001, "data format error"},
		{"item as a string", with(func(m map[string]any) { data(m)["thing2"] = "耳机" }), 47001, "data format error"},
		{"body not JSON", "touser=" + openid, 47001, "data format error"},
		{"missing key", with(func(m map[string]any) { delete(data(m), "date4") }), 47003, "argument invalid! data.date4.value is empty"},
		{"empty value", with(func(m map[string]any) { data(m)["phrase5"] = map[string]string{"value": ""} }), 47003, "argument invalid! data.phrase5.value is empty"},
		{"too long", with(func(m map[string]any) {
			data(m)["thing2"] = map[string]string{"value": "一二三四五六七八九十一二三四五六七八九十一"}
		}), 47003, "argument invalid! data.thing2.value invalid"},
		{"first bad key in key order", with(func(m map[string]any) {
			data(m)["thing2"] = map[string]string{"value": ""}
			delete(data(m), "amount3")
		}), 47003, "argument invalid! data.amount3.value is empty"},
		{"miniprogram_state", with(func(m map[string]any) { m["miniprogram_state"] = "beta" }), 47003, "argument invalid! miniprogram_state invalid"},
		{"lang", with(func(m map[string]any) { m["lang"] = "fr_FR" }), 47003, "argument invalid! lang invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantErr(t, e.send(tok, c.body), c.code, c.msg) })
	}
	if n := e.sim.Credits(openid, wechatsim.TmplOrderShipped); n != 1 {
		t.Fatalf("refused sends spent a credit: %d left, want 1", n)
	}
	wantErr(t, e.wx("GET", wechatsim.PathSend+"?access_token="+tok, nil), 43002, "require POST method")
	wantErr(t, e.send("", e.message(openid, wechatsim.TmplOrderShipped)), 41001, "access_token missing")
	ok := with(func(m map[string]any) { m["miniprogram_state"] = "developer"; m["lang"] = "en_US" })
	wantOK(t, e.send(tok, ok))
}

func TestSendToAUserWithoutSubscriptionIs43101(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	known, _ := e.login("") // logged in, never subscribed
	stranger := known[:6] + strings.Repeat("Z", 22)
	for _, openid := range []string{known, stranger} {
		wantErr(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)), 43101, "user refuse")
	}
}

func TestSendIgnoresKeysTheTemplateDoesNotHave(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	openid := e.user(wechatsim.TmplOrderShipped, 1)
	m := e.message(openid, wechatsim.TmplOrderShipped)
	m["data"].(map[string]any)["thing9"] = map[string]string{"value": "not in the template"}
	wantOK(t, e.send(tok, m))
	in := e.sim.Inbox(openid)
	if len(in) != 1 {
		t.Fatalf("inbox %+v, want the message", in)
	}
	if _, has := in[0].Data["thing9"]; has || len(in[0].Data) != 5 {
		t.Fatalf("delivered data %v: want the template's 5 keywords only", in[0].Data)
	}
}

func TestSendAcceptsNumbersForValues(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	openid := e.user(wechatsim.TmplAppointment, 1)
	m := e.message(openid, wechatsim.TmplAppointment)
	m["data"].(map[string]any)["number5"] = map[string]any{"value": 3}
	wantOK(t, e.send(tok, m))
	if got := e.sim.Inbox(openid)[0].Data["number5"]; got != "3" {
		t.Fatalf("number value delivered as %q, want 3", got)
	}
}

func TestBizSendAcceptsBothBodyShapes(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	openid := e.user(wechatsim.TmplOrderShipped, 2)
	old := e.message(openid, wechatsim.TmplOrderShipped)
	old["page"] = "https://example.com/order/1"
	old["miniprogram"] = map[string]string{"appid": e.cfg.AppID, "pagepath": "pages/order?id=7"}
	o := e.wx("POST", wechatsim.PathBizSend+"?access_token="+tok, old)
	wantOK(t, o)
	if _, has := o["msgid"]; has {
		t.Errorf("bizsend answer carries a msgid: %v", o)
	}
	neu := e.message(openid, wechatsim.TmplOrderShipped)
	neu["miniprogram_state"], neu["lang"] = "formal", "zh_CN"
	wantOK(t, e.wx("POST", wechatsim.PathBizSend+"?access_token="+tok, neu))
	in := e.sim.Inbox(openid)
	if len(in) != 2 || in[0].Page != "pages/order?id=7" || in[1].Page != "pages/order?id=1" {
		t.Fatalf("inbox %+v: the mini-program page should win over the web page", in)
	}
	wantErr(t, e.wx("POST", wechatsim.PathBizSend+"?access_token="+tok, neu), 43101, "user refuse")
}

func TestConcurrentSendToSameUserGets43108(t *testing.T) {
	const latency = 2 * time.Second
	e := newEnv(t, wechatsim.Config{SendLatency: latency})
	tok := e.token()
	openid := e.user(wechatsim.TmplOrderShipped, 2)
	other := e.user(wechatsim.TmplOrderShipped, 1)

	var wg sync.WaitGroup
	var first, parallel obj
	wg.Go(func() { first = e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)) })
	for e.sim.Credits(openid, wechatsim.TmplOrderShipped) != 1 {
		time.Sleep(time.Millisecond) // wait until the first send is in flight
	}
	wg.Go(func() { parallel = e.send(tok, e.message(other, wechatsim.TmplOrderShipped)) })
	wantErr(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)), 43108, "")
	if len(e.sim.Inbox(openid)) != 0 {
		t.Fatal("a message reached the inbox before the send latency passed")
	}
	wg.Wait()
	wantOK(t, first)
	wantOK(t, parallel)
	if n := e.sim.Credits(openid, wechatsim.TmplOrderShipped); n != 1 {
		t.Fatalf("the 43108 send spent a credit: %d left, want 1", n)
	}
	if n := len(e.sim.Inbox(openid)); n != 1 {
		t.Fatalf("inbox has %d messages, want the first send only", n)
	}
}

func TestConcurrentSendsSpendEachCreditOnce(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	openid := e.user(wechatsim.TmplOrderShipped, 5)
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			c := e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)).code()
			mu.Lock()
			codes[c]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[0] != 5 || codes[43101] != 15 || len(e.sim.Inbox(openid)) != 5 {
		t.Fatalf("20 sends with 5 credits: %v, inbox %d; want 5 delivered and 15×43101", codes, len(e.sim.Inbox(openid)))
	}
}
