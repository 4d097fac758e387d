package wxsubclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/localstack"
	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/wxsubclient"
)

// stack is a local wxsub (the handlers that deploy, the WeChat simulator,
// the in-memory DynamoDB) with a token already fetched.
func stack(t *testing.T) *localstack.Stack {
	t.Helper()
	s, err := localstack.Start(context.Background(), localstack.Options{
		Addr: "127.0.0.1:0", SimAddr: "127.0.0.1:0", NoSchedules: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	for _, job := range []string{"RefreshTokenFunction", "TemplatesFunction"} {
		if err := s.RunSchedule(ctx, job); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func post(t *testing.T, url, auth string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %d %v", url, resp.StatusCode, out)
	}
	return out
}

// subscriber logs a simulated user in and taps "allow" n times for tmpl,
// reporting each result as the mini-program library does.
func subscriber(t *testing.T, s *localstack.Stack, tmpl string, n int) string {
	t.Helper()
	l := post(t, s.SimURL+"/__sim/login", "", map[string]any{})
	sess := post(t, s.URL+"/v1/session", "", map[string]any{"code": l["code"]})
	openid, token := sess["openid"].(string), sess["token"].(string)
	for i := 0; i < n; i++ {
		p := post(t, s.SimURL+"/__sim/popup", "", map[string]any{"openid": openid, "results": map[string]string{tmpl: "accept"}})
		post(t, s.URL+"/v1/subscriptions", token, map[string]any{"result": p})
	}
	s.Sim.Flush()
	return openid
}

func shipped() (string, map[string]string) {
	for _, tp := range wechatsim.DefaultTemplates() {
		if tp.ID == wechatsim.TmplOrderShipped {
			return tp.ID, tp.ExampleData()
		}
	}
	panic("no template")
}

func TestSendMessageAndLedger(t *testing.T) {
	s := stack(t)
	c, err := wxsubclient.Local(s.URL, s.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tmpl, data := shipped()
	openid := subscriber(t, s, tmpl, 2)

	res, err := c.Send(ctx, wxsubclient.SendRequest{ToUser: openid, TemplateID: tmpl, Data: data, Page: "pages/index/index"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != "sent" || res.CreditsLeft == nil || *res.CreditsLeft != 1 || res.MessageID == "" {
		t.Fatalf("send: %+v", res)
	}
	if got := len(s.Sim.Inbox(openid)); got != 1 {
		t.Fatalf("inbox holds %d messages, want 1", got)
	}
	m, err := c.Message(ctx, res.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if m.MessageID != res.MessageID || m.ToUser != openid || m.TemplateID != tmpl || (m.Status != "sent" && m.Status != "delivered") {
		t.Fatalf("message: %+v", m)
	}
	l, err := c.UserSubscriptions(ctx, openid)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, sub := range l.Subscriptions {
		if sub.TemplateID == tmpl {
			found = true
			if sub.Credits == nil || *sub.Credits != 1 || sub.Status == nil || *sub.Status != "accept" {
				t.Fatalf("ledger row: %+v", sub)
			}
		}
	}
	if l.OpenID != openid || !found {
		t.Fatalf("ledger: %+v", l)
	}
}

// The contract's refusals come back as *Error with their code, status and
// details; the Idempotency-Key makes a repeat answer the first answer.
func TestTypedErrorsAndIdempotency(t *testing.T) {
	s := stack(t)
	c, _ := wxsubclient.Local(s.URL, s.AdminKey)
	ctx := context.Background()
	tmpl, data := shipped()
	openid := subscriber(t, s, tmpl, 1)

	first, err := c.Send(ctx, wxsubclient.SendRequest{ToUser: openid, TemplateID: tmpl, Data: data, IdempotencyKey: "order-42-shipped"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Send(ctx, wxsubclient.SendRequest{ToUser: openid, TemplateID: tmpl, Data: data, IdempotencyKey: "order-42-shipped"})
	if err != nil {
		t.Fatalf("repeat with the same key: %v", err)
	}
	if again.MessageID != first.MessageID || len(s.Sim.Inbox(openid)) != 1 {
		t.Fatalf("repeat answered %s (first %s), inbox %d", again.MessageID, first.MessageID, len(s.Sim.Inbox(openid)))
	}

	_, err = c.Send(ctx, wxsubclient.SendRequest{ToUser: openid, TemplateID: tmpl, Data: data})
	var e *wxsubclient.Error
	if !errors.As(err, &e) || e.Status != 409 || e.Code != wxsubclient.CodeNoCredit || e.Message == "" || e.Retryable() {
		t.Fatalf("send without credit: %v", err)
	}
	if !wxsubclient.IsCode(err, wxsubclient.CodeNoCredit) {
		t.Fatal("IsCode does not see no_credit")
	}

	bad := map[string]string{}
	for k, v := range data {
		bad[k] = v
	}
	bad["thing2"] = "这个商品名称远远超过了二十个字符的限制所以会被拒绝掉的"
	_, err = c.Send(ctx, wxsubclient.SendRequest{ToUser: openid, TemplateID: tmpl, Data: bad})
	if !errors.As(err, &e) || e.Status != 422 || e.Code != wxsubclient.CodeInvalidData || len(e.Details) != 1 {
		t.Fatalf("send with a keyword too long: %v", err)
	}
	_, err = c.Message(ctx, "m_doesnotexist")
	if !wxsubclient.IsCode(err, wxsubclient.CodeMessageNotFound) && !wxsubclient.IsCode(err, "invalid_message_id") {
		t.Fatalf("unknown message: %v", err)
	}

	wrong, _ := wxsubclient.Local(s.URL, "not-the-key")
	if _, err := wrong.Quota(ctx); !wxsubclient.IsCode(err, wxsubclient.CodeUnauthorized) {
		t.Fatalf("wrong admin key: %v", err)
	}
}

func TestBroadcastToDone(t *testing.T) {
	s := stack(t)
	c, _ := wxsubclient.Local(s.URL, s.AdminKey)
	ctx := context.Background()
	tmpl, data := shipped()
	users := map[string]bool{}
	for i := 0; i < 3; i++ {
		users[subscriber(t, s, tmpl, 1)] = true
	}
	time.Sleep(400 * time.Millisecond) // the broadcast reads gsi1, which lags

	id, err := c.Broadcast(ctx, wxsubclient.BroadcastRequest{TemplateID: tmpl, Data: data})
	if err != nil || id == "" {
		t.Fatalf("broadcast: %q %v", id, err)
	}
	var st *wxsubclient.BroadcastState
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if st, err = c.BroadcastStatus(ctx, id); err != nil {
			t.Fatal(err)
		}
		if st.Done() || time.Now().After(deadline) {
			break
		}
	}
	if !st.Done() || st.Queued != 3 || st.Sent != 3 || st.Finished() != 3 {
		t.Fatalf("broadcast: %+v", st)
	}
	var got []wxsubclient.BroadcastOutcome
	for next := ""; ; {
		page, n, err := c.BroadcastMessages(ctx, id, next, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if next = n; next == "" {
			break
		}
	}
	if len(got) != 3 {
		t.Fatalf("broadcast messages: %+v", got)
	}
	for _, o := range got {
		if !users[o.ToUser] {
			t.Fatalf("broadcast sent to %s, not a subscriber", o.ToUser)
		}
	}
}

func TestSyncTemplatesAndQuota(t *testing.T) {
	s := stack(t)
	c, _ := wxsubclient.Local(s.URL, s.AdminKey)
	ctx := context.Background()
	cat, err := c.SyncTemplates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Templates) != len(wechatsim.DefaultTemplates()) || cat.SyncedAt == nil {
		t.Fatalf("catalogue: %+v", cat)
	}
	for _, tp := range cat.Templates {
		if tp.ID == wechatsim.TmplOrderShipped && (tp.Title != "订单发货通知" || tp.Type != "one_time" || len(tp.Keywords) != 5) {
			t.Fatalf("template: %+v", tp)
		}
	}
	tmpl, data := shipped()
	openid := subscriber(t, s, tmpl, 1)
	if _, err := c.Send(ctx, wxsubclient.SendRequest{ToUser: openid, TemplateID: tmpl, Data: data}); err != nil {
		t.Fatal(err)
	}
	if err := s.DrainStreams(ctx); err != nil {
		t.Fatal(err)
	}
	q, err := c.Quota(ctx)
	if err != nil {
		t.Fatal(err)
	}
	send := q.WeChat["/cgi-bin/message/subscribe/send"]
	if send.Error != nil || send.Used != 1 || send.DailyLimit == 0 {
		t.Fatalf("subscribe/send quota: %+v", send)
	}
	if q.Today.Sent != 1 || q.Today.Granted != 1 || q.Today.Spent != 1 {
		t.Fatalf("today: %+v", q.Today)
	}
}
