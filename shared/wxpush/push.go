package wxpush

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"strconv"
)

// SignedQuery prepares a push the way WeChat sends it to a server, for
// simulators and tests. body is the plaintext message (an encoded Event).
//
// In plaintext mode (secure false) it returns the query signature, timestamp
// and nonce, and body unchanged. In secure mode it encrypts body with c, wraps
// it in an Envelope of the same format as body (ToUserName copied from body),
// and adds encrypt_type=aes and msg_signature to the query; signature stays,
// as WeChat keeps it.
func SignedQuery(token string, body []byte, secure bool, c *Cipher, timestamp int64, nonce string) (url.Values, []byte, error) {
	ts := strconv.FormatInt(timestamp, 10)
	q := url.Values{
		"signature": {Signature(token, ts, nonce)},
		"timestamp": {ts},
		"nonce":     {nonce},
	}
	if !secure {
		return q, body, nil
	}
	if c == nil {
		return nil, nil, errors.New("wxpush: secure mode needs a Cipher")
	}
	f, to, err := peekToUser(body)
	if err != nil {
		return nil, nil, err
	}
	enc, err := c.Encrypt(body)
	if err != nil {
		return nil, nil, err
	}
	out, err := EncodeEnvelope(Envelope{ToUserName: to, Encrypt: enc}, f)
	if err != nil {
		return nil, nil, err
	}
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", MsgSignature(token, ts, nonce, enc))
	return q, out, nil
}

// peekToUser returns the format of a plaintext message and its ToUserName.
func peekToUser(body []byte) (Format, string, error) {
	f, err := sniff(body)
	if err != nil {
		return "", "", err
	}
	var m struct {
		XMLName    xml.Name `json:"-"`
		ToUserName string
	}
	if f == XML {
		err = decodeXML(body, &m)
	} else {
		err = decodeJSON(body, &m)
	}
	if err != nil {
		return "", "", fmt.Errorf("wxpush: read ToUserName: %w", err)
	}
	return f, m.ToUserName, nil
}

// NewNonce returns a random decimal nonce like the ones WeChat sends.
func NewNonce() string {
	var b [8]byte
	rand.Read(b[:]) // never fails: crypto/rand.Read crashes the program instead
	return strconv.FormatUint(binary.BigEndian.Uint64(b[:])%1e10, 10)
}
