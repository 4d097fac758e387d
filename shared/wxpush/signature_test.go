package wxpush_test

import (
	"testing"

	"github.com/wxsub/wxsub/shared/wxpush"
)

func TestSignatureDocumentedExample(t *testing.T) {
	// The example from WeChat's push documentation.
	got := wxpush.Signature("AAAAA", "1714036504", "1514711492")
	if want := "f464b24fc39322e44b38aa78f5edd27bd1441696"; got != want {
		t.Fatalf("Signature = %s, want %s", got, want)
	}
}

func TestMsgSignature(t *testing.T) {
	// Expected values computed with: printf '%s' <sorted parts> | sha1sum
	tests := []struct{ encrypt, want string }{
		{"ZZZenc", "af88d268a992efb209cc2f258d0c4abbfe446035"}, // sorts last
		{"0ZZenc", "a33b9e50860be0df723ade1f2f281ac09b6e97f0"}, // sorts first
	}
	for _, tt := range tests {
		if got := wxpush.MsgSignature("AAAAA", "1714036504", "1514711492", tt.encrypt); got != tt.want {
			t.Errorf("MsgSignature(..., %q) = %s, want %s", tt.encrypt, got, tt.want)
		}
	}
	if wxpush.MsgSignature("AAAAA", "1714036504", "1514711492", "ZZZenc") == wxpush.Signature("AAAAA", "1714036504", "1514711492") {
		t.Error("msg_signature does not depend on Encrypt")
	}
}

func TestVerify(t *testing.T) {
	sig := wxpush.Signature("AAAAA", "1714036504", "1514711492")
	tests := []struct {
		name          string
		expected, got string
		want          bool
	}{
		{"same", sig, sig, true},
		{"one character changed", sig, sig[:39] + "7", false},
		{"upper case", sig, "F464B24FC39322E44B38AA78F5EDD27BD1441696", false},
		{"prefix", sig, sig[:20], false},
		{"missing", sig, "", false},
		{"both empty", "", "", false},
	}
	for _, tt := range tests {
		if got := wxpush.Verify(tt.expected, tt.got); got != tt.want {
			t.Errorf("%s: Verify = %v, want %v", tt.name, got, tt.want)
		}
	}
}
