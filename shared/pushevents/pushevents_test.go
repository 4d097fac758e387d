package pushevents_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/localdb"
	"github.com/wxsub/wxsub/shared/backend"
	"github.com/wxsub/wxsub/shared/catalog"
	"github.com/wxsub/wxsub/shared/httpapi"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/pushevents"
	"github.com/wxsub/wxsub/shared/store"
	"github.com/wxsub/wxsub/shared/wxpush"
)

const (
	appid = "wx8f3a9c2b1d4e5f60"
	token = "pushTokenForTests0123456789abcdef"
	tmpl  = "RaAXmaHZ6OFYKcCbG9rsyEpBqsERIZsLLga8-KL5xqI"
)

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

// fixture is the push handler on a real (in-process or DYNAMODB_ENDPOINT) table.
type fixture struct {
	t      *testing.T
	h      *pushevents.Handler
	st     *store.Store
	key    string
	cipher *wxpush.Cipher
	now    time.Time
	logs   *syncBuffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	tb := localdb.NewTestTable(t)
	st := store.New(tb.Client, tb.Name)
	key, err := wxpush.GenerateEncodingAESKey()
	if err != nil {
		t.Fatal(err)
	}
	c, err := wxpush.NewCipher(key, appid)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, st: st, key: key, cipher: c, now: time.Now(), logs: &syncBuffer{}}
	f.h = &pushevents.Handler{
		AppID: appid, Token: token, Cipher: c, AcceptPlaintext: true, Store: st, Catalog: catalog.New(appid, st, time.Minute),
		Logger: backend.NewLogger(f.logs), Now: func() time.Time { return f.now },
		IndexHorizon: time.Second,
	}
	return f
}

func popup(openid, status string) wxpush.Event {
	return wxpush.Event{ToUserName: "gh_3f8a2b9c1d4e", FromUserName: openid, CreateTime: time.Now().Unix(),
		MsgType: "event", Event: wxpush.EventPopup, Items: []wxpush.Item{{TemplateID: tmpl, Status: status}}}
}

// signed encodes ev and signs it as WeChat does, stamped at ts.
func (f *fixture) signed(ev wxpush.Event, format wxpush.Format, secure bool, ts time.Time) (url.Values, []byte) {
	f.t.Helper()
	body, err := wxpush.EncodeEvent(ev, format)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.signBody(body, secure, ts)
}

func (f *fixture) signBody(body []byte, secure bool, ts time.Time) (url.Values, []byte) {
	f.t.Helper()
	q, out, err := wxpush.SignedQuery(token, body, secure, f.cipher, ts.Unix(), wxpush.NewNonce())
	if err != nil {
		f.t.Fatal(err)
	}
	return q, out
}

