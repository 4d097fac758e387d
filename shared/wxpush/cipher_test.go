package wxpush_test

import (
	"bytes"
	"crypto/aes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wxsub/wxsub/shared/wxpush"
)

// The key and appid of WeChat's published encryption sample.
const (
	testKey   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	testAppID = "wxb11529c136998cb6"
)

func newTestCipher(t testing.TB) *wxpush.Cipher {
	t.Helper()
	c, err := wxpush.NewCipher(testKey, testAppID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rawKey decodes testKey independently of the package.
func rawKey(t testing.TB) []byte {
	t.Helper()
	key, err := base64.RawStdEncoding.DecodeString(testKey)
	if err != nil || len(key) != 32 {
		t.Fatalf("test key: %d bytes, %v", len(key), err)
	}
	return key
}

// cbcEncrypt is AES-256-CBC written out block by block, with IV = key[:16],
// to check the package against an independent computation.
func cbcEncrypt(t testing.TB, plain []byte) []byte {
	t.Helper()
	key := rawKey(t)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain)%16 != 0 {
		t.Fatalf("plaintext of %d bytes is not block aligned", len(plain))
	}
	out := make([]byte, len(plain))
	prev := key[:16]
	for i := 0; i < len(plain); i += 16 {
		var x [16]byte
		for j := range x {
			x[j] = plain[i+j] ^ prev[j]
		}
		block.Encrypt(out[i:i+16], x[:])
		prev = out[i : i+16]
	}
	return out
}

// cbcDecrypt undoes cbcEncrypt.
func cbcDecrypt(t testing.TB, ct []byte) []byte {
	t.Helper()
	key := rawKey(t)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, len(ct))
	prev := key[:16]
	for i := 0; i < len(ct); i += 16 {
		block.Decrypt(out[i:i+16], ct[i:i+16])
		for j := 0; j < 16; j++ {
			out[i+j] ^= prev[j]
		}
		prev = ct[i : i+16]
	}
	return out
}

// layout builds random | len | msg | appid without padding.
func layout(random [16]byte, msg []byte, appid string) []byte {
	var b []byte
	b = append(b, random[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(msg)))
	b = append(b, msg...)
	return append(b, appid...)
}

func pkcs7(b []byte, size int) []byte {
	n := size - len(b)%size
	return append(b, bytes.Repeat([]byte{byte(n)}, n)...)
}

