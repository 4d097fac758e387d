package pushevents_test

import (
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/wxsub/wxsub/shared/httpapi"
	"github.com/wxsub/wxsub/shared/pushevents"
	"github.com/wxsub/wxsub/shared/wxpush"
)

// fuzzKey is the EncodingAESKey the seeds in testdata/fuzz/FuzzPush were encrypted with.
const fuzzKey = "kJ7sQ2pX9vR4mN8tL3wY6zB1cF5hD0gA2eK7uP4iS9o"

// FuzzPush drives the whole decoding path of a push (signature, timestamp,
// decryption with the appid check, parsing) with signatures that hold, so
// that the fuzzed bytes reach every stage:
//
//	mode 0: body is a plaintext push, signed with signature;
//	mode 1: body is a secure-mode envelope, signed with msg_signature over its Encrypt;
//	mode 2: encrypt is the Encrypt field of an envelope, signed;
//	mode 3: body is the plaintext of a secure-mode push, encrypted with the app's key.
//
// Decode must refuse with a 4xx of the contract or return an event that
// wxpush parses the same way from the same plaintext.
func FuzzPush(f *testing.F) {
	c, err := wxpush.NewCipher(fuzzKey, appid)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1716012963, 0)
	h := &pushevents.Handler{AppID: appid, Token: token, Cipher: c, AcceptPlaintext: true, Now: func() time.Time { return now }}
	ts := strconv.FormatInt(now.Unix(), 10)
	const nonce = "1391852407"
	f.Fuzz(func(t *testing.T, body []byte, encrypt string, mode uint8) {
		q := map[string]string{"timestamp": ts, "nonce": nonce, "signature": wxpush.Signature(token, ts, nonce)}
		plain := body
		switch mode % 4 {
		case 1:
			if env, _, err := wxpush.ParseEnvelope(body); err == nil {
				q["msg_signature"] = wxpush.MsgSignature(token, ts, nonce, env.Encrypt)
			}
			q["encrypt_type"] = "aes"
			plain = nil
		case 2:
			env, err := wxpush.EncodeEnvelope(wxpush.Envelope{ToUserName: "gh_1", Encrypt: encrypt}, wxpush.XML)
			if err != nil {
				return // not representable in XML
			}
			body = env
			q["encrypt_type"] = "aes"
			q["msg_signature"] = wxpush.MsgSignature(token, ts, nonce, encrypt)
			plain = nil
		case 3:
			enc, err := c.Encrypt(body)
			if err != nil {
				t.Fatal(err)
			}
			env, err := wxpush.EncodeEnvelope(wxpush.Envelope{ToUserName: "gh_1", Encrypt: enc}, wxpush.JSON)
			if err != nil {
				t.Fatal(err)
			}
			body = env
			q["encrypt_type"] = "aes"
			q["msg_signature"] = wxpush.MsgSignature(token, ts, nonce, enc)
		}
		p, err := h.Decode(q, body)
		if err != nil {
			var herr *httpapi.Error
			if !errors.As(err, &herr) || herr.Status < 400 || herr.Status > 499 || herr.Code == "" {
				t.Fatalf("Decode failed with %v, not a 4xx answer", err)
			}
			return
		}
		if p.Nonce != nonce || p.Secure != (q["encrypt_type"] == "aes") {
			t.Fatalf("Decode returned %+v for query %v", p, q)
		}
		if plain != nil {
			ev, _, err := wxpush.ParseEvent(plain)
			if err != nil || !reflect.DeepEqual(ev, p.Event) {
				t.Fatalf("Decode's event %+v differs from ParseEvent's %+v (%v)", p.Event, ev, err)
			}
		}
		switch p.Event.Event {
		case wxpush.EventPopup, wxpush.EventChange, wxpush.EventSent:
			if !httpapi.ValidOpenID(p.Event.FromUserName) || len(p.Event.Items) == 0 {
				t.Fatalf("a subscription event passed without an openid or items: %+v", p.Event)
			}
			for _, it := range p.Event.Items {
				if !httpapi.ValidTemplateID(it.TemplateID) {
					t.Fatalf("a subscription event passed with template id %q", it.TemplateID)
				}
			}
			if d := pushevents.Digest(p.Event, p.Event.Items[0]); len(d) != 32 {
				t.Fatalf("digest %q", d)
			}
		}
	})
}
