// Package messages sends subscription messages for business backends:
// POST /v1/messages and GET /v1/messages/{id}.
//
// A send is reserve → call WeChat → settle. The reservation spends the user's
// credit with one conditional update before WeChat is called, so concurrent
// sends never spend more credits than the user granted; the settlement writes
// the message record and applies the outcome table of the contract (keep,
// release, or zero the balance) in one transaction.
package messages

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/wxsub/wxsub/shared/catalog"
	"github.com/wxsub/wxsub/shared/errcode"
	"github.com/wxsub/wxsub/shared/httpapi"
	"github.com/wxsub/wxsub/shared/ids"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/metrics"
	"github.com/wxsub/wxsub/shared/store"
	"github.com/wxsub/wxsub/shared/token"
	"github.com/wxsub/wxsub/shared/wait"
	"github.com/wxsub/wxsub/shared/wechat"
)

// IdempotencyWindow is how long a repeated Idempotency-Key gets the first answer.
const IdempotencyWindow = 24 * time.Hour

// DefaultBusyRetry is how long a send keeps retrying WeChat's 43108 (another
// send to the same user is in flight).
const DefaultBusyRetry = 2 * time.Second

// Handler is the send function.
type Handler struct {
	AppID   string
	Store   *store.Store
	Catalog *catalog.Catalog
	WeChat  *wechat.Client
	Tokens  *token.Plane
	Logger  *slog.Logger
	// Metrics receives Sends, CreditsSpent/Released and ValidationFailures; nil for none.
	Metrics *metrics.Writer
	// BusyRetry bounds the 43108 retries; zero means DefaultBusyRetry.
	BusyRetry time.Duration
	// OfficialAccount sends through subscribe/bizsend, whose body may carry
	// a miniprogram link; a mini-program's sends go through subscribe/send.
	OfficialAccount bool
	// Clock is the time reminders are scheduled by (send_at is checked
	// against it); nil means time.Now. The local stack sets the
	// simulator's, so that tests move time instead of waiting.
	Clock func() time.Time
}

// Routes served by the handler.
func (h *Handler) Routes() httpapi.Router {
	return httpapi.Router{
		"POST /v1/messages":               h.post,
		"GET /v1/messages/{id}":           h.get,
		"DELETE /v1/messages/{id}":        h.cancel,
		"GET /v1/users/{openid}/messages": h.list,
	}
}

// Handle is the Lambda entry point.
func (h *Handler) Handle(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	return h.Routes().HandleWith(ctx, req, h.Logger, "appid", h.AppID)
}

// Body is the JSON body of POST /v1/messages: WeChat's subscribe/send body,
// where data values may also be plain strings or numbers.
type Body struct {
	ToUser           string                     `json:"touser"`
	TemplateID       string                     `json:"template_id"`
	Page             string                     `json:"page"`
	Data             map[string]json.RawMessage `json:"data"`
	MiniprogramState string                     `json:"miniprogram_state"`
	Lang             string                     `json:"lang"`
	// Miniprogram is bizsend's link to a mini-program page (official accounts only).
	Miniprogram *wechat.MiniprogramLink `json:"miniprogram"`
	// SendAt makes the send a reminder: RFC 3339 with an offset, from
	// MinLead to MaxLead ahead.
	SendAt string `json:"send_at,omitempty"`
}

// Parse validates a send body's shape (not its data against the template)
// for this handler's kind of app: only an official account's bizsend body
// may carry miniprogram. The error is a 4xx that says what to fix.
func (h *Handler) Parse(b Body) (wechat.Message, error) {
	if b.Miniprogram != nil && !h.OfficialAccount {
		return wechat.Message{}, httpapi.Errorf(http.StatusBadRequest, "unknown_field",
			"miniprogram is not a field of this request; remove it (only an official account's bizsend takes it)")
	}
	m, err := parseRequest(b)
	if err != nil || b.Miniprogram == nil {
		return m, err
	}
	if !validAppID(b.Miniprogram.AppID) {
		return wechat.Message{}, httpapi.Errorf(http.StatusBadRequest, "invalid_miniprogram",
			"miniprogram.appid must be the linked mini-program's AppID (wx and 16 hex digits)")
	}
	if p := b.Miniprogram.PagePath; p == "" || len(p) > 1024 {
		return wechat.Message{}, httpapi.Errorf(http.StatusBadRequest, "invalid_miniprogram",
			"miniprogram.pagepath must be a page of that mini-program, at most 1024 characters (e.g. pages/order?id=1)")
	}
	m.Miniprogram = &wechat.MiniprogramLink{AppID: b.Miniprogram.AppID, PagePath: b.Miniprogram.PagePath}
	return m, nil
}

