package sessiontoken

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func TestIssueAndVerify(t *testing.T) {
	s, err := NewSigner(key, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tok, sess, err := s.Issue("wx1", "oUser1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Verify(tok, "wx1")
	if err != nil || got.OpenID != "oUser1" || got.AppID != "wx1" || !got.ExpiresAt.Equal(sess.ExpiresAt) {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	now := time.Now()
	s, _ := NewSigner(key, time.Hour)
	s = s.WithClock(func() time.Time { return now })
	tok, _, _ := s.Issue("wx1", "oUser1")

	later := s.WithClock(func() time.Time { return now.Add(2 * time.Hour) })
	if _, err := later.Verify(tok, "wx1"); !errors.Is(err, ErrExpired) {
		t.Errorf("expired token: %v", err)
	}
	if _, err := s.Verify(tok, "wx2"); !errors.Is(err, ErrInvalid) {
		t.Errorf("token of another app: %v", err)
	}
	other, _ := NewSigner([]byte("another-key-another-key-another-k"), time.Hour)
	if _, err := other.Verify(tok, "wx1"); !errors.Is(err, ErrInvalid) {
		t.Errorf("token signed with another key: %v", err)
	}
	parts := strings.Split(tok, ".")
	if _, err := s.Verify(parts[0]+"."+parts[1]+".", "wx1"); !errors.Is(err, ErrInvalid) {
		t.Errorf("unsigned token: %v", err)
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.RegisteredClaims{Issuer: "wxsub", Subject: "oX", Audience: jwt.ClaimStrings{"wx1"},
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if _, err := s.Verify(none, "wx1"); !errors.Is(err, ErrInvalid) {
		t.Errorf("alg=none token: %v", err)
	}
	if _, err := s.Verify("garbage", "wx1"); !errors.Is(err, ErrInvalid) {
		t.Errorf("garbage: %v", err)
	}
}

func TestNewSignerRejectsShortKeys(t *testing.T) {
	if _, err := NewSigner([]byte("short"), time.Hour); err == nil {
		t.Fatal("a 5-byte key was accepted")
	}
	if _, err := NewSigner(key, 0); err == nil {
		t.Fatal("a zero lifetime was accepted")
	}
}

func TestVerifyRefusesAnotherSpellingOfTheSignature(t *testing.T) {
	s, _ := NewSigner(key, time.Hour)
	tok, _, _ := s.Issue("wx1", "oUser1")
	// The last character of a 32-byte base64url signature carries 2 unused
	// bits; flipping the lowest one spells the same bytes differently.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, tok[len(tok)-1])
	other := tok[:len(tok)-1] + string(alphabet[last^1])
	if _, err := s.Verify(other, "wx1"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a respelled signature was accepted: %v", err)
	}
}
