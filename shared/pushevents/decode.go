package pushevents

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/wxsub/wxsub/shared/httpapi"
	"github.com/wxsub/wxsub/shared/wxpush"
)

// Push is a push that passed every check of Decode.
type Push struct {
	Event wxpush.Event
	// Nonce is the query's nonce, to be claimed against replays.
	Nonce string
	// Secure is true for an encrypted push (secure or compatible mode).
	Secure bool
	Format wxpush.Format
}

var errSignature = httpapi.Errorf(http.StatusUnauthorized, "invalid_signature",
	"the push is not signed with this app's push token (WECHAT_PUSH_TOKEN)")

func malformed(format string, args ...any) *httpapi.Error {
	return httpapi.Errorf(http.StatusBadRequest, "malformed_push", format, args...)
}

// Decode checks a push's signature and timestamp, decrypts it when
// encrypt_type=aes (checking the appid inside) and parses the event, in that
// order. Nothing is stored: the nonce is the caller's to claim. A refusal is
// an *httpapi.Error; any other error is a configuration problem.
func (h *Handler) Decode(query map[string]string, body []byte) (Push, error) {
	if h.Token == "" {
		return Push{}, errNoToken
	}
	ts, nonce := query["timestamp"], query["nonce"]
	if ts == "" || nonce == "" {
		return Push{}, errSignature
	}
	p := Push{Nonce: nonce, Secure: query["encrypt_type"] == "aes"}
	if !p.Secure && !h.AcceptPlaintext {
		// A plaintext push's signature does not cover its body: anyone who
		// saw one signed timestamp and nonce could write any event under it.
		return Push{}, httpapi.Errorf(http.StatusForbidden, "plaintext_refused",
			"WECHAT_PUSH_MODE=secure takes only encrypted pushes (encrypt_type=aes with msg_signature); "+
				"set the push to secure or compatible mode in WeChat's console, or WECHAT_PUSH_MODE=plaintext")
	}
	plain := body
	var env wxpush.Envelope
	if p.Secure {
		var err error
		if env, p.Format, err = wxpush.ParseEnvelope(body); err != nil {
			return Push{}, malformed("the body is not an encrypted push envelope (ToUserName, Encrypt) in XML or JSON")
		}
		if !wxpush.Verify(wxpush.MsgSignature(h.Token, ts, nonce, env.Encrypt), query["msg_signature"]) {
			return Push{}, errSignature
		}
	} else if !wxpush.Verify(wxpush.Signature(h.Token, ts, nonce), query["signature"]) {
		return Push{}, errSignature
	}
	if herr := h.checkTimestamp(ts); herr != nil {
		return Push{}, herr
	}
	var err error
	if p.Secure {
		if h.Cipher == nil {
			return Push{}, errors.New("pushevents: an encrypted push arrived but WECHAT_ENCODING_AES_KEY is missing or invalid")
		}
		plain, err = h.Cipher.Decrypt(env.Encrypt)
		switch {
		case errors.Is(err, wxpush.ErrAppID):
			return Push{}, httpapi.Errorf(http.StatusForbidden, "foreign_appid", "the encrypted push is for another app")
		case err != nil:
			return Push{}, malformed("the Encrypt field does not decrypt to a push")
		}
	}
	ev, format, err := wxpush.ParseEvent(plain)
	if err != nil {
		return Push{}, malformed("the push is not a WeChat message in XML or JSON")
	}
	if !p.Secure {
		p.Format = format
	}
	switch ev.Event {
	case wxpush.EventPopup, wxpush.EventChange, wxpush.EventSent:
		if len(ev.Items) > MaxItems {
			return Push{}, httpapi.Errorf(http.StatusBadRequest, "too_many_items",
				"a push carries at most %d event items, got %d", MaxItems, len(ev.Items))
		}
		if !httpapi.ValidOpenID(ev.FromUserName) {
			return Push{}, malformed("FromUserName is not an openid")
		}
		for _, it := range ev.Items {
			if !httpapi.ValidTemplateID(it.TemplateID) {
				return Push{}, malformed("TemplateId %.64q is not a template id", it.TemplateID)
			}
		}
	}
	p.Event = ev
	return p, nil
}

// checkTimestamp refuses a timestamp that is not a number of seconds within
// TimestampWindow of now.
func (h *Handler) checkTimestamp(ts string) *httpapi.Error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return malformed("timestamp is not a number of seconds")
	}
	if d := h.now().Sub(time.Unix(sec, 0)); d > TimestampWindow || d < -TimestampWindow {
		return httpapi.Errorf(http.StatusUnauthorized, "stale_timestamp",
			"the timestamp is more than %s from this server's clock", TimestampWindow)
	}
	return nil
}

// Digest names one item of a pushed event by its content. WeChat documents
// FromUserName and CreateTime as the key for de-duplicating its retries; the
// event type and the item's fields are added because one user's sends within
// the same second produce sent events that differ only there.
func Digest(ev wxpush.Event, it wxpush.Item) string {
	h := sha256.New()
	for _, f := range []string{
		ev.FromUserName, strconv.FormatInt(ev.CreateTime, 10), ev.Event,
		it.TemplateID, it.Status, strconv.Itoa(it.PopupScene), it.MsgID, strconv.Itoa(it.ErrorCode), it.ErrorStatus,
	} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