// validAppID reports whether s is shaped like an AppID: wx and 16 hex digits.
func validAppID(s string) bool {
	if len(s) != 18 || s[:2] != "wx" {
		return false
	}
	for _, r := range s[2:] {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
			return false
		}
	}
	return true
}

var (
	states = map[string]bool{"": true, "developer": true, "trial": true, "formal": true}
	langs  = map[string]bool{"": true, "zh_CN": true, "en_US": true, "zh_HK": true, "zh_TW": true}
)

// Request is one validated send.
type Request struct {
	Message        wechat.Message
	IdempotencyKey string
	BroadcastID    string
	// SendAt, when set, makes the send a reminder: its credit is held now
	// and the message goes out at SendAt (SendScheduled).
	SendAt time.Time
}

// parseRequest validates a send body; the error is a 4xx that says what to fix.
func parseRequest(raw Body) (wechat.Message, error) {
	bad := func(code, format string, args ...any) error {
		return httpapi.Errorf(http.StatusBadRequest, code, format, args...)
	}
	if !httpapi.ValidOpenID(raw.ToUser) {
		return wechat.Message{}, bad("invalid_touser", "touser must be the user's openid (6-64 letters, digits, - or _)")
	}
	if !httpapi.ValidTemplateID(raw.TemplateID) {
		return wechat.Message{}, bad("invalid_template_id", "template_id must be a template id (1-64 letters, digits, - or _)")
	}
	if len(raw.Page) > 1024 {
		return wechat.Message{}, bad("invalid_page", "page must be at most 1024 characters")
	}
	if !states[raw.MiniprogramState] {
		return wechat.Message{}, bad("invalid_miniprogram_state", "miniprogram_state must be developer, trial or formal")
	}
	if !langs[raw.Lang] {
		return wechat.Message{}, bad("invalid_lang", "lang must be zh_CN, en_US, zh_HK or zh_TW")
	}
	if len(raw.Data) == 0 {
		return wechat.Message{}, bad("invalid_data", `data must be an object such as {"thing1":{"value":"..."}}`)
	}
	if len(raw.Data) > 20 {
		return wechat.Message{}, bad("invalid_data", "data has %d keywords; a template has at most 20", len(raw.Data))
	}
	data := make(map[string]wechat.Value, len(raw.Data))
	for k, v := range raw.Data {
		s, err := dataValue(v)
		if err != nil {
			return wechat.Message{}, bad("invalid_data", "data.%s %s", k, err.Error())
		}
		data[k] = wechat.Value{Value: s}
	}
	return wechat.Message{
		ToUser: raw.ToUser, TemplateID: raw.TemplateID, Page: raw.Page, Data: data,
		MiniprogramState: raw.MiniprogramState, Lang: raw.Lang,
	}, nil
}

// dataValue accepts {"value": "..."} (optionally with a "color", which is
// ignored), a plain string, or a number, and returns the text.
func dataValue(raw json.RawMessage) (string, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", errors.New("is not valid JSON")
	}
	switch t := v.(type) {
	case string:
		return t, nil
	case float64:
		return strings.TrimSpace(string(raw)), nil
	case map[string]any:
		for k := range t {
			if k != "value" && k != "color" {
				return "", fmt.Errorf("has an unknown member %q; send {\"value\": \"...\"}", k)
			}
		}
		switch val := t["value"].(type) {
		case string:
			return val, nil
		case float64:
			var inner struct{ Value json.Number }
			json.Unmarshal(raw, &inner)
			return inner.Value.String(), nil
		}
		return "", errors.New(`must have a string "value"`)
	}
	return "", errors.New(`must be {"value": "..."} or a string`)
}

