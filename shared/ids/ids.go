// Package ids makes the ids of wxsub's records: one letter naming the kind of
// record, then 25 characters of lower-case base32, so that ids are URL-safe,
// fixed in length and easy to check before any lookup.
package ids

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// Len is the length of every id.
const Len = 26

var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Random returns a new random id of the kind (125 random bits).
func Random(kind byte) string {
	var b [16]byte
	rand.Read(b[:])
	return string(kind) + encoding.EncodeToString(b[:])[:Len-1]
}

// Derived returns the id of the kind that parts always map to (a SHA-256 of
// the parts, each ended by a NUL byte), so that repeats find the same record.
func Derived(kind byte, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return string(kind) + encoding.EncodeToString(h.Sum(nil))[:Len-1]
}

// Valid reports whether id has the shape of an id of one of kinds.
func Valid(id string, kinds string) bool {
	if len(id) != Len || strings.IndexByte(kinds, id[0]) < 0 {
		return false
	}
	for i := 1; i < len(id); i++ {
		if c := id[i]; !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}
