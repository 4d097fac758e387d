package wxpush_test

import (
	"strings"
	"testing"

	"github.com/wxsub/wxsub/shared/wxpush"
)

func TestParseEnvelope(t *testing.T) {
	want := wxpush.Envelope{ToUserName: "gh_123456789abc", Encrypt: "q0Zf3ZwH+/kc8GnPOH9nQw=="}
	tests := []struct {
		name   string
		body   string
		format wxpush.Format
	}{
		{"XML with CDATA", "<xml>\n<ToUserName><![CDATA[gh_123456789abc]]></ToUserName>\n<Encrypt><![CDATA[q0Zf3ZwH+/kc8GnPOH9nQw==]]></Encrypt>\n</xml>", wxpush.XML},
		{"XML plain text, declaration, comment after", `<?xml version="1.0" encoding="UTF-8"?><xml><ToUserName>gh_123456789abc</ToUserName><Encrypt>q0Zf3ZwH+/kc8GnPOH9nQw==</Encrypt></xml><!-- end -->`, wxpush.XML},
		{"JSON", `{"ToUserName":"gh_123456789abc","Encrypt":"q0Zf3ZwH+/kc8GnPOH9nQw=="}`, wxpush.JSON},
		{"JSON with escaped slash and leading space", ` {"ToUserName":"gh_123456789abc","Encrypt":"q0Zf3ZwH+\/kc8GnPOH9nQw=="}`, wxpush.JSON},
	}
	for _, tt := range tests {
		got, f, err := wxpush.ParseEnvelope([]byte(tt.body))
		if err != nil {
			t.Errorf("%s: ParseEnvelope: %v", tt.name, err)
			continue
		}
		if got != want || f != tt.format {
			t.Errorf("%s: ParseEnvelope = %+v, %s; want %+v, %s", tt.name, got, f, want, tt.format)
		}
	}
}

func TestParseEnvelopeRejects(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"empty", "", "empty body"},
		{"garbage", "Encrypt=abc", "neither XML nor"},
		{"XML without Encrypt", "<xml><ToUserName>gh_1</ToUserName></xml>", "no Encrypt"},
		{"XML with blank Encrypt", "<xml><Encrypt>  </Encrypt></xml>", "no Encrypt"},
		{"JSON without Encrypt", `{"ToUserName":"gh_1"}`, "no Encrypt"},
		{"JSON Encrypt not a string", `{"Encrypt":5}`, "decode JSON"},
		{"XML other root", "<root><Encrypt>abc</Encrypt></root>", "want <xml>"},
		{"XML unclosed", "<xml><Encrypt>abc</Encrypt>", "decode XML"},
		{"XML followed by another document", "<xml><Encrypt>abc</Encrypt></xml><xml><Encrypt>def</Encrypt></xml>", "more than one root"},
	}
	for _, tt := range tests {
		_, _, err := wxpush.ParseEnvelope([]byte(tt.body))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ParseEnvelope error = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestEncodeEnvelope(t *testing.T) {
	e := wxpush.Envelope{ToUserName: "gh_123456789abc", Encrypt: "q0Zf3ZwH+/kc8GnPOH9nQw=="}
	tests := []struct {
		format wxpush.Format
		want   string
	}{
		{wxpush.XML, "<xml><ToUserName><![CDATA[gh_123456789abc]]></ToUserName><Encrypt><![CDATA[q0Zf3ZwH+/kc8GnPOH9nQw==]]></Encrypt></xml>"},
		{wxpush.JSON, `{"ToUserName":"gh_123456789abc","Encrypt":"q0Zf3ZwH+/kc8GnPOH9nQw=="}`},
	}
	for _, tt := range tests {
		b, err := wxpush.EncodeEnvelope(e, tt.format)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tt.want {
			t.Errorf("EncodeEnvelope(%s) = %s, want %s", tt.format, b, tt.want)
		}
		got, f, err := wxpush.ParseEnvelope(b)
		if err != nil || got != e || f != tt.format {
			t.Errorf("ParseEnvelope(EncodeEnvelope(%s)) = %+v, %s, %v", tt.format, got, f, err)
		}
	}
	if _, err := wxpush.EncodeEnvelope(e, "form"); err == nil {
		t.Error("EncodeEnvelope accepted an unknown format")
	}
}
