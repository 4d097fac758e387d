package wechatsim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	mrand "math/rand/v2"
)

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomHex returns 2n random hex digits.
func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

// randomBytes returns n bytes from crypto/rand, which never fails.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// randomURLSafe returns n unguessable characters of the URL-safe base64
// alphabet.
func randomURLSafe(n int) string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(n))[:n]
}

// randomAlnum returns n unguessable letters and digits.
func randomAlnum(n int) string {
	out := make([]byte, 0, n)
	for len(out) < n {
		for _, b := range randomBytes(n) {
			// 248 = 4×62: skipping larger bytes keeps the draw uniform.
			if b < 248 && len(out) < n {
				out = append(out, alnum[int(b)%len(alnum)])
			}
		}
	}
	return string(out)
}

// firstMsgID returns where a Sim starts numbering msgids: a random
// 19-digit number like the msgids WeChat returns.
func firstMsgID() int64 {
	return 2_000_000_000_000_000_000 + mrand.Int64N(1_000_000_000_000_000)
}
