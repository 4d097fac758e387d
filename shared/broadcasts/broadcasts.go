// Package broadcasts sends one template to every user who may receive it:
// POST /v1/broadcasts, GET /v1/broadcasts/{id} and GET
// /v1/broadcasts/{id}/messages for business backends, and the queue worker
// that does the work at a bounded rate.
//
// A broadcast is validated like a single send, recorded, and answered 202 at
// once. Its work goes through a queue as jobs: a page job reads one page of
// the template's ledger rows and queues a send job for the users who may
// receive the message now; a send job sends to a few users through the same
// code as POST /v1/messages, with an Idempotency-Key per broadcast and user,
// so a job the queue delivers twice never sends twice. Each worker
// invocation paces its sends at its share of the rate of all broadcasts
// together (see Pace and Pacer).
package broadcasts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/wxsub/wxsub/shared/catalog"
	"github.com/wxsub/wxsub/shared/httpapi"
	"github.com/wxsub/wxsub/shared/ids"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/messages"
	"github.com/wxsub/wxsub/shared/store"
	"github.com/wxsub/wxsub/shared/wechat"
)

// Sizes of the work.
const (
	// PageSize is how many ledger rows one page job reads.
	PageSize = 100
	// UsersPerJob is how many users one send job serves.
	UsersPerJob = 10
)

// Job is one unit of queued work.
type Job struct {
	Type        string   `json:"type"` // "page", "send" or "remind"
	BroadcastID string   `json:"broadcast_id,omitempty"`
	After       string   `json:"after,omitempty"`       // page: continue after this openid
	OpenIDs     []string `json:"openids,omitempty"`     // send: the users
	MessageIDs  []string `json:"message_ids,omitempty"` // remind: the due reminders, in due order
	// NotBefore holds the job in the queue until then (SQS's DelaySeconds,
	// at most 15 minutes): a remind job is queued up to a minute ahead and
	// runs when its reminders fall due.
	NotBefore time.Time `json:"-"`
}

// Queue carries jobs to the worker.
type Queue interface {
	Enqueue(ctx context.Context, jobs ...Job) error
}

// Handler is the broadcast function: its HTTP routes and its queue worker.
type Handler struct {
	AppID    string
	Store    *store.Store
	Catalog  *catalog.Catalog
	Messages *messages.Handler
	Queue    Queue
	Logger   *slog.Logger
	// Pacers pace the worker's sends, one per invocation running at once
	// (see Pace); nil sends as fast as a job's MaxInFlight allows.
	Pacers *Pacers
	// QuotaProbe and TokenProbe are how long the worker holds its sends
	// after WeChat's 45009 and after finding no access_token; zero means
	// DefaultQuotaProbe and DefaultTokenProbe.
	QuotaProbe, TokenProbe time.Duration
}

// Routes served by the handler.
func (h *Handler) Routes() httpapi.Router {
	return httpapi.Router{
		"POST /v1/broadcasts":              h.post,
		"GET /v1/broadcasts/{id}":          h.get,
		"GET /v1/broadcasts/{id}/messages": h.messages,
	}
}

// Handle is the Lambda entry point for the HTTP routes.
func (h *Handler) Handle(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	return h.Routes().HandleWith(ctx, req, h.Logger, "appid", h.AppID)
}

type broadcastRequest struct {
	TemplateID       string                     `json:"template_id"`
	Data             map[string]json.RawMessage `json:"data"`
	Page             string                     `json:"page"`
	MiniprogramState string                     `json:"miniprogram_state"`
	Lang             string                     `json:"lang"`
	// Miniprogram is an official account's bizsend link to a mini-program page.
	Miniprogram *wechat.MiniprogramLink `json:"miniprogram"`
	// SendAt schedules the broadcast: it is queued at that time.
	SendAt string `json:"send_at,omitempty"`
}

func (h *Handler) post(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	var body broadcastRequest
	if err := httpapi.Decode(req, &body, 16<<10); err != nil {
		return httpapi.Response{}, err
	}
	// Validate exactly as a single send would, with a placeholder recipient.
	msg, err := h.Messages.Parse(messages.Body{
		ToUser: "oBroadcastValidation", TemplateID: body.TemplateID, Page: body.Page, Data: body.Data,
		MiniprogramState: body.MiniprogramState, Lang: body.Lang, Miniprogram: body.Miniprogram,
	})
	if err != nil {
		return httpapi.Response{}, err
	}
	var sendAt time.Time
	if body.SendAt != "" {
		if sendAt, err = h.Messages.ParseSendAt(body.SendAt); err != nil {
			return httpapi.Response{}, err
		}
	}
	if err := h.Messages.Validate(ctx, msg); err != nil {
		return httpapi.Response{}, messages.HTTPError(err)
	}
	data, err := json.Marshal(msg.Data)
	if err != nil {
		return httpapi.Response{}, fmt.Errorf("encode broadcast data: %w", err)
	}
	b := store.Broadcast{
		ID: ids.Random('b'), AppID: h.AppID, TemplateID: msg.TemplateID, Page: msg.Page,
		MiniprogramState: msg.MiniprogramState, Lang: msg.Lang, Data: string(data), CreatedAt: time.Now().UTC(),
		SendAt: sendAt,
	}
	if msg.Miniprogram != nil {
		b.MiniprogramAppID, b.MiniprogramPage = msg.Miniprogram.AppID, msg.Miniprogram.PagePath
	}
	if err := h.Store.PutBroadcast(ctx, b); err != nil {
		return httpapi.Response{}, err
	}
	if !sendAt.IsZero() {
		h.Logger.InfoContext(ctx, "broadcast scheduled", "appid", h.AppID, "template", b.TemplateID, "broadcast_id", b.ID, "send_at", sendAt)
		return httpapi.JSON(http.StatusAccepted, map[string]string{"broadcast_id": b.ID, "send_at": sendAt.UTC().Format(time.RFC3339Nano)}), nil
	}
	if err := h.Queue.Enqueue(ctx, Job{Type: "page", BroadcastID: b.ID}); err != nil {
		return httpapi.Response{}, fmt.Errorf("queue broadcast %s: %w", b.ID, err)
	}
	h.Logger.InfoContext(ctx, "broadcast queued", "appid", h.AppID, "template", b.TemplateID, "broadcast_id", b.ID)
	return httpapi.JSON(http.StatusAccepted, map[string]string{"broadcast_id": b.ID}), nil
}

