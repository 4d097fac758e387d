package wxpush_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/wxsub/wxsub/shared/wxpush"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/.

func FuzzDecrypt(f *testing.F) {
	c := newTestCipher(f)
	f.Fuzz(func(t *testing.T, b64 string) {
		msg, err := c.Decrypt(b64)
		if err != nil {
			if !errors.Is(err, wxpush.ErrFormat) && !errors.Is(err, wxpush.ErrPadding) && !errors.Is(err, wxpush.ErrAppID) {
				t.Fatalf("Decrypt error %v is none of ErrFormat, ErrPadding, ErrAppID", err)
			}
			return
		}
		enc, err := c.Encrypt(msg)
		if err != nil {
			t.Fatal(err)
		}
		again, err := c.Decrypt(enc)
		if err != nil || !bytes.Equal(again, msg) {
			t.Fatalf("re-encrypted message decrypts to %q, %v; want %q", again, err, msg)
		}
	})
}

func FuzzParseEvent(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, format, err := wxpush.ParseEvent(body)
		if err != nil {
			return
		}
		out, err := wxpush.EncodeEvent(ev, format)
		if err != nil {
			t.Fatalf("EncodeEvent of a parsed event: %v", err)
		}
		again, againFormat, err := wxpush.ParseEvent(out)
		if err != nil {
			t.Fatalf("ParseEvent(EncodeEvent(ev)): %v\n%s", err, out)
		}
		if againFormat != format || !reflect.DeepEqual(again, ev) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", ev, again)
		}
	})
}

func FuzzParseEnvelope(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		e, format, err := wxpush.ParseEnvelope(body)
		if err != nil {
			return
		}
		if e.Encrypt == "" {
			t.Fatal("ParseEnvelope accepted an envelope without Encrypt")
		}
		out, err := wxpush.EncodeEnvelope(e, format)
		if err != nil {
			t.Fatalf("EncodeEnvelope of a parsed envelope: %v", err)
		}
		again, againFormat, err := wxpush.ParseEnvelope(out)
		if err != nil || again != e || againFormat != format {
			t.Fatalf("round trip: %+v %s %v; want %+v %s", again, againFormat, err, e, format)
		}
	})
}
