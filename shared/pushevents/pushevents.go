// Package pushevents receives WeChat's message push on GET and POST
// /v1/wechat/events and folds the subscription events into the ledger:
// popup accepts and rejects, template switch-offs (subscribe_msg_change_event)
// and the final result of every send (subscribe_msg_sent_event).
//
// A POST is checked in this order, and a push failing a check gets 4xx and
// changes nothing: body size (413 body_too_large), encryption (403
// plaintext_refused for a push without encrypt_type=aes unless
// AcceptPlaintext, WECHAT_PUSH_MODE=plaintext), signature (401
// invalid_signature; msg_signature when encrypt_type=aes, else signature),
// timestamp within ±5 minutes (401 stale_timestamp), decryption and the appid
// inside it (400 malformed_push, 403 foreign_appid), parsing (400
// malformed_push; 400 too_many_items over MaxItems), then the nonce, claimed
// once for 10 minutes (409 replayed_nonce). The GET URL verification checks
// its signature, timestamp and nonce the same way, so that its signature
// cannot be replayed as a plaintext push's. Items for a template the synced
// catalogue does not hold are logged and ignored. WeChat retries a push with a fresh nonce, so each event
// item is also claimed by its content for a day; a retry answers success and
// changes nothing. Plaintext pushes carry no appid, so the appid check applies
// to encrypted (secure and compatible mode) pushes only.
package pushevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/wxsub/wxsub/shared/catalog"
	"github.com/wxsub/wxsub/shared/httpapi"
	"github.com/wxsub/wxsub/shared/metrics"
	"github.com/wxsub/wxsub/shared/store"
	"github.com/wxsub/wxsub/shared/wxpush"
)

// Limits of the push route.
const (
	// MaxBody is the largest push accepted; WeChat's are a few hundred bytes.
	MaxBody = 64 << 10
	// MaxItems is the most event items one push may carry. A popup event
	// lists the templates of one wx.requestSubscribeMessage call, at most 5
	// (https://developers.weixin.qq.com/miniprogram/dev/api/open-api/subscribe-message/wx.requestSubscribeMessage.html);
	// wxsub allows 50, room for WeChat to grow the limit.
	MaxItems = 50
	// TimestampWindow is how far a push's timestamp may be from now.
	TimestampWindow = 5 * time.Minute
	// DefaultSettleWait bounds how long a sent event waits for a send of the
	// same user still in flight to record its message.
	DefaultSettleWait = 2 * time.Second
	// DefaultIndexHorizon is how long after a ledger row last changed a sent event
	// that finds no message is refused rather than dropped: the user's
	// messages are found through gsi1, which DynamoDB updates asynchronously
	// (typically within a second: "Global secondary indexes ... eventually
	// consistent", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.Writes).
	// WeChat retries a push that is not answered "success".
	DefaultIndexHorizon = 30 * time.Second
	// DefaultMatchWindow is how long before a sent event a message may have
	// been sent and still be matched to it without a msgid.
	DefaultMatchWindow = time.Hour
)

// Handler is the events function.
type Handler struct {
	AppID string
	// Token is the push token (WECHAT_PUSH_TOKEN); without one every push is refused.
	Token string
	// Cipher decrypts secure-mode pushes; nil refuses them.
	Cipher *wxpush.Cipher
	// AcceptPlaintext also takes plaintext pushes (WECHAT_PUSH_MODE=plaintext),
	// whose signature covers the token, timestamp and nonce but not the body.
	// When false only encrypted pushes with a valid msg_signature are taken.
	AcceptPlaintext bool
	Store           *store.Store
	Catalog         *catalog.Catalog
	Logger          *slog.Logger
	// Metrics receives CreditsGranted; nil for none.
	Metrics *metrics.Writer
	// Now is the clock for the timestamp window; nil means time.Now.
	Now func() time.Time
	// SettleWait is DefaultSettleWait when zero.
	SettleWait time.Duration
	// IndexHorizon is DefaultIndexHorizon when zero.
	IndexHorizon time.Duration
	// MatchWindow is DefaultMatchWindow when zero.
	MatchWindow time.Duration
}

// LogValue gives log/slog the handler's appid and modes, never the push
// token or the EncodingAESKey.
func (h *Handler) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("appid", h.AppID),
		slog.Bool("push_token_set", h.Token != ""),
		slog.Bool("secure", h.Cipher != nil),
		slog.Bool("accept_plaintext", h.AcceptPlaintext),
	)
}

// Routes served by the handler.
func (h *Handler) Routes() httpapi.Router {
	return httpapi.Router{
		"GET /v1/wechat/events":  h.verify,
		"POST /v1/wechat/events": h.receive,
	}
}

