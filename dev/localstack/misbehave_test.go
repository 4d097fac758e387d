package localstack_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/localstack"
	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/wxpush"
)

// postPush sends a push to the push route as WeChat would, signed with the
// app's push token; secure encrypts it with the app's EncodingAESKey.
func (h *harness) postPush(ev wxpush.Event, secure bool, ts time.Time, nonce string) answer {
	h.t.Helper()
	body, err := wxpush.EncodeEvent(ev, wxpush.XML)
	if err != nil {
		h.t.Fatal(err)
	}
	c, err := wxpush.NewCipher(h.s.Config.EncodingAESKey, h.appid)
	if err != nil {
		h.t.Fatal(err)
	}
	q, out, err := wxpush.SignedQuery(h.s.Config.PushToken, body, secure, c, ts.Unix(), nonce)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.rawPost("/v1/wechat/events?"+q.Encode(), "text/xml", out)
}

func (h *harness) rawPost(path, contentType string, body []byte) answer {
	h.t.Helper()
	resp, err := http.Post(h.s.URL+path, contentType, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: buf.String()}
	return a
}

// checkMatchesWeChat asserts that wxsub's row holds exactly the credits the
// simulator says the user has.
func (h *harness) checkMatchesWeChat(openid, tmpl string) {
	h.t.Helper()
	h.s.Sim.Flush()
	r := h.checkInvariant(openid, tmpl)
	if want := h.statsCredits(openid, tmpl); r.Credits != want {
		h.t.Fatalf("wxsub holds %d credits of %s for %s, WeChat %d", r.Credits, tmpl, openid, want)
	}
}

func changeReject(openid, tmpl string) wxpush.Event {
	return wxpush.Event{ToUserName: "gh_000000000000", FromUserName: openid, CreateTime: time.Now().Unix(),
		MsgType: "event", Event: wxpush.EventChange, Items: []wxpush.Item{{TemplateID: tmpl, Status: "reject"}}}
}

// TestAVerificationsSignatureCannotForgeAPush replays the signature of a URL
// verification (GET) as a plaintext change-event reject: in secure mode the
// plaintext push is refused; in plaintext mode its nonce was claimed by the
// GET. Either way the user's credits stay what WeChat says.
func TestAVerificationsSignatureCannotForgeAPush(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"secure", "plaintext"} {
		t.Run(mode, func(t *testing.T) {
			h := start(t, withEnv(map[string]string{"WECHAT_PUSH_MODE": mode}))
			u := h.login("oForge" + mode + "0000000000000")
			h.accept(u, oneTime, 3)
			h.checkMatchesWeChat(u.openid, oneTime)

			ts, nonce := fmt.Sprint(time.Now().Unix()), "verif"+mode
			sig := wxpush.Signature(h.s.Config.PushToken, ts, nonce)
			q := url.Values{"signature": {sig}, "timestamp": {ts}, "nonce": {nonce}, "echostr": {"hello"}}
			if a := h.api("GET", "/v1/wechat/events?"+q.Encode(), "", nil); a.status != 200 || a.raw != "hello" {
				t.Fatalf("verification: %d %s", a.status, a.raw)
			}
			body, _ := wxpush.EncodeEvent(changeReject(u.openid, oneTime), wxpush.XML)
			q.Del("echostr")
			a := h.rawPost("/v1/wechat/events?"+q.Encode(), "text/xml", body)
			want := map[string]int{"secure": 403, "plaintext": 409}[mode]
			if a.status != want {
				t.Fatalf("forged push under the verification's signature: %d %s, want %d", a.status, a.raw, want)
			}
			if r := h.row(u.openid, oneTime); r.Credits != 3 {
				t.Fatalf("the forged reject changed the ledger: %+v", r)
			}
			h.checkMatchesWeChat(u.openid, oneTime)
			// The verification itself: its nonce once, its timestamp fresh.
			q.Set("echostr", "again")
			if a := h.api("GET", "/v1/wechat/events?"+q.Encode(), "", nil); a.status != 409 {
				t.Fatalf("a replayed verification: %d %s", a.status, a.raw)
			}
			old, n2 := fmt.Sprint(time.Now().Add(-10*time.Minute).Unix()), "verifstale"
			q = url.Values{"signature": {wxpush.Signature(h.s.Config.PushToken, old, n2)}, "timestamp": {old}, "nonce": {n2}, "echostr": {"x"}}
			if a := h.api("GET", "/v1/wechat/events?"+q.Encode(), "", nil); a.status != 401 {
				t.Fatalf("a stale verification: %d %s", a.status, a.raw)
			}
		})
	}
}

