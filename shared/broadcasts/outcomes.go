package broadcasts

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/wxsub/wxsub/shared/httpapi"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/store"
)

// Paging of GET /v1/broadcasts/{id}/messages.
const (
	// MaxOutcomePage is the most ledger rows, and so messages, one page
	// reads; it is also the default ?limit=.
	MaxOutcomePage = 100
	// outcomeReads is how many message records a page reads at once.
	outcomeReads = 10
)

// Outcome is one user's message of a broadcast.
type Outcome struct {
	MessageID string `json:"message_id"`
	ToUser    string `json:"touser"`
	// Status is the message's: pending, sent, delivered, failed or unknown.
	Status string `json:"status"`
}

type outcomesAnswer struct {
	Messages []Outcome `json:"messages"`
	Next     string    `json:"next,omitempty"`
}

// messages answers GET /v1/broadcasts/{id}/messages: one page of the
// template's ledger rows (gsi1, in openid order), each with the user's
// message of this broadcast, read by its derived id. Users without one (not
// eligible when their page was read, or subscribed later) are left out, so a
// page may hold fewer than ?limit= messages, or none, while next is set.
func (h *Handler) messages(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	limit, err := pageLimit(req.QueryStringParameters["limit"])
	if err != nil {
		return httpapi.Response{}, err
	}
	after, err := decodeCursor(req.QueryStringParameters["next"])
	if err != nil {
		return httpapi.Response{}, err
	}
	b, err := h.broadcast(ctx, req)
	if err != nil {
		return httpapi.Response{}, err
	}
	rows, next, err := h.Store.TemplateRows(ctx, b.AppID, b.TemplateID, after, int32(limit))
	if err != nil {
		return httpapi.Response{}, fmt.Errorf("broadcast %s: read ledger rows: %w", b.ID, err)
	}
	outcomes, err := h.outcomes(ctx, b, rows)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, outcomesAnswer{Messages: outcomes, Next: encodeCursor(next)}), nil
}

// outcomes reads the broadcast's message to each row's user, a few at a
// time, keeping the rows' order and leaving out users without one.
func (h *Handler) outcomes(ctx context.Context, b store.Broadcast, rows []ledger.Row) ([]Outcome, error) {
	found := make([]*Outcome, len(rows))
	errs := make([]error, len(rows))
	slots := make(chan struct{}, outcomeReads)
	var wg sync.WaitGroup
	for i, r := range rows {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			found[i], errs[i] = h.outcome(ctx, b, r.OpenID)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := []Outcome{} // [] rather than null on an empty page
	for _, o := range found {
		if o != nil {
			out = append(out, *o)
		}
	}
	return out, nil
}

// outcome reads the broadcast's message to one user; nil when there is none.
func (h *Handler) outcome(ctx context.Context, b store.Broadcast, openid string) (*Outcome, error) {
	id := MessageID(b.AppID, b.ID, openid)
	m, err := h.Store.Message(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("broadcast %s: read message %s: %w", b.ID, id, err)
	}
	if m.BroadcastID != b.ID || m.AppID != b.AppID {
		return nil, nil
	}
	return &Outcome{MessageID: m.ID, ToUser: m.OpenID, Status: string(m.Status)}, nil
}

// pageLimit reads ?limit=: 1 to MaxOutcomePage, MaxOutcomePage when absent.
func pageLimit(v string) (int, error) {
	if v == "" {
		return MaxOutcomePage, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxOutcomePage {
		return 0, httpapi.Errorf(http.StatusBadRequest, "invalid_limit", "limit must be a whole number from 1 to %d", MaxOutcomePage)
	}
	return n, nil
}

// A cursor is the openid of the last ledger row a page read, base64url
// encoded so that callers treat it as opaque.
func encodeCursor(openid string) string {
	if openid == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(openid))
}

func decodeCursor(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || !httpapi.ValidOpenID(string(raw)) {
		return "", httpapi.Errorf(http.StatusBadRequest, "invalid_cursor",
			"next must be the next of a previous page of this route, unchanged")
	}
	return string(raw), nil
}
