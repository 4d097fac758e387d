package sessiontoken_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wxsub/wxsub/shared/sessiontoken"
)

// The seeds in testdata/fuzz/FuzzVerify/ were made with this key and clock:
// tokens the signer issued for two apps, and forgeries of them (alg none,
// another key, another algorithm, expired, altered claims or signature).
var (
	fuzzKey      = []byte("wxsub-fuzz-signing-key-0123456789abcdef")
	fuzzAppIDs   = []string{"wx00000000000000f0", "wx00000000000000f1"}
	fuzzIssuedAt = time.Date(2025, 1, 1, 8, 0, 0, 0, time.UTC)
	fuzzOpenIDs  = []string{"oFuzzUser0000000000000000001", "oFuzzUser0000000000000000002"}
)

// FuzzVerify: Verify accepts a string for an app only if it is a token the
// signer issued for that app (its header and claims byte for byte, its
// signature the same bytes) and says who it names; anything else is ErrInvalid or ErrExpired,
// and no error repeats the signing key.
func FuzzVerify(f *testing.F) {
	signer, err := sessiontoken.NewSigner(fuzzKey, 7*24*time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	type issuedToken struct {
		sig  []byte
		sess sessiontoken.Session
	}
	issued := map[string]issuedToken{}
	at := signer.WithClock(func() time.Time { return fuzzIssuedAt })
	for _, appid := range fuzzAppIDs {
		for _, openid := range fuzzOpenIDs {
			tok, sess, err := at.Issue(appid, openid)
			if err != nil {
				f.Fatal(err)
			}
			i := strings.LastIndexByte(tok, '.')
			sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
			issued[tok[:i]] = issuedToken{sig, sess}
			f.Add(tok)
		}
	}
	verifier := signer.WithClock(func() time.Time { return fuzzIssuedAt.Add(time.Hour) })
	f.Fuzz(func(t *testing.T, tok string) {
		for _, appid := range fuzzAppIDs {
			sess, err := verifier.Verify(tok, appid)
			if err != nil {
				if !errors.Is(err, sessiontoken.ErrInvalid) && !errors.Is(err, sessiontoken.ErrExpired) {
					t.Fatalf("Verify error %v is neither ErrInvalid nor ErrExpired", err)
				}
				if bytes.Contains([]byte(err.Error()), fuzzKey) {
					t.Fatal("an error repeats the signing key")
				}
				continue
			}
			i := strings.LastIndexByte(tok, '.')
			want, ok := issued[tok[:max(i, 0)]]
			if !ok {
				t.Fatalf("accepted a token it did not issue: %q", tok)
			}
			if want.sess.AppID != appid {
				t.Fatalf("accepted for app %s a token issued for %s: %q", appid, want.sess.AppID, tok)
			}
			sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
			if err != nil || !bytes.Equal(sig, want.sig) {
				t.Fatalf("accepted another signature: %q", tok)
			}
			if sess.AppID != want.sess.AppID || sess.OpenID != want.sess.OpenID || !sess.ExpiresAt.Equal(want.sess.ExpiresAt) {
				t.Fatalf("Verify says %+v; the token was issued as %+v", sess, want.sess)
			}
		}
	})
}