// TestPlaintextPushesAreRefusedInSecureMode: with WECHAT_PUSH_MODE at its
// default, a plaintext push (whose signature does not cover the body) is
// refused even when correctly signed, and grants nothing.
func TestPlaintextPushesAreRefusedInSecureMode(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oDowngrade000000000000000")
	h.accept(u, oneTime, 2)
	a := h.postPush(changeReject(u.openid, oneTime), false, time.Now(), wxpush.NewNonce())
	if a.status != 403 || !strings.Contains(a.raw, "plaintext_refused") {
		t.Fatalf("a plaintext push in secure mode: %d %s", a.status, a.raw)
	}
	h.checkMatchesWeChat(u.openid, oneTime)
	if r := h.row(u.openid, oneTime); r.Credits != 2 {
		t.Fatalf("credits %d, want 2", r.Credits)
	}
	// The same event encrypted is WeChat's and applies.
	if a := h.postPush(changeReject(u.openid, oneTime), true, time.Now(), wxpush.NewNonce()); a.status != 200 {
		t.Fatalf("the encrypted push: %d %s", a.status, a.raw)
	}
	if r := h.row(u.openid, oneTime); r.Credits != 0 || r.Revoked != 2 {
		t.Fatalf("after the genuine reject: %+v", r)
	}
}

// TestPushesOfManyItemsOrUnknownTemplatesCreateNoRows: a signed popup push of
// 51 items is refused; items for templates the synced catalogue does not
// hold are ignored, the others applied.
func TestPushesOfManyItemsOrUnknownTemplatesCreateNoRows(t *testing.T) {
	t.Parallel()
	h := start(t)
	if a := h.admin("POST", "/v1/templates/sync", nil); a.status != 200 {
		t.Fatalf("sync: %d %s", a.status, a.raw)
	}
	u := h.login("oManyItems0000000000000000")
	ev := wxpush.Event{ToUserName: "gh_000000000000", FromUserName: u.openid, CreateTime: time.Now().Unix(),
		MsgType: "event", Event: wxpush.EventPopup}
	for i := 0; i < 51; i++ {
		ev.Items = append(ev.Items, wxpush.Item{TemplateID: fmt.Sprintf("forged%02d", i), Status: "accept"})
	}
	if a := h.postPush(ev, true, time.Now(), wxpush.NewNonce()); a.status != 400 || !strings.Contains(a.raw, "too_many_items") {
		t.Fatalf("51 items: %d %s", a.status, a.raw)
	}
	ev.Items = append(ev.Items[:3], wxpush.Item{TemplateID: oneTime, Status: "accept"})
	if a := h.postPush(ev, true, time.Now(), wxpush.NewNonce()); a.status != 200 {
		t.Fatalf("unknown and known items: %d %s", a.status, a.raw)
	}
	rows, err := h.s.Backend.Store.UserRows(t.Context(), h.appid, u.openid)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].TemplateID != oneTime || rows[0].Credits != 1 {
		t.Fatalf("rows %+v, want only %s with 1 credit", rows, oneTime)
	}
	if !strings.Contains(h.logs.String(), "not in the app's catalogue") {
		t.Fatal("the ignored items are not logged")
	}
}

// TestARepeatedReportCountsOnce: the same popup result reported three times
// with one report_id (a client's retries) grants one credit, as WeChat did.
func TestARepeatedReportCountsOnce(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.s.Sim.SetPushURL("") // no popup events: the reports are the only source
	u := h.login("oRepeatReport000000000000")
	p := h.popup(u, oneTime, "accept")
	for i := 0; i < 3; i++ {
		a := h.api("POST", "/v1/subscriptions", u.token, map[string]any{"result": p, "report_id": "r-1"})
		if a.status != 200 || !strings.Contains(a.raw, `"credits":1`) {
			t.Fatalf("report %d: %d %s", i, a.status, a.raw)
		}
	}
	h.checkMatchesWeChat(u.openid, oneTime)
	bad := h.api("POST", "/v1/subscriptions", u.token, map[string]any{"result": p, "report_id": "with space"})
	if bad.status != 400 || bad.errCode() != "invalid_report_id" {
		t.Fatalf("a bad report_id: %d %s", bad.status, bad.raw)
	}
	h.checkMatchesWeChat(u.openid, oneTime)
}