// Handle is the Lambda entry point.
func (h *Handler) Handle(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	return h.Routes().HandleWith(ctx, req, h.Logger, "appid", h.AppID)
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// errNoToken is a configuration problem, answered 500 so that WeChat retries
// once it is fixed; a push must never verify against an empty token.
var errNoToken = errors.New("pushevents: WECHAT_PUSH_TOKEN is not configured; every push is refused")

// text is a plain-text answer, as WeChat expects from a push URL.
func text(body string) httpapi.Response {
	return httpapi.Response{
		StatusCode: http.StatusOK,
		Headers:    map[string]string{"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"},
		Body:       body,
	}
}

// verify answers the URL check WeChat makes when the push URL is saved: the
// echostr, unchanged, when the signature holds. Its signature is the one a
// plaintext push carries (token, timestamp, nonce), so the timestamp must be
// within the window and the nonce is claimed like a push's: the same
// timestamp and nonce cannot then sign a forged plaintext push.
// (https://developers.weixin.qq.com/miniprogram/dev/framework/server-ability/message-push.html)
func (h *Handler) verify(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	if h.Token == "" {
		return httpapi.Response{}, errNoToken
	}
	q := req.QueryStringParameters
	ts, nonce := q["timestamp"], q["nonce"]
	if ts == "" || nonce == "" || !wxpush.Verify(wxpush.Signature(h.Token, ts, nonce), q["signature"]) {
		return httpapi.Response{}, h.refuseVerification(ctx, errSignature)
	}
	if herr := h.checkTimestamp(ts); herr != nil {
		return httpapi.Response{}, h.refuseVerification(ctx, herr)
	}
	switch err := h.Store.ClaimNonce(ctx, h.AppID, nonce); {
	case errors.Is(err, store.ErrClaimed):
		return httpapi.Response{}, h.refuseVerification(ctx, errReplayed)
	case err != nil:
		return httpapi.Response{}, err
	}
	h.Logger.InfoContext(ctx, "push URL verified")
	return text(q["echostr"]), nil
}

func (h *Handler) refuseVerification(ctx context.Context, e *httpapi.Error) error {
	h.Logger.WarnContext(ctx, "push URL verification refused", "status", e.Status, "error_code", e.Code, "reason", e.Message)
	return e
}

var errReplayed = httpapi.Errorf(http.StatusConflict, "replayed_nonce",
	"this nonce was used by an earlier push or URL verification; WeChat signs every request with a fresh one")

// receive takes one push.
func (h *Handler) receive(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	if h.Token == "" {
		return httpapi.Response{}, errNoToken
	}
	body, herr := httpapi.Body(req, MaxBody)
	if herr != nil {
		if herr.Status != http.StatusRequestEntityTooLarge {
			herr = malformed("the body is not valid base64")
		}
		return httpapi.Response{}, h.refuse(ctx, herr)
	}
	p, err := h.Decode(req.QueryStringParameters, body)
	if err != nil {
		var herr *httpapi.Error
		if errors.As(err, &herr) {
			return httpapi.Response{}, h.refuse(ctx, herr)
		}
		return httpapi.Response{}, err
	}
	// From here on the push is WeChat's: finish its writes even if WeChat
	// stops waiting, rather than leave a claim without its change.
	ctx = context.WithoutCancel(ctx)
	switch err := h.Store.ClaimNonce(ctx, h.AppID, p.Nonce); {
	case errors.Is(err, store.ErrClaimed):
		return httpapi.Response{}, h.refuse(ctx, errReplayed)
	case err != nil:
		return httpapi.Response{}, err
	}
	ev := p.Event
	switch ev.Event {
	case wxpush.EventPopup, wxpush.EventChange, wxpush.EventSent:
		if err := h.apply(ctx, ev); err != nil {
			if rerr := h.Store.ReleaseNonce(ctx, h.AppID, p.Nonce); rerr != nil {
				h.Logger.ErrorContext(ctx, "push failed and its nonce could not be released", "err", rerr)
			}
			return httpapi.Response{}, err
		}
	default:
		h.Logger.InfoContext(ctx, "push ignored: wxsub does not use this message",
			"msg_type", ev.MsgType, "event", ev.Event, "secure", p.Secure, "format", string(p.Format))
	}
	return text("success"), nil
}

// refuse logs a refused push and returns its answer.
func (h *Handler) refuse(ctx context.Context, e *httpapi.Error) error {
	h.Logger.WarnContext(ctx, "push refused", "status", e.Status, "error_code", e.Code, "reason", e.Message)
	return e
}

// apply folds every item of a subscription event into the ledger. Each item
// is claimed by its content first, so WeChat's retries apply nothing twice;
// an item that fails is released, and the 500 makes WeChat retry it.
func (h *Handler) apply(ctx context.Context, ev wxpush.Event) error {
	applied, repeated, unknown := 0, 0, 0
	for _, it := range ev.Items {
		if ev.Event != wxpush.EventSent {
			_, found, synced, err := h.Catalog.Lookup(ctx, it.TemplateID)
			if err != nil {
				return err
			}
			if synced && !found {
				unknown++
				h.Logger.WarnContext(ctx, "push item ignored: the template is not in the app's catalogue",
					"event", ev.Event, "template_id", it.TemplateID)
				continue
			}
		}
		digest := Digest(ev, it)
		switch err := h.Store.ClaimEvent(ctx, h.AppID, digest); {
		case errors.Is(err, store.ErrClaimed):
			repeated++
			continue
		case err != nil:
			return err
		}
		if err := h.applyItem(ctx, ev, it); err != nil {
			if rerr := h.Store.ReleaseEvent(context.WithoutCancel(ctx), h.AppID, digest); rerr != nil {
				h.Logger.ErrorContext(ctx, "push item failed and its claim could not be released: WeChat's retry will skip it",
					"event", ev.Event, "template_id", it.TemplateID, "err", rerr)
			}
			return fmt.Errorf("apply %s for template %s: %w", ev.Event, it.TemplateID, err)
		}
		applied++
	}
	h.Logger.InfoContext(ctx, "push applied", "event", ev.Event, "openid", ev.FromUserName,
		"items", len(ev.Items), "applied", applied, "repeated", repeated, "unknown_templates", unknown)
	return nil
}