func (h *Handler) post(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	var raw Body
	if err := httpapi.Decode(req, &raw, 16<<10); err != nil {
		return httpapi.Response{}, err
	}
	msg, err := h.Parse(raw)
	if err != nil {
		return httpapi.Response{}, err
	}
	key := httpapi.Header(req, "Idempotency-Key")
	if len(key) > 255 || strings.IndexFunc(key, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
		return httpapi.Response{}, httpapi.Errorf(http.StatusBadRequest, "invalid_idempotency_key",
			"Idempotency-Key must be 1-255 visible ASCII characters")
	}
	var sendAt time.Time
	if raw.SendAt != "" {
		if sendAt, err = ParseSendAt(raw.SendAt, h.now()); err != nil {
			return httpapi.Response{}, err
		}
	}
	res, err := h.Send(ctx, Request{Message: msg, IdempotencyKey: key, SendAt: sendAt})
	if err != nil {
		return httpapi.Response{}, HTTPError(err)
	}
	return response(res), nil
}

func (h *Handler) now() time.Time {
	if h.Clock != nil {
		return h.Clock()
	}
	return time.Now()
}

// errFollowed asks Send to reserve again: the row's kind was corrected.
var errFollowed = errors.New("messages: the ledger row now follows the catalogue's kind")

// followKind looks at a refused reservation: when the row was stored with
// another kind than the catalogue's (a tap recorded while the catalogue did
// not know the template), the row is corrected and errFollowed returned, so
// that a long-term accept stored as a one-time credit answers sends as the
// long-term accept it is. Any other err is returned unchanged.
func (h *Handler) followKind(ctx context.Context, k store.RowKey, kind ledger.Kind, err error) error {
	var refused *store.RefusedError
	if !errors.As(err, &refused) || refused.Row.Kind == "" || refused.Row.Kind == kind {
		return err
	}
	if _, found, _, lerr := h.Catalog.Lookup(ctx, k.TemplateID); lerr != nil || !found {
		return err // only the catalogue's knowledge of the template decides a kind
	}
	changed, ferr := h.Store.FollowKind(ctx, k, kind)
	if ferr != nil {
		h.Logger.ErrorContext(ctx, "ledger row could not follow the catalogue's kind", "template_id", k.TemplateID, "err", ferr)
		return err
	}
	if changed {
		h.Logger.InfoContext(ctx, "ledger row now follows the catalogue's kind", "template_id", k.TemplateID,
			"was", string(refused.Row.Kind), "kind", string(kind))
	}
	return errFollowed
}

// KeyedID is the id of the message a send with Idempotency-Key key records:
// every repeat of the key within IdempotencyWindow finds it.
func KeyedID(appid, key string) string { return ids.Derived('k', appid, key) }

