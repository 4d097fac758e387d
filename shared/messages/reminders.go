package messages

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wxsub/wxsub/shared/httpapi"
	"github.com/wxsub/wxsub/shared/ids"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/store"
	"github.com/wxsub/wxsub/shared/wait"
	"github.com/wxsub/wxsub/shared/wechat"
)

// How far ahead a reminder's send_at may be.
const (
	MinLead = time.Minute
	MaxLead = 365 * 24 * time.Hour
)

// Why a reminder ended without a send (its record's reason).
const (
	ReasonCancelled = "cancelled by the caller (DELETE /v1/messages/{id})"
	ReasonZeroed    = "the user's balance for this template was zeroed (a change-event reject, the main switch turned off, or WeChat's 43101) after the credit was held; the held credit was revoked with it"
)

// ParseSendAt reads a send_at: RFC 3339 with an offset, from MinLead to
// MaxLead after now; otherwise 400 invalid_send_at.
func ParseSendAt(v string, now time.Time) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, httpapi.Errorf(http.StatusBadRequest, "invalid_send_at",
			"send_at must be an RFC 3339 time with an offset, such as 2027-01-02T20:00:00+08:00")
	}
	t = t.Truncate(time.Millisecond)
	if lead := t.Sub(now); lead < MinLead || lead > MaxLead {
		return time.Time{}, httpapi.Errorf(http.StatusBadRequest, "invalid_send_at",
			"send_at must be at least a minute and at most a year ahead (it is %s from now, %s)",
			lead.Round(time.Second), now.UTC().Format(time.RFC3339))
	}
	return t, nil
}

// ParseSendAt is ParseSendAt on the handler's clock.
func (h *Handler) ParseSendAt(v string) (time.Time, error) { return ParseSendAt(v, h.now()) }

// scheduled turns rec into a reminder due at sendAt: it will hold its credit
// and keep the message until then, and a repeat of its key is answered 202.
func (h *Handler) scheduled(rec *store.Message, m wechat.Message, sendAt time.Time, warnings []Warning) error {
	req, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode reminder %s: %w", rec.ID, err)
	}
	rec.Status, rec.SendAt, rec.Request = ledger.Scheduled, sendAt, string(req)
	answer := response(Result{MessageID: rec.ID, Status: ledger.Scheduled, SendAt: sendAt, Warnings: warnings})
	rec.AnswerStatus, rec.Answer = answer.StatusCode, answer.Body
	return nil
}