// envelope wraps an Encrypt value and signs it with msg_signature.
func (f *fixture) envelope(encrypt string) (url.Values, []byte) {
	f.t.Helper()
	body, err := wxpush.EncodeEnvelope(wxpush.Envelope{ToUserName: "gh_3f8a2b9c1d4e", Encrypt: encrypt}, wxpush.XML)
	if err != nil {
		f.t.Fatal(err)
	}
	ts, nonce := fmt.Sprint(f.now.Unix()), wxpush.NewNonce()
	return url.Values{
		"signature": {wxpush.Signature(token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce},
		"encrypt_type": {"aes"}, "msg_signature": {wxpush.MsgSignature(token, ts, nonce, encrypt)},
	}, body
}

func (f *fixture) call(method string, q url.Values, body []byte) httpapi.Response {
	f.t.Helper()
	qs := map[string]string{}
	for k := range q {
		qs[k] = q.Get(k)
	}
	resp, err := f.h.Handle(context.Background(), httpapi.Request{
		Version: "2.0", RouteKey: method + " /v1/wechat/events", RawPath: "/v1/wechat/events",
		RawQueryString: q.Encode(), QueryStringParameters: qs,
		Headers: map[string]string{"content-type": "text/xml"}, Body: string(body),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return resp
}

func (f *fixture) post(q url.Values, body []byte) httpapi.Response {
	f.t.Helper()
	return f.call("POST", q, body)
}

func wantSuccess(t *testing.T, resp httpapi.Response) {
	t.Helper()
	if resp.StatusCode != 200 || resp.Body != "success" || !strings.HasPrefix(resp.Headers["Content-Type"], "text/plain") {
		t.Fatalf("answer %d %q %v, want 200 text/plain success", resp.StatusCode, resp.Body, resp.Headers)
	}
}

func wantError(t *testing.T, resp httpapi.Response, status int, code string) {
	t.Helper()
	if resp.StatusCode != status || !strings.Contains(resp.Body, `"code":"`+code+`"`) {
		t.Fatalf("answer %d %s, want %d %s", resp.StatusCode, resp.Body, status, code)
	}
}

func (f *fixture) row(openid string) (ledger.Row, bool) {
	f.t.Helper()
	r, err := f.st.Row(context.Background(), store.RowKey{AppID: appid, OpenID: openid, TemplateID: tmpl})
	if errors.Is(err, store.ErrNotFound) {
		return ledger.Row{}, false
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return r, true
}

func TestURLVerificationEchoesOnlyWhenSigned(t *testing.T) {
	f := newFixture(t)
	ts, nonce := fmt.Sprint(f.now.Unix()), "1514711492"
	good := url.Values{"signature": {wxpush.Signature(token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}, "echostr": {"4375120948345356249"}}
	resp := f.call("GET", good, nil)
	if resp.StatusCode != 200 || resp.Body != "4375120948345356249" || !strings.HasPrefix(resp.Headers["Content-Type"], "text/plain") {
		t.Fatalf("verification: %d %q %v", resp.StatusCode, resp.Body, resp.Headers)
	}
	bad := url.Values{"signature": {wxpush.Signature("another token", ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}, "echostr": {"1"}}
	wantError(t, f.call("GET", bad, nil), 401, "invalid_signature")
	wantError(t, f.call("GET", url.Values{"echostr": {"1"}}, nil), 401, "invalid_signature")
	// Its signature is a plaintext push's: the nonce is claimed, the timestamp checked.
	wantError(t, f.call("GET", good, nil), 409, "replayed_nonce")
	old := fmt.Sprint(f.now.Add(-6 * time.Minute).Unix())
	stale := url.Values{"signature": {wxpush.Signature(token, old, "n2")}, "timestamp": {old}, "nonce": {"n2"}, "echostr": {"1"}}
	wantError(t, f.call("GET", stale, nil), 401, "stale_timestamp")
}

func TestPopupAcceptGrantsInEveryModeAndFormat(t *testing.T) {
	f := newFixture(t)
	for i, format := range []wxpush.Format{wxpush.XML, wxpush.JSON} {
		for j, secure := range []bool{false, true} {
			openid := fmt.Sprintf("oModes%d%d000000000000", i, j)
			wantSuccess(t, f.post(f.signed(popup(openid, "accept"), format, secure, f.now)))
			if r, ok := f.row(openid); !ok || r.Credits != 1 || r.Status != ledger.Accept || r.PushPending.Count != 1 {
				t.Fatalf("%s secure=%v: row %+v", format, secure, r)
			}
		}
	}
}

func TestJSONListAsObjectOrArrayAndNumbersAsStrings(t *testing.T) {
	f := newFixture(t)
	bodies := map[string]string{
		"object, strings": `{"ToUserName":"gh_3f8a2b9c1d4e","FromUserName":"oJSONa0000000000000","CreateTime":"1620973045","MsgType":"event",` +
			`"Event":"subscribe_msg_popup_event","List":{"TemplateId":"` + tmpl + `","SubscribeStatusString":"accept","PopupScene":"0"}}`,
		"array, numbers": `{"ToUserName":"gh_3f8a2b9c1d4e","FromUserName":"oJSONb0000000000000","CreateTime":1620973045,"MsgType":"event",` +
			`"Event":"subscribe_msg_popup_event","List":[{"TemplateId":"` + tmpl + `","SubscribeStatusString":"accept","PopupScene":0},` +
			`{"TemplateId":"nSWNoq_mrqwk4Up-1XPfuiDm6x3KR-Jts6fVHAmLTkI","SubscribeStatusString":"reject","PopupScene":"0"}]}`,
	}
	for name, body := range bodies {
		for _, secure := range []bool{false, true} {
			openid := "oJSONa0000000000000"
			if strings.HasPrefix(name, "array") {
				openid = "oJSONb0000000000000"
			}
			before, _ := f.row(openid)
			wantSuccess(t, f.post(f.signBody([]byte(body), secure, f.now)))
			after, _ := f.row(openid)
			if secure {
				// The same event again (WeChat's retry, re-encrypted): nothing more.
				if after.Credits != before.Credits {
					t.Fatalf("%s: a repeated event granted again: %+v", name, after)
				}
				continue
			}
			if after.Credits != 1 || after.Status != ledger.Accept {
				t.Fatalf("%s: row %+v", name, after)
			}
		}
	}
	r, err := f.st.Row(context.Background(), store.RowKey{AppID: appid, OpenID: "oJSONb0000000000000", TemplateID: "nSWNoq_mrqwk4Up-1XPfuiDm6x3KR-Jts6fVHAmLTkI"})
	if err != nil || r.Status != ledger.Reject {
		t.Fatalf("the second item of the array: %+v %v", r, err)
	}
}

// encryptRaw encrypts an arbitrary plaintext (already padded) with the
// fixture's key, as WeChat's cipher would.
func (f *fixture) encryptRaw(plain []byte) string {
	f.t.Helper()
	key, err := base64.StdEncoding.DecodeString(f.key + "=")
	if err != nil {
		f.t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		f.t.Fatal(err)
	}
	out := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, plain)
	return base64.StdEncoding.EncodeToString(out)
}

func TestRefusedPushesChangeNothing(t *testing.T) {
	f := newFixture(t)
	const openid = "oRefused00000000000"
	wantSuccess(t, f.post(f.signed(popup(openid, "accept"), wxpush.XML, true, f.now)))
	want, _ := f.row(openid)

	ev := popup(openid, "accept")
	ev.CreateTime++ // a new tap, which must not count
	plainXML, _ := wxpush.EncodeEvent(ev, wxpush.XML)
	foreign, _ := wxpush.NewCipher(f.key, "wx0000000000000000")
	foreignEnc, _ := foreign.Encrypt(plainXML)
	// A plaintext whose PKCS#7 padding byte is 0.
	var msg bytes.Buffer
	msg.Write(make([]byte, 16))
	binary.Write(&msg, binary.BigEndian, uint32(len(plainXML)))
	msg.Write(plainXML)
	msg.WriteString(appid)
	msg.Write(make([]byte, 32-msg.Len()%32))
	brokenInner, _ := f.cipher.Encrypt([]byte("<xml><ToUserName>gh_1</ToUserName><FromUserName>"))

	cases := []struct {
		name   string
		build  func() (url.Values, []byte)
		status int
		code   string
	}{
		{"bad signature", func() (url.Values, []byte) {
			q, b := f.signed(ev, wxpush.XML, false, f.now)
			q.Set("signature", strings.Repeat("0", 40))
			return q, b
		}, 401, "invalid_signature"},
		{"no signature", func() (url.Values, []byte) {
			q, b := f.signed(ev, wxpush.XML, false, f.now)
			q.Del("signature")
			return q, b
		}, 401, "invalid_signature"},
		{"signed with another token", func() (url.Values, []byte) {
			body, _ := wxpush.EncodeEvent(ev, wxpush.JSON)
			q, b, _ := wxpush.SignedQuery("not the token", body, false, nil, f.now.Unix(), wxpush.NewNonce())
			return q, b
		}, 401, "invalid_signature"},
		{"bad msg_signature", func() (url.Values, []byte) {
			q, b := f.signed(ev, wxpush.XML, true, f.now)
			q.Set("msg_signature", q.Get("signature")) // valid plain signature, wrong msg_signature
			return q, b
		}, 401, "invalid_signature"},
		{"timestamp 6 minutes old", func() (url.Values, []byte) {
			return f.signed(ev, wxpush.XML, true, f.now.Add(-6*time.Minute))
		}, 401, "stale_timestamp"},
		{"timestamp 6 minutes ahead", func() (url.Values, []byte) {
			return f.signed(ev, wxpush.JSON, false, f.now.Add(6*time.Minute))
		}, 401, "stale_timestamp"},
		{"another appid inside", func() (url.Values, []byte) { return f.envelope(foreignEnc) }, 403, "foreign_appid"},
		{"broken base64", func() (url.Values, []byte) { return f.envelope("this is %% not base64 ==") }, 400, "malformed_push"},
		{"bad padding", func() (url.Values, []byte) { return f.envelope(f.encryptRaw(msg.Bytes())) }, 400, "malformed_push"},
		{"truncated ciphertext", func() (url.Values, []byte) {
			enc, _ := f.cipher.Encrypt(plainXML)
			return f.envelope(enc[:len(enc)-24])
		}, 400, "malformed_push"},
		{"malformed XML inside", func() (url.Values, []byte) { return f.envelope(brokenInner) }, 400, "malformed_push"},
		{"malformed XML", func() (url.Values, []byte) {
			return f.signBody([]byte("<xml><ToUserName>gh_1</ToUserName><FromUserName>"), false, f.now)
		}, 400, "malformed_push"},
		{"malformed JSON", func() (url.Values, []byte) {
			return f.signBody([]byte(`{"ToUserName":"gh_1","FromUserName":`), false, f.now)
		}, 400, "malformed_push"},
		{"malformed envelope", func() (url.Values, []byte) {
			q, _ := f.signed(ev, wxpush.XML, true, f.now)
			return q, []byte("<xml><ToUserName>gh_1</ToUserName></xml>")
		}, 400, "malformed_push"},
		{"not an openid", func() (url.Values, []byte) {
			bad := ev
			bad.FromUserName = "o;DROP"
			return f.signed(bad, wxpush.XML, true, f.now)
		}, 400, "malformed_push"},
		{"body over 64 KB", func() (url.Values, []byte) {
			body := append(plainXML[:len(plainXML):len(plainXML)], bytes.Repeat([]byte(" "), pushevents.MaxBody)...)
			return f.signBody(body, false, f.now)
		}, 413, "body_too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, body := c.build()
			resp := f.post(q, body)
			wantError(t, resp, c.status, c.code)
			if got, _ := f.row(openid); got != want {
				t.Fatalf("a refused push changed the row: %+v, was %+v", got, want)
			}
		})
	}
	if logs := f.logs.String(); strings.Contains(logs, token) || strings.Contains(logs, f.key) || strings.Contains(logs, openid) {
		t.Fatal("the logs carry the push token, the EncodingAESKey or an openid")
	}
}

func TestReplayedNonceIsRefusedAndForgeriesDoNotSpendNonces(t *testing.T) {
	f := newFixture(t)
	const openid = "oReplay00000000000"
	q, body := f.signed(popup(openid, "accept"), wxpush.XML, true, f.now)
	forged := url.Values{}
	for k, v := range q {
		forged[k] = v
	}
	forged.Set("msg_signature", strings.Repeat("f", 40))
	wantError(t, f.post(forged, body), 401, "invalid_signature")
	wantSuccess(t, f.post(q, body)) // the forgery did not use up the nonce
	wantError(t, f.post(q, body), 409, "replayed_nonce")
	if r, _ := f.row(openid); r.Credits != 1 {
		t.Fatalf("a replay changed the ledger: %+v", r)
	}
	// Ten minutes later the nonce is forgotten, but the timestamp is long stale.
	f.now = f.now.Add(store.NonceTTL + time.Minute)
	wantError(t, f.post(q, body), 401, "stale_timestamp")
}

func TestRetriesOfOnePushCountOnce(t *testing.T) {
	f := newFixture(t)
	const openid = "oRetry000000000000"
	ev := popup(openid, "accept")
	for i := 0; i < 3; i++ {
		// WeChat re-signs (and re-encrypts) every attempt with a fresh nonce.
		wantSuccess(t, f.post(f.signed(ev, wxpush.XML, i%2 == 0, f.now)))
	}
	if r, _ := f.row(openid); r.Credits != 1 || r.Granted != 1 {
		t.Fatalf("three deliveries of one push: %+v", r)
	}
	// A later tap is another event.
	ev.CreateTime++
	wantSuccess(t, f.post(f.signed(ev, wxpush.JSON, true, f.now)))
	if r, _ := f.row(openid); r.Credits != 2 {
		t.Fatalf("a second tap: %+v", r)
	}
}

func TestChangeRejectZeroesTheBalance(t *testing.T) {
	f := newFixture(t)
	const openid = "oChange00000000000"
	ev := popup(openid, "accept")
	for i := 0; i < 3; i++ {
		ev.CreateTime++
		wantSuccess(t, f.post(f.signed(ev, wxpush.XML, true, f.now)))
	}
	change := wxpush.Event{ToUserName: "gh_3f8a2b9c1d4e", FromUserName: openid, CreateTime: ev.CreateTime + 60,
		MsgType: "event", Event: wxpush.EventChange, Items: []wxpush.Item{{TemplateID: tmpl, Status: "reject"}}}
	wantSuccess(t, f.post(f.signed(change, wxpush.JSON, true, f.now)))
	r, _ := f.row(openid)
	if r.Credits != 0 || r.Revoked != 3 || r.Status != ledger.Reject || !r.Balanced() {
		t.Fatalf("after the change event: %+v", r)
	}
	// A popup reject keeps the credits (there are none left here) and only sets the status.
	ev.CreateTime += 120
	wantSuccess(t, f.post(f.signed(ev, wxpush.XML, false, f.now)))
	wantSuccess(t, f.post(f.signed(popup(openid, "reject"), wxpush.XML, false, f.now)))
	if r, _ := f.row(openid); r.Credits != 1 || r.Status != ledger.Reject {
		t.Fatalf("accept then popup reject: %+v", r)
	}
}

// sendOne spends one credit of openid as a send that WeChat answered with
// msgid (status sent) or did not answer (status unknown, msgid "").
func (f *fixture) sendOne(openid, id, msgid string, status ledger.MessageStatus) store.Message {
	f.t.Helper()
	ctx := context.Background()
	k := store.RowKey{AppID: appid, OpenID: openid, TemplateID: tmpl}
	now := time.Now()
	m := store.Message{ID: id, AppID: appid, OpenID: openid, TemplateID: tmpl, Status: ledger.Pending,
		Kind: ledger.OneTime, Attempt: "a" + id, CreatedAt: now, UpdatedAt: now}
	if err := f.st.Reserve(ctx, store.Reservation{Row: k, Message: m}); err != nil {
		f.t.Fatal(err)
	}
	m.Status, m.WeChatMsgID = status, msgid
	if err := f.st.Settle(ctx, store.Settlement{Row: k, Kind: ledger.OneTime, Effect: ledger.Spend, Message: m}); err != nil {
		f.t.Fatal(err)
	}
	return m
}

func sentEvent(openid, msgid string, code int, status string) wxpush.Event {
	return wxpush.Event{ToUserName: "gh_3f8a2b9c1d4e", FromUserName: openid, CreateTime: time.Now().Unix() + 1,
		MsgType: "event", Event: wxpush.EventSent,
		Items: []wxpush.Item{{TemplateID: tmpl, MsgID: msgid, ErrorCode: code, ErrorStatus: status}}}
}

func TestSentEventsSettleMessages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const openid = "oSentEvent00000000"
	ev := popup(openid, "accept")
	for i := 0; i < 4; i++ {
		ev.CreateTime++
		wantSuccess(t, f.post(f.signed(ev, wxpush.XML, true, f.now)))
	}
	sent := f.sendOne(openid, "maaaaaaaaaaaaaaaaaaaaaaaaa", "3618292003140894721", ledger.Sent)
	lost := f.sendOne(openid, "mbaaaaaaaaaaaaaaaaaaaaaaaa", "", ledger.Unknown)
	refused := f.sendOne(openid, "mcaaaaaaaaaaaaaaaaaaaaaaaa", "3618292003140894723", ledger.Sent)

	// Delivered, found by msgid; the JSON numbers as strings.
	body := `{"ToUserName":"gh_3f8a2b9c1d4e","FromUserName":"` + openid + `","CreateTime":"` + fmt.Sprint(time.Now().Unix()) + `",` +
		`"MsgType":"event","Event":"subscribe_msg_sent_event","List":{"TemplateId":"` + tmpl + `","MsgID":"3618292003140894721","ErrorCode":"0","ErrorStatus":"success"}}`
	wantSuccess(t, f.post(f.signBody([]byte(body), true, f.now)))
	// The send whose answer was lost: WeChat's msgid is new to wxsub, so the
	// message is found through gsi1, which lags: the push is refused until
	// the index has it, and WeChat's retry (a new nonce) applies it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp := f.post(f.signed(sentEvent(openid, "3618292003140894722", 0, "success"), wxpush.XML, true, f.now))
		if resp.StatusCode == 200 {
			wantSuccess(t, resp)
			break
		}
		if resp.StatusCode < 500 || time.Now().After(deadline) {
			t.Fatalf("sent event of the lost send: %d %s", resp.StatusCode, resp.Body)
		}
	}
	// Refused by the user: failed, the credit stays spent and the rest is zeroed.
	wantSuccess(t, f.post(f.signed(sentEvent(openid, "3618292003140894723", 1, "failed:user block"), wxpush.XML, false, f.now)))

	for _, c := range []struct {
		m     store.Message
		want  ledger.MessageStatus
		msgid string
	}{{sent, ledger.Delivered, "3618292003140894721"}, {lost, ledger.Delivered, "3618292003140894722"}, {refused, ledger.Failed, "3618292003140894723"}} {
		got, err := f.st.Message(ctx, c.m.ID)
		if err != nil || got.Status != c.want || got.WeChatMsgID != c.msgid {
			t.Fatalf("message %s: %+v %v, want %s", c.m.ID, got, err, c.want)
		}
	}
	got, _ := f.st.Message(ctx, refused.ID)
	if !got.Accepted || got.ErrCode != 1 || got.ErrMsg != "failed:user block" {
		t.Fatalf("refused message: %+v", got)
	}
	r, _ := f.row(openid)
	if r.Credits != 0 || r.Spent != 3 || r.Revoked != 1 || !r.Balanced() {
		t.Fatalf("row after the sent events: %+v", r)
	}
	// A sent event for a message wxsub never sent is refused while a send
	// settled moments ago may still be missing from gsi1 (IndexHorizon),
	// then acknowledged; it changes nothing.
	for deadline := time.Now().Add(5 * f.h.IndexHorizon); ; time.Sleep(100 * time.Millisecond) {
		resp := f.post(f.signed(sentEvent(openid, "1", 0, "success"), wxpush.XML, true, f.now))
		if resp.StatusCode == 200 {
			wantSuccess(t, resp)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a sent event for an unknown msgid: %d %s", resp.StatusCode, resp.Body)
		}
	}
	if again, _ := f.row(openid); again != r {
		t.Fatalf("an unknown msgid changed the row: %+v", again)
	}
}

func TestMessagesWxsubDoesNotUseAreAcknowledged(t *testing.T) {
	f := newFixture(t)
	body := `<xml><ToUserName><![CDATA[gh_3f8a2b9c1d4e]]></ToUserName><FromUserName><![CDATA[oOther000000000000]]></FromUserName>` +
		`<CreateTime>1716012962</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[user_enter_tempsession]]></Event>` +
		`<SessionFrom><![CDATA[weapp]]></SessionFrom></xml>`
	wantSuccess(t, f.post(f.signBody([]byte(body), true, f.now)))
	if !strings.Contains(f.logs.String(), "user_enter_tempsession") {
		t.Fatalf("the ignored event is not logged: %s", f.logs.String())
	}
}

func TestNoPushTokenRefusesEverything(t *testing.T) {
	f := newFixture(t)
	f.h.Token = ""
	ts, nonce := fmt.Sprint(f.now.Unix()), "1"
	// Signed with the empty token, which anyone can compute.
	q := url.Values{"signature": {wxpush.Signature("", ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}, "echostr": {"x"}}
	body, _ := wxpush.EncodeEvent(popup("oNoToken0000000000", "accept"), wxpush.XML)
	for _, method := range []string{"GET", "POST"} {
		if resp := f.call(method, q, body); resp.StatusCode != 500 {
			t.Fatalf("%s without a push token: %d %s", method, resp.StatusCode, resp.Body)
		}
	}
	if _, ok := f.row("oNoToken0000000000"); ok {
		t.Fatal("a push was applied without a push token")
	}
}

func TestEveryAcceptVariantGrants(t *testing.T) {
	f := newFixture(t)
	for i, status := range []string{"acceptWithAudio", "acceptWithAlert", "acceptWithForcePush"} {
		openid := fmt.Sprintf("oVariant%d0000000000", i)
		for _, format := range []wxpush.Format{wxpush.XML, wxpush.JSON} {
			ev := popup(openid, status)
			if format == wxpush.JSON {
				ev.CreateTime++ // a second tap
			}
			wantSuccess(t, f.post(f.signed(ev, format, true, f.now)))
		}
		if r, ok := f.row(openid); !ok || r.Credits != 2 || r.Status != ledger.Accept {
			t.Fatalf("%s twice: row %+v, want 2 credits and status accept", status, r)
		}
	}
}

func TestChangeEventUnderAnyWrapperRevokes(t *testing.T) {
	f := newFixture(t)
	for i, wrap := range []string{"SubscribeMsgPopupEvent", "SubscribeMsgSentEvent"} {
		openid := fmt.Sprintf("oWrapper%d0000000000", i)
		wantSuccess(t, f.post(f.signed(popup(openid, "accept"), wxpush.XML, true, f.now)))
		body := `<xml><ToUserName><![CDATA[gh_3f8a2b9c1d4e]]></ToUserName><FromUserName><![CDATA[` + openid + `]]></FromUserName>` +
			`<CreateTime>` + fmt.Sprint(time.Now().Unix()+5) + `</CreateTime><MsgType><![CDATA[event]]></MsgType>` +
			`<Event><![CDATA[subscribe_msg_change_event]]></Event><` + wrap + `><List><TemplateId><![CDATA[` + tmpl + `]]></TemplateId>` +
			`<SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString></List></` + wrap + `></xml>`
		wantSuccess(t, f.post(f.signBody([]byte(body), true, f.now)))
		if r, _ := f.row(openid); r.Credits != 0 || r.Revoked != 1 || r.Status != ledger.Reject {
			t.Fatalf("change event under %s: row %+v, want the credit revoked", wrap, r)
		}
	}
}

// postUntilApplied posts a sent event until it is applied: a message just
// settled may be missing from gsi1 for a moment, and the push is refused
// (WeChat retries) until the index has it.
func (f *fixture) postUntilApplied(ev wxpush.Event) {
	f.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp := f.post(f.signed(ev, wxpush.XML, true, f.now))
		if resp.StatusCode == 200 {
			wantSuccess(f.t, resp)
			return
		}
		if resp.StatusCode < 500 || time.Now().After(deadline) {
			f.t.Fatalf("sent event: %d %s", resp.StatusCode, resp.Body)
		}
	}
}

func TestSentEventsFindSendsAnsweredWithoutMsgID(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const openid = "oNoMsgID000000000000"
	ev := popup(openid, "accept")
	for i := 0; i < 3; i++ {
		ev.CreateTime++
		wantSuccess(t, f.post(f.signed(ev, wxpush.XML, true, f.now)))
	}
	first := f.sendOne(openid, "mdaaaaaaaaaaaaaaaaaaaaaaaa", "", ledger.Sent)
	second := f.sendOne(openid, "meaaaaaaaaaaaaaaaaaaaaaaaa", "", ledger.Sent)

	// The events carry msgids wxsub never saw: each settles the oldest
	// message still waiting, the first one delivered, the second blocked.
	f.postUntilApplied(sentEvent(openid, "4000000000000000001", 0, "success"))
	f.postUntilApplied(sentEvent(openid, "4000000000000000002", 43101, "failed:user block"))
	for _, c := range []struct {
		m     store.Message
		want  ledger.MessageStatus
		msgid string
	}{{first, ledger.Delivered, "4000000000000000001"}, {second, ledger.Failed, "4000000000000000002"}} {
		got, err := f.st.Message(ctx, c.m.ID)
		if err != nil || got.Status != c.want || got.WeChatMsgID != c.msgid {
			t.Fatalf("message %s: %+v %v, want %s with msgid %s", c.m.ID, got, err, c.want, c.msgid)
		}
	}
	// The failed delivery (user blocked) zeroed the balance, as a 43101 does.
	if r, _ := f.row(openid); r.Credits != 0 || r.Spent != 2 || r.Revoked != 1 || !r.Balanced() {
		t.Fatalf("row after the blocked delivery: %+v, want the last credit revoked", r)
	}
}

func TestSentEventsIgnoreSendsOutsideTheMatchWindow(t *testing.T) {
	f := newFixture(t)
	f.h.MatchWindow = time.Minute
	ctx := context.Background()
	const openid = "oOldSend000000000000"
	wantSuccess(t, f.post(f.signed(popup(openid, "accept"), wxpush.XML, true, f.now)))
	old := f.sendOne(openid, "mfaaaaaaaaaaaaaaaaaaaaaaaa", "", ledger.Sent)
	late := sentEvent(openid, "4000000000000000003", 0, "success")
	late.CreateTime = time.Now().Add(2 * time.Minute).Unix() // the message is older than the window
	f.postUntilApplied(late)
	if got, _ := f.st.Message(ctx, old.ID); got.Status != ledger.Sent {
		t.Fatalf("a message older than the window was settled by a later event: %+v", got)
	}
}