// Send validates the data against the catalogue and sends one message,
// spending the user's credit exactly once: the reservation (with the pending
// message record) is one DynamoDB transaction, the settlement another. A
// request with SendAt is a reminder: its credit is held and the result is
// its scheduling; SendScheduled sends it at its time. WeChat's answer,
// whatever it is, comes as a Result; a send refused before WeChat was
// called comes as a *RefusedError, one that could not reach the store as
// ErrStoreUnavailable.
func (h *Handler) Send(ctx context.Context, r Request) (Result, error) {
	m := r.Message
	now := time.Now().UTC()
	rec := store.Message{
		ID: ids.Random('m'), AppID: h.AppID, OpenID: m.ToUser, TemplateID: m.TemplateID, Page: m.Page,
		Status: ledger.Pending, IdempotencyKey: r.IdempotencyKey, BroadcastID: r.BroadcastID,
		Attempt: ids.Random('a'), CreatedAt: now, UpdatedAt: now,
	}
	var window time.Duration
	if r.IdempotencyKey != "" {
		rec.ID = KeyedID(h.AppID, r.IdempotencyKey) // every repeat of the key finds it
		window = IdempotencyWindow
	}
	kind, extra, err := h.validate(ctx, m)
	if why, ok := refused(err); ok && r.BroadcastID == "" && why.Final() {
		// A final answer (unknown template, invalid data): with a key it
		// is remembered, and a key used before replays its answer. A
		// broadcast validated its data when it was accepted and counts a
		// user refused here itself.
		return h.refuse(ctx, rec, m, window, why)
	}
	if err != nil {
		return Result{}, err
	}
	rec.Kind = kind
	warnings := dropExtra(&m, extra)
	if !r.SendAt.IsZero() {
		if err := h.scheduled(&rec, m, r.SendAt, warnings); err != nil {
			return Result{}, err
		}
	}

	rowKey := store.RowKey{AppID: h.AppID, OpenID: m.ToUser, TemplateID: m.TemplateID}
	res := store.Reservation{Row: rowKey, Message: rec, Window: window}
	if !r.SendAt.IsZero() {
		// On the store's clock (the reminders' may be another).
		res.WriteBy = time.Now().Add(r.SendAt.Sub(h.now()) - store.HoldLead)
	}
	rec.ReservedAt, err = h.Store.ReserveAt(ctx, res)
	if err = h.followKind(ctx, rowKey, kind, err); errors.Is(err, errFollowed) {
		rec.ReservedAt, err = h.Store.ReserveAt(ctx, res)
	}
	var dup *store.DuplicateError
	var refusedRow *store.RefusedError
	switch {
	case errors.As(err, &dup):
		if e := dup.Existing; !e.SendAt.IsZero() && e.OpenID == m.ToUser && e.TemplateID == m.TemplateID {
			return h.scheduledResult(ctx, e, nil, true), nil // a reminder: its status now
		}
		return replay(dup.Existing, m)
	case errors.As(err, &refusedRow):
		return h.refuse(ctx, rec, m, window, &RefusedError{Reason: NoCredit, TemplateID: m.TemplateID, Refusal: refusedRow.Refusal})
	case errors.Is(err, store.ErrTooLate):
		return Result{}, &RefusedError{Reason: TooLate, TemplateID: m.TemplateID}
	case err != nil:
		if store.MayHaveWritten(err) {
			h.undoReservation(ctx, rowKey, rec)
		}
		return Result{}, h.storeUnavailable(ctx, err)
	}
	if rec.Status == ledger.Scheduled {
		h.Logger.InfoContext(ctx, "reminder scheduled", "appid", h.AppID, "template", m.TemplateID,
			"message_id", rec.ID, "send_at", rec.SendAt)
		return h.scheduledResult(ctx, rec, warnings, false), nil
	}
	// A retryable failure frees the key, so that the retry it asks for
	// sends; a broadcast keeps its users' keys: it counts each user's
	// outcome once and paces or stops itself on these results (its queue
	// runs the job again, and the replay tells it the user was served).
	return h.deliver(ctx, rec, m, warnings, r.BroadcastID == ""), nil
}