// scheduledResult is a reminder's scheduling: its id, status now and time,
// and the credits the user has left besides those held; the same for a
// repeat of its Idempotency-Key (replayed).
func (h *Handler) scheduledResult(ctx context.Context, m store.Message, warnings []Warning, replayed bool) Result {
	r := Result{MessageID: m.ID, Status: m.Status, SendAt: m.SendAt, Warnings: warnings, Replayed: replayed}
	if m.Kind != ledger.LongTerm {
		r.CreditsLeft, _ = h.creditsLeft(ctx, store.RowKey{AppID: h.AppID, OpenID: m.OpenID, TemplateID: m.TemplateID}, m.Kind)
	}
	return r
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// SendScheduled sends a reminder whose time has come, through the same path
// as any send: the catalogue is checked again (a template changed since
// scheduling ends it failed, its credit released), its held credit is spent
// and the outcome settled by errcode's table. A reminder whose held credit
// a zeroing revoked ends cancelled without calling WeChat. A reminder that
// another delivery started or ended is left alone (Replayed, nothing sent),
// and one that no longer exists is dropped (an empty Status), so a job
// delivered twice sends once. An error means nothing happened and the job
// should run again.
func (h *Handler) SendScheduled(ctx context.Context, id string) (Result, error) {
	m, err := h.Store.Message(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		h.Logger.WarnContext(ctx, "due reminder not found; dropped", "appid", h.AppID, "message_id", id)
		return Result{MessageID: id}, nil
	}
	if err != nil {
		return Result{}, h.storeUnavailable(ctx, err)
	}
	if m.Status != ledger.Scheduled {
		return Result{MessageID: id, Status: m.Status, Replayed: true}, nil
	}
	// The queue holds a job until its reminders are due; should one come
	// early all the same (clocks differ a little), it waits: never before
	// send_at.
	if early := m.SendAt.Sub(h.now()); early > time.Minute {
		return Result{}, fmt.Errorf("reminder %s came %s before its time", id, early.Round(time.Second))
	} else if early > 0 {
		if err := wait.Sleep(ctx, early); err != nil {
			return Result{}, err
		}
	}
	var msg wechat.Message
	if err := json.Unmarshal([]byte(m.Request), &msg); err != nil {
		return Result{}, fmt.Errorf("reminder %s has an unreadable message: %w", id, err)
	}
	_, extra, err := h.validate(ctx, msg)
	if r, ok := refused(err); ok {
		reason := "the template changed since the reminder was scheduled: " + r.Message()
		if _, err := h.end(ctx, m, ledger.Failed, reason); err != nil {
			return Result{}, err
		}
		return Result{MessageID: id, Status: ledger.Failed, Ended: true}, nil
	}
	if err != nil {
		return Result{}, err
	}
	warnings := dropExtra(&msg, extra)
	started, err := h.Store.StartScheduled(ctx, m, ids.Random('a'))
	switch {
	case errors.Is(err, store.ErrNotScheduled):
		return Result{MessageID: id, Status: m.Status, Replayed: true}, nil
	case errors.Is(err, store.ErrHeldRevoked):
		if _, err := h.end(ctx, m, ledger.Cancelled, ReasonZeroed); err != nil {
			return Result{}, err
		}
		return Result{MessageID: id, Status: ledger.Cancelled, Ended: true}, nil
	case err != nil:
		return Result{}, h.storeUnavailable(ctx, err)
	}
	h.Logger.InfoContext(ctx, "reminder due; sending", "appid", h.AppID, "message_id", id,
		"send_at", m.SendAt, "late_ms", time.Since(m.SendAt).Milliseconds())
	return h.deliver(ctx, started, msg, warnings, false), nil
}

// end ends a scheduled reminder without a send; ErrNotScheduled is no error
// (another delivery ended or started it).
func (h *Handler) end(ctx context.Context, m store.Message, status ledger.MessageStatus, reason string) (store.Message, error) {
	ended, err := h.Store.EndScheduled(ctx, m, status, reason)
	if err != nil && !errors.Is(err, store.ErrNotScheduled) {
		return store.Message{}, h.storeUnavailable(ctx, err)
	}
	if err == nil {
		h.Logger.InfoContext(ctx, "reminder ended without a send", "appid", h.AppID, "message_id", m.ID,
			"status", status, "reason", reason)
	}
	return ended, err
}

// How long CancelRevoked waits for gsi1 to show the reminders it expects.
const (
	revokeLookFor   = 20 * time.Second
	revokeLookEvery = 200 * time.Millisecond
)

// CancelRevoked ends, as cancelled, the reminders of a row whose balance was
// zeroed at zeroedAt while it held held credits: the zeroing revoked them.
// The tally calls it from the row's stream record. The reminders are found
// through gsi1, which lags the table: it looks again for a few seconds until
// it has seen held of them, and leaves any it still misses to their due
// time, when the dispatch finds the zeroing itself (store.StartScheduled).
func (h *Handler) CancelRevoked(ctx context.Context, k store.RowKey, zeroedAt time.Time, held int64) (int, error) {
	n := 0
	seen := map[string]bool{}
	for deadline := time.Now().Add(revokeLookFor); ; {
		list, err := h.Store.ScheduledOf(ctx, k)
		if err != nil {
			return n, err
		}
		for _, m := range list {
			if m.ReservedAt.After(zeroedAt) || seen[m.ID] {
				continue // held after the zeroing: still good
			}
			seen[m.ID] = true
			if _, err := h.end(ctx, m, ledger.Cancelled, ReasonZeroed); errors.Is(err, store.ErrNotScheduled) {
				continue
			} else if err != nil {
				return n, err
			}
			n++
		}
		if int64(len(seen)) >= held || time.Now().After(deadline) {
			return n, nil
		}
		if err := wait.Sleep(ctx, revokeLookEvery); err != nil {
			return n, err
		}
	}
}

// cancel serves DELETE /v1/messages/{id}: a scheduled reminder ends
// cancelled and its credit goes back to the user.
func (h *Handler) cancel(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	m, err := h.message(ctx, req)
	if err != nil {
		return httpapi.Response{}, err
	}
	notScheduled := func(status ledger.MessageStatus) error {
		return httpapi.Errorf(http.StatusConflict, "not_scheduled",
			"message %s is %s: only a scheduled message can be cancelled, before its send starts", m.ID, status)
	}
	if m.Status != ledger.Scheduled {
		return httpapi.Response{}, notScheduled(m.Status)
	}
	ended, err := h.end(ctx, m, ledger.Cancelled, ReasonCancelled)
	if errors.Is(err, store.ErrNotScheduled) {
		now, rerr := h.Store.Message(ctx, m.ID)
		if rerr != nil {
			return httpapi.Response{}, HTTPError(h.storeUnavailable(ctx, rerr))
		}
		return httpapi.Response{}, notScheduled(now.Status)
	}
	if err != nil {
		return httpapi.Response{}, HTTPError(err)
	}
	return httpapi.JSON(http.StatusOK, answerOf(ended)), nil
}

// Paging of GET /v1/users/{openid}/messages.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

var listable = map[string]bool{
	"": true, string(ledger.Scheduled): true, string(ledger.Pending): true, string(ledger.Sent): true,
	string(ledger.Delivered): true, string(ledger.Failed): true, string(ledger.Unknown): true, string(ledger.Cancelled): true,
}

type listAnswer struct {
	Messages []messageAnswer `json:"messages"`
	Next     string          `json:"next,omitempty"`
}

// list serves GET /v1/users/{openid}/messages?status=&limit=&next=: the
// user's messages, newest first.
func (h *Handler) list(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	openid := req.PathParameters["openid"]
	if !httpapi.ValidOpenID(openid) {
		return httpapi.Response{}, httpapi.Errorf(http.StatusBadRequest, "invalid_openid",
			"the path must name the user's openid (6-64 letters, digits, - or _)")
	}
	q := req.QueryStringParameters
	status := q["status"]
	if !listable[status] {
		return httpapi.Response{}, httpapi.Errorf(http.StatusBadRequest, "invalid_status",
			"status must be one of scheduled, pending, sent, delivered, failed, unknown, cancelled")
	}
	limit := DefaultPageSize
	if v := q["limit"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return httpapi.Response{}, httpapi.Errorf(http.StatusBadRequest, "invalid_limit",
				"limit must be a whole number from 1 to %d", MaxPageSize)
		}
		limit = n
	}
	var after string
	if v := q["next"]; v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || !strings.Contains(string(b), "#") {
			return httpapi.Response{}, httpapi.Errorf(http.StatusBadRequest, "invalid_cursor",
				"next must be the cursor a previous page returned")
		}
		after = string(b)
	}
	msgs, next, err := h.Store.UserMessagesPage(ctx, h.AppID, openid, ledger.MessageStatus(status), int32(limit), after)
	if err != nil {
		return httpapi.Response{}, HTTPError(h.storeUnavailable(ctx, err))
	}
	out := listAnswer{Messages: make([]messageAnswer, 0, len(msgs))}
	for _, m := range msgs {
		out.Messages = append(out.Messages, answerOf(m))
	}
	if next != "" {
		out.Next = base64.RawURLEncoding.EncodeToString([]byte(next))
	}
	return httpapi.JSON(http.StatusOK, out), nil
}
