package wxpush

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
)

// EncodingAESKeyLen is the length of a WeChat EncodingAESKey in characters.
const EncodingAESKeyLen = 43

// blockLen is the PKCS#7 block size WeChat pads to: 32 bytes, not the AES
// block size.
const blockLen = 32

// Errors returned (wrapped) by Cipher.Decrypt; test them with errors.Is.
var (
	// ErrAppID means the message decrypted but names another appid.
	ErrAppID = errors.New("wxpush: appid in message does not match")
	// ErrPadding means the PKCS#7 padding of the plaintext is invalid.
	ErrPadding = errors.New("wxpush: invalid padding")
	// ErrFormat means the ciphertext or its plaintext layout is malformed.
	ErrFormat = errors.New("wxpush: malformed encrypted message")
)

// A Cipher encrypts and decrypts secure-mode push messages for one appid.
// It is safe for concurrent use.
type Cipher struct {
	block cipher.Block
	iv    []byte
	appid string
}

// LogValue gives log/slog the cipher's appid, never its key (nor its IV,
// which is the first 16 bytes of the key).
func (c *Cipher) LogValue() slog.Value {
	return slog.GroupValue(slog.String("appid", c.appid))
}

// NewCipher returns a Cipher for the 43-character EncodingAESKey configured
// in the push settings and the appid expected at the end of every message.
func NewCipher(encodingAESKey, appid string) (*Cipher, error) {
	if len(encodingAESKey) != EncodingAESKeyLen {
		return nil, fmt.Errorf("wxpush: EncodingAESKey must be %d characters, got %d", EncodingAESKeyLen, len(encodingAESKey))
	}
	if appid == "" {
		return nil, errors.New("wxpush: appid is empty")
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil {
		// The base64 error names only an offset, never the key itself.
		return nil, fmt.Errorf("wxpush: EncodingAESKey is not base64: %w", err)
	}
	block, err := aes.NewCipher(key) // 32 bytes: AES-256
	if err != nil {
		return nil, fmt.Errorf("wxpush: EncodingAESKey: %w", err)
	}
	return &Cipher{block: block, iv: key[:aes.BlockSize], appid: appid}, nil
}

// AppID returns the appid the Cipher writes and expects.
func (c *Cipher) AppID() string { return c.appid }

// String describes the Cipher without revealing its key.
func (c *Cipher) String() string { return "wxpush.Cipher(" + c.appid + ")" }

// GoString is String, so that %#v does not print the key either.
func (c *Cipher) GoString() string { return c.String() }

// Encrypt encrypts msg the way WeChat does, with 16 fresh random bytes in
// front, and returns the base64 text for the Encrypt field.
func (c *Cipher) Encrypt(msg []byte) (string, error) {
	var random [16]byte
	if _, err := rand.Read(random[:]); err != nil {
		return "", fmt.Errorf("wxpush: random prefix: %w", err)
	}
	return c.EncryptWithRandom(random, msg)
}

// EncryptWithRandom is Encrypt with a given random prefix, for reproducible
// output. The plaintext is random | len(msg) as 4 big-endian bytes | msg |
// appid, PKCS#7-padded to a multiple of 32 bytes and encrypted with
// AES-256-CBC using the first 16 key bytes as IV.
func (c *Cipher) EncryptWithRandom(random [16]byte, msg []byte) (string, error) {
	if uint64(len(msg)) > math.MaxUint32 {
		return "", fmt.Errorf("wxpush: message of %d bytes is too long", len(msg))
	}
	n := len(random) + 4 + len(msg) + len(c.appid)
	pad := blockLen - n%blockLen // 1..32
	buf := make([]byte, 0, n+pad)
	buf = append(buf, random[:]...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(msg)))
	buf = append(buf, msg...)
	buf = append(buf, c.appid...)
	buf = append(buf, bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(c.block, c.iv).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf), nil
}

// Decrypt decrypts the base64 Encrypt field of a push and returns the
// message. It fails with an error wrapping ErrFormat, ErrPadding or ErrAppID.
func (c *Cipher) Decrypt(b64 string) ([]byte, error) {
	buf, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: base64: %v", ErrFormat, err)
	}
	if len(buf) == 0 || len(buf)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: ciphertext of %d bytes is not a positive multiple of %d", ErrFormat, len(buf), aes.BlockSize)
	}
	cipher.NewCBCDecrypter(c.block, c.iv).CryptBlocks(buf, buf)

	pad := int(buf[len(buf)-1])
	if pad < 1 || pad > blockLen || pad > len(buf) {
		return nil, ErrPadding
	}
	for _, b := range buf[len(buf)-pad:] {
		if int(b) != pad {
			return nil, ErrPadding
		}
	}
	buf = buf[:len(buf)-pad]

	const head = 16 + 4
	if len(buf) < head {
		return nil, fmt.Errorf("%w: plaintext of %d bytes is shorter than its header", ErrFormat, len(buf))
	}
	size := binary.BigEndian.Uint32(buf[16:head])
	if uint64(size) > uint64(len(buf)-head) {
		return nil, fmt.Errorf("%w: message length %d exceeds the %d bytes present", ErrFormat, size, len(buf)-head)
	}
	end := head + int(size)
	msg, appid := buf[head:end:end], buf[end:]
	if string(appid) != c.appid {
		return nil, ErrAppID
	}
	return msg, nil
}

// GenerateEncodingAESKey returns a random 43-character EncodingAESKey made of
// letters and digits, like the ones the WeChat console generates.
func GenerateEncodingAESKey() (string, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	const limit = 256 - 256%len(alphabet) // reject bytes that would bias the draw
	key := make([]byte, 0, EncodingAESKeyLen)
	var buf [64]byte
	for len(key) < EncodingAESKeyLen {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("wxpush: generate EncodingAESKey: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(key) < EncodingAESKeyLen {
				key = append(key, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(key), nil
}
