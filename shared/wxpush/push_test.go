package wxpush_test

import (
	"bytes"
	"reflect"
	"strconv"
	"testing"

	"github.com/wxsub/wxsub/shared/wxpush"
)

func TestSignedQueryPlaintext(t *testing.T) {
	body, err := wxpush.EncodeEvent(popupEvent, wxpush.XML)
	if err != nil {
		t.Fatal(err)
	}
	q, out, err := wxpush.SignedQuery("AAAAA", body, false, nil, 1714036504, "1514711492")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, body) {
		t.Error("plaintext mode changed the body")
	}
	if got := q.Get("signature"); got != "f464b24fc39322e44b38aa78f5edd27bd1441696" {
		t.Errorf("signature = %s", got)
	}
	if q.Get("timestamp") != "1714036504" || q.Get("nonce") != "1514711492" {
		t.Errorf("query = %v", q)
	}
	if q.Has("encrypt_type") || q.Has("msg_signature") {
		t.Errorf("plaintext query has secure-mode parameters: %v", q)
	}
}

func TestSignedQuerySecure(t *testing.T) {
	c := newTestCipher(t)
	for _, f := range []wxpush.Format{wxpush.XML, wxpush.JSON} {
		body, err := wxpush.EncodeEvent(sentEvent, f)
		if err != nil {
			t.Fatal(err)
		}
		q, out, err := wxpush.SignedQuery("tok3n", body, true, c, 1700000000, "42")
		if err != nil {
			t.Fatal(err)
		}
		if q.Get("encrypt_type") != "aes" {
			t.Errorf("%s: encrypt_type = %q", f, q.Get("encrypt_type"))
		}
		if !wxpush.Verify(wxpush.Signature("tok3n", "1700000000", "42"), q.Get("signature")) {
			t.Errorf("%s: signature does not verify", f)
		}

		// What a receiver does: envelope, msg_signature, decrypt, parse.
		env, envF, err := wxpush.ParseEnvelope(out)
		if err != nil {
			t.Fatalf("%s: ParseEnvelope: %v\n%s", f, err, out)
		}
		if envF != f || env.ToUserName != sentEvent.ToUserName {
			t.Errorf("%s: envelope %+v in %s", f, env, envF)
		}
		if !wxpush.Verify(wxpush.MsgSignature("tok3n", q.Get("timestamp"), q.Get("nonce"), env.Encrypt), q.Get("msg_signature")) {
			t.Errorf("%s: msg_signature does not verify", f)
		}
		plain, err := c.Decrypt(env.Encrypt)
		if err != nil {
			t.Fatalf("%s: Decrypt: %v", f, err)
		}
		ev, _, err := wxpush.ParseEvent(plain)
		if err != nil || !reflect.DeepEqual(ev, sentEvent) {
			t.Errorf("%s: pushed event = %+v, %v", f, ev, err)
		}
	}
}

func TestSignedQueryRejects(t *testing.T) {
	body, _ := wxpush.EncodeEvent(changeEvent, wxpush.JSON)
	if _, _, err := wxpush.SignedQuery("t", body, true, nil, 1, "2"); err == nil {
		t.Error("secure mode without a Cipher succeeded")
	}
	if _, _, err := wxpush.SignedQuery("t", []byte("hello"), true, newTestCipher(t), 1, "2"); err == nil {
		t.Error("secure mode with a body that is neither XML nor JSON succeeded")
	}
}

func TestNewNonce(t *testing.T) {
	a, b := wxpush.NewNonce(), wxpush.NewNonce()
	if _, err := strconv.ParseUint(a, 10, 64); err != nil || len(a) > 10 {
		t.Errorf("nonce %q is not a decimal of at most 10 digits", a)
	}
	if a == b {
		t.Errorf("two nonces are both %q", a)
	}
}
