package localstack_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/wxsub/wxsub/shared/broadcasts"
)

func (h *harness) broadcast(tmpl string, data map[string]any) answer {
	h.t.Helper()
	return h.admin("POST", "/v1/broadcasts", map[string]any{"template_id": tmpl, "data": data, "page": "pages/index/index"})
}

func TestBroadcastReachesEveryUserWithACredit(t *testing.T) {
	t.Parallel()
	h := start(t)
	var users []user
	for i := 0; i < 230; i++ { // more than two pages of ledger rows
		u := h.login(fmt.Sprintf("oBroadcast%018d", i))
		users = append(users, u)
	}
	// Every user answered once; 3 of every 10 rejected, so they hold no credit.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, u := range users {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, u user) {
			defer wg.Done()
			defer func() { <-sem }()
			status := "accept"
			if i%10 < 3 {
				status = "reject"
			}
			p := h.sim("POST", "/__sim/popup", map[string]any{"openid": u.openid, "results": map[string]string{oneTime: status}})
			a := h.api("POST", "/v1/subscriptions", u.token, map[string]any{"result": p.body})
			if a.status != 200 {
				t.Errorf("report: %d %s", a.status, a.raw)
			}
		}(i, u)
	}
	wg.Wait()
	// A broadcast finds its users through gsi1, which lags behind the table
	// (in DynamoDB and in the local one): wait until every row is there.
	h.waitIndexed(oneTime, len(users))
	a := h.broadcast(oneTime, exampleData(oneTime))
	if a.status != 202 {
		t.Fatalf("POST /v1/broadcasts: %d %s", a.status, a.raw)
	}
	id := a.body["broadcast_id"].(string)
	h.s.BroadcastQueue.Wait()
	h.drain()
	got := h.admin("GET", "/v1/broadcasts/"+id, nil)
	if got.status != 200 || got.body["state"] != "done" || got.body["queued"] != float64(161) ||
		got.body["sent"] != float64(161) || got.body["no_credit"] != float64(0) || got.body["failed"] != float64(0) {
		t.Fatalf("broadcast status: %d %s", got.status, got.raw)
	}
	for i, u := range users {
		want := 1
		if i%10 < 3 {
			want = 0
		}
		if n := h.inbox(u.openid, oneTime); n != want {
			t.Fatalf("user %d received %d messages, want %d", i, n, want)
		}
		h.checkInvariant(u.openid, oneTime)
	}
	// A job the queue delivers again sends nothing more and counts nothing more.
	job := broadcasts.Job{Type: "send", BroadcastID: id, OpenIDs: []string{users[5].openid, users[6].openid}}
	if err := h.s.Broadcasts.Work(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if n := h.inbox(users[5].openid, oneTime); n != 1 {
		t.Fatalf("a redelivered job sent again: %d messages", n)
	}
	again := h.admin("GET", "/v1/broadcasts/"+id, nil)
	if again.body["sent"] != float64(161) {
		t.Fatalf("a redelivered job was counted again: %s", again.raw)
	}
}

func TestBroadcastRefusals(t *testing.T) {
	t.Parallel()
	h := start(t)
	if _, err := h.s.Backend.Catalog.Sync(t.Context(), h.s.Backend.WeChat, mustToken(t, h)); err != nil {
		t.Fatal(err)
	}
	bad := exampleData(oneTime)
	delete(bad, "thing2")
	cases := []struct {
		name   string
		auth   string
		body   any
		status int
		code   string
	}{
		{"no admin key", "", map[string]any{"template_id": oneTime, "data": exampleData(oneTime)}, 401, "unauthorized"},
		{"invalid data", h.s.AdminKey, map[string]any{"template_id": oneTime, "data": bad}, 422, "invalid_data"},
		{"unknown template", h.s.AdminKey, map[string]any{"template_id": "NotOurs", "data": exampleData(oneTime)}, 404, "unknown_template"},
		{"touser is not a broadcast field", h.s.AdminKey, map[string]any{"template_id": oneTime, "touser": "oX", "data": exampleData(oneTime)}, 400, "unknown_field"},
	}
	for _, c := range cases {
		a := h.api("POST", "/v1/broadcasts", c.auth, c.body)
		if a.status != c.status || a.errCode() != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, a.status, a.raw, c.status, c.code)
		}
	}
	if a := h.admin("GET", "/v1/broadcasts/baaaaaaaaaaaaaaaaaaaaaaaaa", nil); a.status != 404 {
		t.Fatalf("unknown broadcast: %d %s", a.status, a.raw)
	}
	if a := h.admin("GET", "/v1/broadcasts/nope", nil); a.status != 400 {
		t.Fatalf("malformed broadcast id: %d %s", a.status, a.raw)
	}
}