func TestEncryptKnownAnswer(t *testing.T) {
	c := newTestCipher(t)
	random := [16]byte{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p'}
	msg := []byte("<xml><ToUserName><![CDATA[gh_123456789abc]]></ToUserName></xml>")

	got, err := c.EncryptWithRandom(random, msg)
	if err != nil {
		t.Fatal(err)
	}
	want := base64.StdEncoding.EncodeToString(cbcEncrypt(t, pkcs7(layout(random, msg, testAppID), 32)))
	if got != want {
		t.Fatalf("EncryptWithRandom =\n%s\nwant\n%s", got, want)
	}
	plain, err := c.Decrypt(got)
	if err != nil || !bytes.Equal(plain, msg) {
		t.Fatalf("Decrypt = %q, %v; want the message back", plain, err)
	}
}

func TestEncryptDecryptRoundTrip(t *testing.T) {
	c := newTestCipher(t)
	sawFullPad := false
	for n := 0; n <= 100; n++ {
		msg := bytes.Repeat([]byte{byte('A' + n%26)}, n)
		enc, err := c.Encrypt(msg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Decrypt(enc)
		if err != nil {
			t.Fatalf("len %d: Decrypt: %v", n, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("len %d: Decrypt = %q, want %q", n, got, msg)
		}

		// The padding goes to a multiple of 32 bytes, a full block when the
		// layout is already aligned.
		ct, _ := base64.StdEncoding.DecodeString(enc)
		body := 16 + 4 + n + len(testAppID)
		pad := 32 - body%32
		if len(ct) != body+pad {
			t.Fatalf("len %d: ciphertext is %d bytes, want %d", n, len(ct), body+pad)
		}
		plain := cbcDecrypt(t, ct)
		if !bytes.Equal(plain[body:], bytes.Repeat([]byte{byte(pad)}, pad)) {
			t.Fatalf("len %d: padding is %v, want %d bytes of %d", n, plain[body:], pad, pad)
		}
		if pad == 32 {
			sawFullPad = true
		}
	}
	if !sawFullPad {
		t.Error("no length produced a full 32-byte padding block")
	}
}

func TestEncryptUsesFreshRandom(t *testing.T) {
	c := newTestCipher(t)
	a, _ := c.Encrypt([]byte("same"))
	b, _ := c.Encrypt([]byte("same"))
	if a == b {
		t.Error("two encryptions of the same message are identical")
	}
}

func TestDecryptWrongAppID(t *testing.T) {
	other, err := wxpush.NewCipher(testKey, "wx0000000000000000")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := other.Encrypt([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newTestCipher(t).Decrypt(enc); !errors.Is(err, wxpush.ErrAppID) {
		t.Fatalf("Decrypt = %v, want ErrAppID", err)
	}
}

func TestDecryptWrongKey(t *testing.T) {
	other, err := wxpush.NewCipher("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg", testAppID)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := other.Encrypt([]byte("hello"))
	if _, err := newTestCipher(t).Decrypt(enc); err == nil {
		t.Fatal("Decrypt of a message under another key succeeded")
	}
}

func TestDecryptRejects(t *testing.T) {
	c := newTestCipher(t)
	var random [16]byte
	good := layout(random, []byte("hello"), testAppID)
	valid, _ := c.EncryptWithRandom(random, []byte("hello"))
	validCT, _ := base64.StdEncoding.DecodeString(valid)
	seal := func(plain []byte) string { return base64.StdEncoding.EncodeToString(cbcEncrypt(t, plain)) }
	// lastByte pads good correctly, then sets the final byte to b.
	lastByte := func(b byte) []byte {
		p := pkcs7(bytes.Clone(good), 32)
		p[len(p)-1] = b
		return p
	}

	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", wxpush.ErrFormat},
		{"broken base64", "not*base64!", wxpush.ErrFormat},
		{"base64 of a non block multiple", base64.StdEncoding.EncodeToString(validCT[:len(validCT)-1]), wxpush.ErrFormat},
		{"truncated base64", valid[:len(valid)-3], wxpush.ErrFormat},
		{"padding byte 0", seal(lastByte(0)), wxpush.ErrPadding},
		{"padding byte 33", seal(lastByte(33)), wxpush.ErrPadding},
		{"padding longer than the data", seal(bytes.Repeat([]byte{32}, 16)), wxpush.ErrPadding},
		{"padding bytes differ", seal(mixedPad(good)), wxpush.ErrPadding},
		{"length beyond the data", seal(pkcs7(lengthField(good, 1000), 32)), wxpush.ErrFormat},
		{"shorter than the header", seal(pkcs7(random[:10], 32)), wxpush.ErrFormat},
		{"appid cut off", seal(pkcs7(good[:len(good)-2], 32)), wxpush.ErrAppID},
		{"appid with extra bytes", seal(pkcs7(append(bytes.Clone(good), 'x'), 32)), wxpush.ErrAppID},
	}
	for _, tt := range tests {
		_, err := c.Decrypt(tt.in)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: Decrypt error = %v, want %v", tt.name, err, tt.want)
		}
	}

	// A ciphertext cut by whole blocks decrypts to garbage: any error will do.
	if _, err := c.Decrypt(base64.StdEncoding.EncodeToString(validCT[:len(validCT)-16])); err == nil {
		t.Error("Decrypt of a ciphertext missing its last block succeeded")
	}
}

// mixedPad pads b correctly and then spoils the first padding byte.
func mixedPad(b []byte) []byte {
	p := pkcs7(bytes.Clone(b), 32)
	n := int(p[len(p)-1])
	if n < 2 {
		p = pkcs7(append(bytes.Clone(b), 0), 32)
		n = int(p[len(p)-1])
	}
	p[len(p)-n]++
	return p
}

// lengthField returns b with its message length field set to n.
func lengthField(b []byte, n uint32) []byte {
	b = bytes.Clone(b)
	binary.BigEndian.PutUint32(b[16:20], n)
	return b
}

func TestNewCipherRejects(t *testing.T) {
	tests := []struct {
		name, key, appid, want string
	}{
		{"short key", testKey[:42], testAppID, "must be 43 characters, got 42"},
		{"long key", testKey + "H", testAppID, "must be 43 characters, got 44"},
		{"not base64", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF-", testAppID, "not base64"},
		{"no appid", testKey, "", "appid is empty"},
	}
	for _, tt := range tests {
		_, err := wxpush.NewCipher(tt.key, tt.appid)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: NewCipher error = %v, want one containing %q", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), tt.key[:20]) {
			t.Errorf("%s: error %q reveals the key", tt.name, err)
		}
	}
}

func TestCipherFormattingHidesKey(t *testing.T) {
	c := newTestCipher(t)
	key := string(rawKey(t))
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, c)
		if strings.Contains(out, key[:16]) || strings.Contains(out, testKey) || !strings.Contains(out, testAppID) {
			t.Errorf("fmt %s of a Cipher = %q", verb, out)
		}
	}
}

func TestGenerateEncodingAESKey(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		k, err := wxpush.GenerateEncodingAESKey()
		if err != nil {
			t.Fatal(err)
		}
		if len(k) != 43 || strings.TrimLeft(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
			t.Fatalf("key %q is not 43 letters and digits", k)
		}
		if seen[k] {
			t.Fatalf("key %q generated twice", k)
		}
		seen[k] = true
		c, err := wxpush.NewCipher(k, testAppID)
		if err != nil {
			t.Fatalf("NewCipher(generated key): %v", err)
		}
		enc, _ := c.Encrypt([]byte("x"))
		if got, err := c.Decrypt(enc); err != nil || string(got) != "x" {
			t.Fatalf("round trip under a generated key: %q, %v", got, err)
		}
	}
}