type broadcastAnswer struct {
	BroadcastID string `json:"broadcast_id"`
	TemplateID  string `json:"template_id"`
	State       string `json:"state"`
	Queued      int64  `json:"queued"`
	Sent        int64  `json:"sent"`
	NoCredit    int64  `json:"no_credit"`
	Failed      int64  `json:"failed"`
	Unknown     int64  `json:"unknown"`
	SendAt      string `json:"send_at,omitempty"`
	CreatedAt   string `json:"created_at"`
}

// State is "scheduled" before a scheduled broadcast's time, "queued" before
// the first page, "running" while users are being queued or served, and
// "done" when every queued user has an outcome (an unknown one included: its
// sent event may still move it to sent or failed).
func State(b store.Broadcast) string {
	switch {
	case !b.SendAt.IsZero() && !b.Started:
		return "scheduled"
	case b.FanoutDone && b.Sent+b.NoCredit+b.Failed+b.Unknown >= b.Queued:
		return "done"
	case b.Queued == 0 && !b.FanoutDone:
		return "queued"
	}
	return "running"
}

func (h *Handler) get(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	b, err := h.broadcast(ctx, req)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, broadcastAnswer{
		BroadcastID: b.ID, TemplateID: b.TemplateID, State: State(b),
		Queued: b.Queued, Sent: b.Sent, NoCredit: b.NoCredit, Failed: b.Failed, Unknown: b.Unknown,
		SendAt: sendAtOf(b), CreatedAt: b.CreatedAt.Format(time.RFC3339),
	}), nil
}

func sendAtOf(b store.Broadcast) string {
	if b.SendAt.IsZero() {
		return ""
	}
	return b.SendAt.UTC().Format(time.RFC3339Nano)
}

// broadcast reads the broadcast the request's path names: 400
// invalid_broadcast_id, 404 broadcast_not_found (another app's too).
func (h *Handler) broadcast(ctx context.Context, req httpapi.Request) (store.Broadcast, error) {
	id := req.PathParameters["id"]
	if !ids.Valid(id, "b") {
		return store.Broadcast{}, httpapi.Errorf(http.StatusBadRequest, "invalid_broadcast_id",
			"%q is not a broadcast id; use the broadcast_id POST /v1/broadcasts returned", id)
	}
	b, err := h.Store.Broadcast(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && b.AppID != h.AppID) {
		return store.Broadcast{}, httpapi.Errorf(http.StatusNotFound, "broadcast_not_found", "no broadcast %s (records are kept 30 days)", id)
	}
	if err != nil {
		return store.Broadcast{}, err
	}
	return b, nil
}

// Work runs one job. An error means the job should be delivered again; every
// step is safe to repeat.
func (h *Handler) Work(ctx context.Context, j Job) error {
	if j.Type == "remind" {
		return h.remind(ctx, j.MessageIDs)
	}
	b, err := h.Store.Broadcast(ctx, j.BroadcastID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			h.Logger.WarnContext(ctx, "job for an unknown broadcast dropped", "broadcast_id", j.BroadcastID)
			return nil
		}
		return err
	}
	switch j.Type {
	case "page":
		return h.page(ctx, b, j.After)
	case "send":
		return h.send(ctx, b, j.OpenIDs)
	}
	h.Logger.WarnContext(ctx, "job of an unknown type dropped", "type", j.Type)
	return nil
}

// page queues send jobs for one page of users, then the next page. A repeated
// page job may queue users twice; their sends are idempotent, and the counts
// of a repeated page are not added again (the next page is queued last).
func (h *Handler) page(ctx context.Context, b store.Broadcast, after string) error {
	rows, next, err := h.Store.TemplateRows(ctx, b.AppID, b.TemplateID, after, PageSize)
	if err != nil {
		return err
	}
	var eligible []string
	for _, r := range rows {
		if ledger.CanReserve(r) == ledger.NoRefusal {
			eligible = append(eligible, r.OpenID)
		}
	}
	var jobs []Job
	for len(eligible) > 0 {
		n := min(UsersPerJob, len(eligible))
		jobs = append(jobs, Job{Type: "send", BroadcastID: b.ID, OpenIDs: eligible[:n]})
		eligible = eligible[n:]
	}
	queued := int64(0)
	for _, j := range jobs {
		queued += int64(len(j.OpenIDs))
	}
	if len(jobs) > 0 {
		if err := h.Queue.Enqueue(ctx, jobs...); err != nil {
			return err
		}
	}
	if err := h.Store.AddBroadcastCounts(ctx, b.ID, store.BroadcastCounts{Queued: queued, FanoutDone: next == ""}); err != nil {
		return err
	}
	if next != "" {
		return h.Queue.Enqueue(ctx, Job{Type: "page", BroadcastID: b.ID, After: next})
	}
	return nil
}
