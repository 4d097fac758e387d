package broadcasts_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/localdb"
	"github.com/wxsub/wxsub/shared/broadcasts"
	"github.com/wxsub/wxsub/shared/httpapi"
	"github.com/wxsub/wxsub/shared/store"
)

func TestBroadcastMessagesRefusesBadQueries(t *testing.T) {
	tb := localdb.NewTestTable(t)
	st := store.New(tb.Client, tb.Name)
	const appid = "wx0123456789abcdef"
	b := store.Broadcast{ID: "baaaaaaaaaaaaaaaaaaaaaaaaa", AppID: appid, TemplateID: "tmpl", Data: `{}`, CreatedAt: time.Now()}
	if err := st.PutBroadcast(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	h := &broadcasts.Handler{AppID: appid, Store: st, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	get := func(id string, query map[string]string) (int, string, map[string]any) {
		t.Helper()
		resp, err := h.Handle(t.Context(), httpapi.Request{
			RouteKey: "GET /v1/broadcasts/{id}/messages", PathParameters: map[string]string{"id": id},
			QueryStringParameters: query,
		})
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		var all map[string]any
		json.Unmarshal([]byte(resp.Body), &body)
		json.Unmarshal([]byte(resp.Body), &all)
		return resp.StatusCode, body.Error.Code, all
	}
	for name, c := range map[string]struct {
		id     string
		query  map[string]string
		status int
		code   string
	}{
		"limit 0":              {b.ID, map[string]string{"limit": "0"}, 400, "invalid_limit"},
		"limit 101":            {b.ID, map[string]string{"limit": "101"}, 400, "invalid_limit"},
		"limit not a number":   {b.ID, map[string]string{"limit": "ten"}, 400, "invalid_limit"},
		"cursor not base64":    {b.ID, map[string]string{"next": "%%%"}, 400, "invalid_cursor"},
		"cursor not an openid": {b.ID, map[string]string{"next": "Li4vLi4v"}, 400, "invalid_cursor"},
		"malformed id":         {"nope", nil, 400, "invalid_broadcast_id"},
		"unknown broadcast":    {"bbbbbbbbbbbbbbbbbbbbbbbbbb", nil, 404, "broadcast_not_found"},
	} {
		if status, code, _ := get(c.id, c.query); status != c.status || code != c.code {
			t.Errorf("%s: %d %s, want %d %s", name, status, code, c.status, c.code)
		}
	}
	// A broadcast of a template nobody answered: one empty last page.
	status, _, body := get(b.ID, map[string]string{"limit": "1"})
	if msgs, ok := body["messages"].([]any); status != 200 || !ok || len(msgs) != 0 || body["next"] != nil {
		t.Fatalf("empty broadcast: %d %v, want 200 with messages [] and no next", status, body)
	}
}
