// Package sessiontoken issues and verifies the session tokens that
// mini-program clients present to wxsub's client routes: a JWT signed with
// HMAC-SHA256 that binds one appid and one openid until it expires. WeChat's
// session_key is never part of it.
package sessiontoken

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const issuer = "wxsub"

// MinKeyLen is the shortest signing key accepted, in bytes.
const MinKeyLen = 32

// Session is what a valid token says.
type Session struct {
	AppID     string
	OpenID    string
	ExpiresAt time.Time
}

// Signer issues and verifies session tokens.
type Signer struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// LogValue gives log/slog the signer's token lifetime, never its key.
func (s *Signer) LogValue() slog.Value {
	return slog.GroupValue(slog.Duration("ttl", s.ttl))
}

// NewSigner returns a Signer; key must be at least MinKeyLen bytes.
func NewSigner(key []byte, ttl time.Duration) (*Signer, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("sessiontoken: signing key is %d bytes, need at least %d", len(key), MinKeyLen)
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("sessiontoken: lifetime must be positive, got %s", ttl)
	}
	return &Signer{key: key, ttl: ttl, now: time.Now}, nil
}

// WithClock returns a copy of s that reads time from now (for tests).
func (s *Signer) WithClock(now func() time.Time) *Signer {
	c := *s
	c.now = now
	return &c
}

type claims struct {
	jwt.RegisteredClaims
}

// Issue signs a token for appid and openid.
func (s *Signer) Issue(appid, openid string) (string, Session, error) {
	now := s.now()
	exp := now.Add(s.ttl).Truncate(time.Second)
	c := claims{jwt.RegisteredClaims{
		Issuer:    issuer,
		Subject:   openid,
		Audience:  jwt.ClaimStrings{appid},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
	}}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.key)
	if err != nil {
		return "", Session{}, fmt.Errorf("sessiontoken: sign: %w", err)
	}
	return tok, Session{AppID: appid, OpenID: openid, ExpiresAt: exp}, nil
}

// Errors of Verify.
var (
	ErrExpired = errors.New("sessiontoken: expired")
	ErrInvalid = errors.New("sessiontoken: invalid")
)

// Verify checks a token's signature, issuer, audience (appid) and expiry.
func (s *Signer) Verify(token, appid string) (Session, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(appid),
		jwt.WithExpirationRequired(),
		jwt.WithStrictDecoding(), // one token, one spelling: no lenient base64
		jwt.WithTimeFunc(s.now),
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Session{}, ErrExpired
		}
		return Session{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if c.Subject == "" {
		return Session{}, fmt.Errorf("%w: no openid", ErrInvalid)
	}
	return Session{AppID: appid, OpenID: c.Subject, ExpiresAt: c.ExpiresAt.Time}, nil
}