// TestPushCreditSourceIgnoresReportsForCredits: with WXSUB_CREDIT_SOURCE=push
// a report without any tap grants nothing, and a real tap counts once, from
// its popup event.
func TestPushCreditSourceIgnoresReportsForCredits(t *testing.T) {
	t.Parallel()
	h := start(t, withEnv(map[string]string{"WXSUB_CREDIT_SOURCE": "push"}))
	u := h.login("oPushOnly0000000000000000")
	forged := map[string]any{"errMsg": "requestSubscribeMessage:ok", oneTime: "accept"}
	for i := 0; i < 3; i++ {
		a := h.api("POST", "/v1/subscriptions", u.token, map[string]any{"result": forged, "report_id": fmt.Sprint("f", i)})
		if a.status != 200 || !strings.Contains(a.raw, `"credits":0`) {
			t.Fatalf("forged report %d: %d %s", i, a.status, a.raw)
		}
	}
	h.checkMatchesWeChat(u.openid, oneTime)
	for i := 0; i < 2; i++ { // two real taps, each reported and pushed
		h.s.Sim.Advance(time.Second) // WeChat tells a retry from a new tap by the second (CreateTime)
		h.accept(u, oneTime, 1)
	}
	h.checkMatchesWeChat(u.openid, oneTime)
	if r := h.row(u.openid, oneTime); r.Credits != 2 {
		t.Fatalf("credits %d after two taps, want 2", r.Credits)
	}
}

// TestAnEmptyTemplateListKeepsTheCatalogue: one gettemplate answer listing no
// template changes nothing: the sync answers 502 and sends stay validated.
func TestAnEmptyTemplateListKeepsTheCatalogue(t *testing.T) {
	t.Parallel()
	h := start(t)
	if a := h.admin("POST", "/v1/templates/sync", nil); a.status != 200 {
		t.Fatalf("sync: %d %s", a.status, a.raw)
	}
	h.fault(map[string]any{"path": getTemplatePath, "body": `{"errcode":0,"errmsg":"ok","data":[]}`})
	a := h.admin("POST", "/v1/templates/sync", nil)
	if a.status != 502 || a.errCode() != "wechat_error" || !strings.Contains(a.raw, "unchanged") {
		t.Fatalf("empty answer: %d %s", a.status, a.raw)
	}
	u := h.login("oEmptySync000000000000000")
	if got := catalogueIDs(t, h.api("GET", "/v1/templates", u.token, nil)); len(got) != len(wechatsim.DefaultTemplates()) {
		t.Fatalf("catalogue after the empty answer: %v", got)
	}
	if a := h.admin("POST", "/v1/messages", map[string]any{"touser": u.openid, "template_id": "notATemplate", "data": map[string]any{"thing1": "x"}}); a.status != 404 {
		t.Fatalf("validation is off after the empty answer: %d %s", a.status, a.raw)
	}
}

// TestALongTermRowFollowsTheCatalogue: a long-term accept recorded while the
// catalogue was empty is stored as a one-time credit; after a sync every
// send is answered as for the long-term accept it is.
func TestALongTermRowFollowsTheCatalogue(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oKindFollows0000000000000")
	h.accept(u, longTerm, 1) // catalogue never synced: stored one-time
	if a := h.admin("POST", "/v1/templates/sync", nil); a.status != 200 {
		t.Fatalf("sync: %d %s", a.status, a.raw)
	}
	for i := 0; i < 3; i++ {
		if a := h.send(u.openid, longTerm); a.status != 200 {
			t.Fatalf("send %d: %d %s", i, a.status, a.raw)
		}
	}
	if n := h.inbox(u.openid, longTerm); n != 3 {
		t.Fatalf("WeChat delivered %d messages, want 3", n)
	}
	if r := h.row(u.openid, longTerm); r.Kind != "long_term" {
		t.Fatalf("row kind %s, want long_term", r.Kind)
	}
	a := h.admin("GET", "/v1/users/"+u.openid+"/subscriptions", nil)
	if !strings.Contains(a.raw, `"template_id":"`+longTerm+`","title"`) || strings.Contains(a.raw, `"type":"long_term","status":"accept","credits":1`) {
		t.Fatalf("ledger: %s", a.raw)
	}
}