// deliver sends a reserved message through WeChat, settles it by errcode's
// table and returns the result. freeKey lets a retryable failure free the
// message's Idempotency-Key.
func (h *Handler) deliver(ctx context.Context, rec store.Message, m wechat.Message, warnings []Warning, freeKey bool) Result {
	kind := rec.Kind
	rowKey := store.RowKey{AppID: h.AppID, OpenID: m.ToUser, TemplateID: m.TemplateID}
	res, sendErr := h.callWeChat(ctx, m)
	meaning := meaningOf(sendErr)
	out := meaning.Outcome
	rec.Status = out.Status
	rec.WeChatMsgID = res.MsgID
	rec.ErrCode = wechat.CodeOf(sendErr)
	var we *wechat.Error
	if errors.As(sendErr, &we) {
		rec.ErrMsg = we.Msg
	}

	result := Result{MessageID: rec.ID, Status: out.Status, Meaning: meaning, WeChat: sendErr}
	if sendErr == nil {
		result.Warnings = warnings
		if kind != ledger.LongTerm {
			// The row says what it is, when the catalogue could not.
			result.CreditsLeft, kind = h.creditsLeft(ctx, rowKey, kind)
		}
	}
	if rec.SendAt.IsZero() {
		answer := response(result)
		rec.AnswerStatus, rec.Answer = answer.StatusCode, answer.Body
	} // a reminder keeps its 202: a repeat of its key is answered from the record
	h.settle(ctx, store.Settlement{Row: rowKey, Kind: kind, Effect: out.Credit, Message: rec, FreeKey: freeKey && out.FreesKey()})
	h.observeSend(rec, kind, out.Credit)
	h.Logger.InfoContext(ctx, "message settled", "appid", h.AppID, "template", m.TemplateID,
		"message_id", rec.ID, "status", rec.Status, "errcode", rec.ErrCode, "rid", ridOf(sendErr))
	return result
}

// creditsLeft reads the row's balance after the reservation, for the answer
// of a successful one-time send (the reservation is a transaction, and
// DynamoDB's transactions return no values), with the row's kind. The
// balance is nil for a long-term row and when the store cannot say.
func (h *Handler) creditsLeft(ctx context.Context, k store.RowKey, kind ledger.Kind) (*int64, ledger.Kind) {
	row, err := h.Store.Row(ctx, k)
	if err != nil {
		h.Logger.WarnContext(ctx, "credits_left unknown", "appid", h.AppID, "err", err)
		return nil, kind
	}
	if row.Kind == ledger.LongTerm {
		return nil, row.Kind
	}
	return &row.Credits, row.Kind
}

// Validate checks a message against the template catalogue: a
// *RefusedError for an unknown template or invalid data (one problem per bad
// keyword), ErrStoreUnavailable when the catalogue cannot be read. Before
// the catalogue's first sync every message passes.
func (h *Handler) Validate(ctx context.Context, m wechat.Message) error {
	_, _, err := h.validate(ctx, m)
	return err
}

// validate is Validate that also returns the template's kind (one-time when
// the catalogue does not know the template) and the data keys the template
// does not have, which are not problems: WeChat ignores them (keyword.Extra).
func (h *Handler) validate(ctx context.Context, m wechat.Message) (ledger.Kind, []string, error) {
	tpl, found, synced, err := h.Catalog.Lookup(ctx, m.TemplateID)
	if err != nil {
		return "", nil, h.storeUnavailable(ctx, err)
	}
	if synced && !found {
		return "", nil, &RefusedError{Reason: UnknownTemplate, TemplateID: m.TemplateID}
	}
	if !found {
		return ledger.OneTime, nil, nil
	}
	data := make(map[string]string, len(m.Data))
	for k, v := range m.Data {
		data[k] = v.Value
	}
	problems := catalog.Validate(tpl, data)
	if len(problems) == 0 {
		return ledger.KindOf(tpl.Type), catalog.Extra(tpl, data), nil
	}
	h.observeInvalid(m.TemplateID)
	return "", nil, &RefusedError{Reason: InvalidData, TemplateID: m.TemplateID, Problems: problems}
}

// Warning is something a send did that the caller should know about
// although it succeeded.
type Warning struct {
	Code    string `json:"code"`
	Key     string `json:"key,omitempty"`
	Message string `json:"message"`
}

// dropExtra removes from m's data the keys the template does not have, so
// that WeChat gets only the template's keywords, and returns a warning for
// each.
func dropExtra(m *wechat.Message, extra []string) []Warning {
	if len(extra) == 0 {
		return nil
	}
	data := make(map[string]wechat.Value, len(m.Data))
	for k, v := range m.Data {
		data[k] = v
	}
	warnings := make([]Warning, 0, len(extra))
	for _, k := range extra {
		delete(data, k)
		warnings = append(warnings, Warning{Code: "unknown_key", Key: k,
			Message: fmt.Sprintf("%s is not a keyword of template %s; it was left out of the message", k, m.TemplateID)})
	}
	m.Data = data
	return warnings
}

