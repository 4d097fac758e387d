// Package wxpush implements the wire format of WeChat's message push: the
// request signatures, the AES-256-CBC "secure mode" encryption and the
// subscription-message events, in both XML and JSON.
//
// A server receiving a push in secure mode proceeds in this order:
//
//	env, format, err := wxpush.ParseEnvelope(body)
//	// compare msg_signature with MsgSignature(token, timestamp, nonce, env.Encrypt) using Verify
//	plain, err := cipher.Decrypt(env.Encrypt)   // also checks the appid inside
//	ev, _, err := wxpush.ParseEvent(plain)
//
// Checking the signature before decrypting matters: Decrypt reports padding
// and format failures separately, which must not be offered to unsigned input.
// In plaintext mode the body is the event itself and the query carries only
// signature, timestamp and nonce.
//
// The package does no I/O and keeps no state besides a Cipher's key; limiting
// the size of a request body is the caller's job.
package wxpush
