package wxpush

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"slices"
	"strings"
)

// Signature returns the signature WeChat puts in the "signature" query
// parameter of a push and of the URL verification: the hex SHA-1 of token,
// timestamp and nonce, sorted and concatenated.
func Signature(token, timestamp, nonce string) string {
	return sortedSHA1(token, timestamp, nonce)
}

// MsgSignature returns the "msg_signature" of a secure-mode push: the hex SHA-1
// of token, timestamp, nonce and the Encrypt field, sorted and concatenated.
func MsgSignature(token, timestamp, nonce, encrypt string) string {
	return sortedSHA1(token, timestamp, nonce, encrypt)
}

// Verify reports whether the signature got from a request equals the expected
// one, in time that does not depend on where they differ. An empty signature
// never verifies.
func Verify(expected, got string) bool {
	if expected == "" || got == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(expected), []byte(got)) == 1
}

func sortedSHA1(parts ...string) string {
	slices.Sort(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}