// refuse refuses a send that may not reserve a credit; with an
// Idempotency-Key the answer is remembered, so that a repeat gets it again.
func (h *Handler) refuse(ctx context.Context, rec store.Message, m wechat.Message, window time.Duration, e *RefusedError) (Result, error) {
	if rec.IdempotencyKey == "" {
		return Result{}, e
	}
	resp := refusal(e).Response()
	rec.Status = ledger.Failed
	rec.AnswerStatus, rec.Answer = resp.StatusCode, resp.Body
	// A refused reminder was never scheduled: its record is a plain
	// refusal, which a repeat of the key replays as it is.
	rec.SendAt, rec.Request = time.Time{}, ""
	err := h.Store.Remember(context.WithoutCancel(ctx), rec, window)
	var dup *store.DuplicateError
	switch {
	case errors.As(err, &dup):
		return replay(dup.Existing, m)
	case err != nil:
		h.Logger.ErrorContext(ctx, "refusal not remembered; a repeat of the key may send", "message_id", rec.ID, "err", err)
	}
	return Result{}, e
}

// undoReservation releases a reservation whose transaction failed without a
// clear answer: DynamoDB may have written it all the same. If it did, the
// credit comes back and the key is freed; if it did not, there is nothing to
// undo. Should the store be down for this too, the sweep finds the pending
// record later and counts it unknown (never a double delivery).
func (h *Handler) undoReservation(ctx context.Context, k store.RowKey, rec store.Message) {
	resp := errStoreUnavailable().Response()
	rec.Status = ledger.Failed
	rec.AnswerStatus, rec.Answer = resp.StatusCode, resp.Body
	err := h.Store.Settle(context.WithoutCancel(ctx), store.Settlement{
		Row: k, Kind: rec.Kind, Effect: ledger.Release, Message: rec, FreeKey: true,
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrSettled) {
		h.Logger.WarnContext(ctx, "reservation not undone; the sweep will settle it if it was written",
			"message_id", rec.ID, "err", err)
	}
}

// settle writes the outcome, retrying through a short DynamoDB outage (the
// store already retries conflicts and throttles). If it still fails, the
// message stays pending with its credit in flight (never lost, never
// invented), and the sweep settles it as unknown later.
func (h *Handler) settle(ctx context.Context, st store.Settlement) {
	ctx = context.WithoutCancel(ctx)
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			time.Sleep(jitter(time.Duration(50<<attempt) * time.Millisecond))
		}
		err = h.Store.Settle(ctx, st)
		if err == nil {
			return
		}
		if errors.Is(err, store.ErrSettled) {
			h.Logger.WarnContext(ctx, "message settled by the sweep before its send finished", "appid", h.AppID,
				"message_id", st.Message.ID, "status", st.Message.Status, "err", err)
			return
		}
	}
	h.Logger.ErrorContext(ctx, "settle failed; the message stays pending until the sweep settles it", "appid", h.AppID,
		"message_id", st.Message.ID, "status", st.Message.Status, "err", err)
}

// callWeChat sends with the shared token (token.Plane.Call: after a token
// error it reports the token and retries once with the fresh one), and
// retries WeChat's 43108 with jittered backoff for up to BusyRetry.
func (h *Handler) callWeChat(ctx context.Context, m wechat.Message) (wechat.SendResult, error) {
	busyFor := h.BusyRetry
	if busyFor == 0 {
		busyFor = DefaultBusyRetry
	}
	deadline := time.Now().Add(busyFor)
	var res wechat.SendResult
	err := h.Tokens.Call(ctx, func(accessToken string) error {
		backoff := 100 * time.Millisecond
		for {
			var err error
			if h.OfficialAccount {
				res, err = h.WeChat.BizSend(ctx, accessToken, m.Biz())
			} else {
				res, err = h.WeChat.SendSubscribe(ctx, accessToken, m)
			}
			if errcode.Of(err).Outcome.Retry != ledger.RetryBackoff {
				return err
			}
			pause := jitter(backoff)
			if time.Now().Add(pause).After(deadline) || wait.Sleep(ctx, pause) != nil {
				return err
			}
			backoff *= 2
		}
	})
	return res, err
}

