package jssdk

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wxsub/wxsub/shared/httpapi"
)

// WeChat's worked example (JS-SDK documentation, appendix 1). The current
// page carries the query "?params=value"; older copies of the page show the
// same ticket, nonce and timestamp over the bare URL.
func TestSignatureMatchesWeChatsPublishedExample(t *testing.T) {
	const ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
	for page, want := range map[string]string{
		"http://mp.weixin.qq.com?params=value":          "0f9de62fce790f9a083d5c99e95740ceb90c27ed",
		"http://mp.weixin.qq.com":                       "f4d90daf4b3bca3078ab155816175ba34c443a7b",
		"http://mp.weixin.qq.com?params=value#anything": "0f9de62fce790f9a083d5c99e95740ceb90c27ed", // the fragment is not signed
	} {
		if got := Signature(ticket, "Wm3WZYTPz0wzccnW", 1414587457, page); got != want {
			t.Errorf("%s: signature %s, want %s", page, got, want)
		}
	}
}

func TestNonceNamesItsTicketVersion(t *testing.T) {
	for _, v := range []int64{1, 42, 1 << 40} {
		n := nonce(v)
		if got, ok := versionOf(n); !ok || got != v || len(n) > 32 {
			t.Errorf("nonce(%d) = %q reads back as %d %v", v, n, got, ok)
		}
	}
	if n1, n2 := nonce(1), nonce(1); n1 == n2 {
		t.Error("two nonces are equal")
	}
	for _, bad := range []string{"", "v1n", "x1nABCDEFGHIJKL", "v1nABCDEFGHIJK!", "v99999999999999999999nABCDEFGHIJKL"} {
		if _, ok := versionOf(bad); ok {
			t.Errorf("versionOf(%q) accepted", bad)
		}
	}
}

func TestPageURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://shop.example.com/sub?from=menu&x=%E4%B8%AD#top": "https://shop.example.com/sub?from=menu&x=%E4%B8%AD",
		"http://127.0.0.1:3000/web/demo/?code=abc&state=s":       "http://127.0.0.1:3000/web/demo/?code=abc&state=s",
	} {
		got, err := pageURL(raw)
		if err != nil || got != want {
			t.Errorf("pageURL(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{"", "/relative/page", "javascript:alert(1)", "ftp://example.com/", "https://", "https://a.example/ b",
		"https://a.example/" + strings.Repeat("x", MaxURL)} {
		_, err := pageURL(raw)
		var he *httpapi.Error
		if err == nil || !asHTTP(err, &he) || he.Status != http.StatusBadRequest || he.Code != "invalid_url" {
			t.Errorf("pageURL(%.60q) = %v, want 400 invalid_url", raw, err)
		}
	}
}

func asHTTP(err error, he **httpapi.Error) bool {
	e, ok := err.(*httpapi.Error)
	*he = e
	return ok
}
