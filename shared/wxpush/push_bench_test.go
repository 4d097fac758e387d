package wxpush_test

import (
	"testing"

	"github.com/wxsub/wxsub/shared/wxpush"
)

// BenchmarkDecryptAndParse is what the push route does with a secure-mode
// push before it touches the ledger: parse the envelope, check
// msg_signature, decrypt (with the appid check) and parse the event.
func BenchmarkDecryptAndParse(b *testing.B) {
	const (
		appid = "wx4f7c2a9e1b3d5f60"
		token = "pushTokenForBenchmarks1234567890"
		nonce = "1514711492"
	)
	key, err := wxpush.GenerateEncodingAESKey()
	if err != nil {
		b.Fatal(err)
	}
	c, err := wxpush.NewCipher(key, appid)
	if err != nil {
		b.Fatal(err)
	}
	ev := wxpush.Event{
		ToUserName: "gh_0123456789ab", FromUserName: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", CreateTime: 1716012962,
		MsgType: "event", Event: wxpush.EventPopup,
		Items: []wxpush.Item{
			{TemplateID: "RaAXmaHZ6OFYKcCbG9rsyEpBqsERIZsLLga8-KL5xqI", Status: "accept"},
			{TemplateID: "nSWNoq_mrqwk4Up-1XPfuiDm6x3KR-Jts6fVHAmLTkI", Status: "reject"},
		},
	}
	for _, f := range []wxpush.Format{wxpush.XML, wxpush.JSON} {
		b.Run(string(f), func(b *testing.B) {
			plain, err := wxpush.EncodeEvent(ev, f)
			if err != nil {
				b.Fatal(err)
			}
			q, body, err := wxpush.SignedQuery(token, plain, true, c, 1716012962, nonce)
			if err != nil {
				b.Fatal(err)
			}
			ts, msgSig := q.Get("timestamp"), q.Get("msg_signature")
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				env, _, err := wxpush.ParseEnvelope(body)
				if err != nil {
					b.Fatal(err)
				}
				if !wxpush.Verify(wxpush.MsgSignature(token, ts, nonce, env.Encrypt), msgSig) {
					b.Fatal("msg_signature does not verify")
				}
				msg, err := c.Decrypt(env.Encrypt)
				if err != nil {
					b.Fatal(err)
				}
				got, _, err := wxpush.ParseEvent(msg)
				if err != nil || len(got.Items) != 2 {
					b.Fatalf("parse: %v, %d items", err, len(got.Items))
				}
			}
		})
	}
}