func jitter(d time.Duration) time.Duration {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(d)))
	if err != nil {
		return d / 2
	}
	return d/2 + time.Duration(n.Int64())/2
}

// meaningOf is the row of errcode's table for a send's error: WeChat's
// answer, or wxsub's own when it had no access_token to send with.
func meaningOf(err error) errcode.Meaning {
	var tokErr *token.NoTokenError
	if errors.As(err, &tokErr) {
		return errcode.NoToken
	}
	return errcode.Of(err)
}

// storeUnavailable logs, through the handler's logger, why the store could
// not be reached, and returns the error that says so (ErrStoreUnavailable).
func (h *Handler) storeUnavailable(ctx context.Context, err error) error {
	h.Logger.ErrorContext(ctx, "store unavailable", "appid", h.AppID, "err", err)
	return storeError(err)
}

// replay is the result of a repeated Idempotency-Key: the first answer.
func replay(first store.Message, req wechat.Message) (Result, error) {
	if first.OpenID != req.ToUser || first.TemplateID != req.TemplateID {
		return Result{}, &RefusedError{Reason: KeyReused, TemplateID: req.TemplateID}
	}
	if first.Status == ledger.Pending || first.AnswerStatus == 0 {
		return Result{}, &RefusedError{Reason: InProgress, TemplateID: req.TemplateID}
	}
	return Result{MessageID: first.ID, Status: first.Status, Replayed: true, first: &first}, nil
}

func ridOf(err error) string {
	var we *wechat.Error
	if errors.As(err, &we) {
		return we.RID
	}
	return ""
}

type messageAnswer struct {
	MessageID   string `json:"message_id"`
	ToUser      string `json:"touser"`
	TemplateID  string `json:"template_id"`
	Status      string `json:"status"`
	ErrCode     int    `json:"errcode"`
	ErrMsg      string `json:"errmsg,omitempty"`
	WeChatMsgID string `json:"wechat_msgid,omitempty"`
	BroadcastID string `json:"broadcast_id,omitempty"`
	SendAt      string `json:"send_at,omitempty"`
	Reason      string `json:"reason,omitempty"`
	CreatedAt   string `json:"created_at"`
	UpdatedAt   string `json:"updated_at"`
}

func answerOf(m store.Message) messageAnswer {
	a := messageAnswer{
		MessageID: m.ID, ToUser: m.OpenID, TemplateID: m.TemplateID, Status: string(m.Status),
		ErrCode: m.ErrCode, ErrMsg: m.ErrMsg, WeChatMsgID: m.WeChatMsgID, BroadcastID: m.BroadcastID, Reason: m.Reason,
		CreatedAt: m.CreatedAt.UTC().Format(time.RFC3339Nano), UpdatedAt: m.UpdatedAt.UTC().Format(time.RFC3339Nano),
	}
	if !m.SendAt.IsZero() {
		a.SendAt = formatTime(m.SendAt)
	}
	return a
}

func (h *Handler) get(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	m, err := h.message(ctx, req)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, answerOf(m)), nil
}

// message reads the message the request's path names: 400
// invalid_message_id, 404 message_not_found (another app's too).
func (h *Handler) message(ctx context.Context, req httpapi.Request) (store.Message, error) {
	id := req.PathParameters["id"]
	if !ids.Valid(id, "mk") {
		return store.Message{}, httpapi.Errorf(http.StatusBadRequest, "invalid_message_id",
			"%q is not a message id; use the message_id a send returned", id)
	}
	m, err := h.Store.Message(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && m.AppID != h.AppID) {
		return store.Message{}, httpapi.Errorf(http.StatusNotFound, "message_not_found", "no message %s (records are kept 30 days)", id)
	}
	if err != nil {
		return store.Message{}, err
	}
	return m, nil
}