// TestClientRoutesCheckTheSessionBeforeTheBody: a client route answers a
// caller without a session before reading its body, and a stalled body does
// not hold a connection past the read timeout.
func TestClientRoutesCheckTheSessionBeforeTheBody(t *testing.T) {
	t.Parallel()
	h := start(t)
	addr := strings.TrimPrefix(h.s.URL, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Headers announcing 5 MB, and no body at all.
	fmt.Fprintf(conn, "POST /v1/subscriptions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n", addr)
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body: %v", err)
	}
	if resp.StatusCode != 401 {
		t.Fatalf("without a session: %d, want 401", resp.StatusCode)
	}

	// A stalled body on a route that reads it: the server gives up.
	u := h.login("oStalled00000000000000000")
	stalled, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	fmt.Fprintf(stalled, "POST /v1/subscriptions HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"res", addr, u.token)
	start := time.Now()
	stalled.SetReadDeadline(time.Now().Add(localstack.APIReadTimeout + 5*time.Second))
	io.Copy(io.Discard, stalled) // returns when the server closes the connection
	if held := time.Since(start); held > localstack.APIReadTimeout+3*time.Second {
		t.Fatalf("a stalled body held the connection %s", held)
	}
	if rows, err := h.s.Backend.Store.UserRows(t.Context(), h.appid, u.openid); err != nil || len(rows) != 0 {
		t.Fatalf("the stalled report recorded %+v (%v)", rows, err)
	}
}

// TestBadBodiesAndSubjectsAreRefused: a JSON route without Content-Type, data
// that is not UTF-8, and a session for a subject that is not an openid are
// refused; nothing is sent and no credit moves.
func TestBadBodiesAndSubjectsAreRefused(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oBadBodies000000000000000")
	h.accept(u, oneTime, 1)
	req, _ := http.NewRequest("POST", h.s.URL+"/v1/messages", strings.NewReader(`{"touser":"`+u.openid+`"}`))
	req.Header.Set("Authorization", "Bearer "+h.s.AdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Fatalf("no Content-Type: %d, want 415", resp.StatusCode)
	}
	body := `{"touser":"` + u.openid + `","template_id":"` + oneTime + `","data":{"thing1":{"value":"caf` + "\xe9" + `"}}}`
	a := h.api("POST", "/v1/messages", h.s.AdminKey, body)
	if a.status != 400 || a.errCode() != "invalid_utf8" {
		t.Fatalf("invalid UTF-8: %d %s", a.status, a.raw)
	}
	if n := h.inbox(u.openid, oneTime); n != 0 {
		t.Fatalf("WeChat delivered %d messages", n)
	}
	h.checkMatchesWeChat(u.openid, oneTime)

	tok, _, err := h.s.Backend.Sessions.Issue(h.appid, "o/../../other")
	if err != nil {
		t.Fatal(err)
	}
	if a := h.api("GET", "/v1/subscriptions", tok, nil); a.status != 401 {
		t.Fatalf("a session for a subject that is not an openid: %d %s", a.status, a.raw)
	}
}

// TestAnUnreadableTemplateListIsNotATimeout: a gettemplate answer that is not
// JSON answers 502 wechat_error saying so, and keeps the catalogue.
func TestAnUnreadableTemplateListIsNotATimeout(t *testing.T) {
	t.Parallel()
	h := start(t)
	if a := h.admin("POST", "/v1/templates/sync", nil); a.status != 200 {
		t.Fatalf("sync: %d %s", a.status, a.raw)
	}
	h.fault(map[string]any{"path": getTemplatePath, "body": `<html>gateway</html>`})
	a := h.admin("POST", "/v1/templates/sync", nil)
	if a.status != 502 || a.errCode() != "wechat_error" || !strings.Contains(a.raw, "could not be read") {
		t.Fatalf("unreadable answer: %d %s", a.status, a.raw)
	}
	u := h.login("oUnreadable00000000000000")
	if got := catalogueIDs(t, h.api("GET", "/v1/templates", u.token, nil)); len(got) != len(wechatsim.DefaultTemplates()) {
		t.Fatalf("catalogue after the unreadable answer: %v", got)
	}
}
