package wxsubclient_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wxsub/wxsub/wxsubclient"
)

// The reminder calls (send_at, DELETE /v1/messages/{id}, GET
// /v1/users/{openid}/messages) are checked here for what the client sends
// and how it reads the answers the contract gives; the local stack of this
// branch has no reminders yet. A stack without them refuses send_at, and a
// send without it does not carry the field.
func TestReminderCallsFollowTheContract(t *testing.T) {
	type seen struct{ method, uri, body string }
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, seen{r.Method, r.URL.RequestURI(), string(b)})
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "POST":
			w.WriteHeader(202)
			w.Write([]byte(`{"message_id":"m1","status":"scheduled","send_at":"2026-12-02T09:00:00Z","credits_left":0}`))
		case r.Method == "DELETE":
			w.Write([]byte(`{"message_id":"m1","touser":"o1","template_id":"t1","status":"cancelled","errcode":0,"created_at":"x","updated_at":"y"}`))
		default:
			w.Write([]byte(`{"messages":[{"message_id":"m1","status":"scheduled"}],"next":"c2"}`))
		}
	}))
	defer srv.Close()
	c, _ := wxsubclient.Local(srv.URL, "k")
	ctx := context.Background()
	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	res, err := c.Send(ctx, wxsubclient.SendRequest{ToUser: "o1", TemplateID: "t1", Data: map[string]string{"thing2": "x"}, SendAt: &at})
	if err != nil || res.Status != "scheduled" || res.SendAt != "2026-12-02T09:00:00Z" {
		t.Fatalf("send_at: %+v %v", res, err)
	}
	var body map[string]any
	json.Unmarshal([]byte(got[0].body), &body)
	if body["send_at"] != "2026-12-02T09:00:00Z" {
		t.Fatalf("sent %s", got[0].body)
	}
	if _, err := c.Send(ctx, wxsubclient.SendRequest{ToUser: "o1", TemplateID: "t1", Data: map[string]string{"thing2": "x"}}); err != nil {
		t.Fatal(err)
	}
	var plain map[string]any
	json.Unmarshal([]byte(got[1].body), &plain)
	if _, ok := plain["send_at"]; ok {
		t.Fatalf("a send without SendAt carries send_at: %s", got[1].body)
	}
	m, err := c.CancelMessage(ctx, "m1")
	if err != nil || m.Status != "cancelled" || got[2].method != "DELETE" || got[2].uri != "/v1/messages/m1" {
		t.Fatalf("cancel: %+v %v %+v", m, err, got[2])
	}
	list, next, err := c.UserMessages(ctx, "o1", "scheduled", "c1")
	if err != nil || len(list) != 1 || next != "c2" || got[3].uri != "/v1/users/o1/messages?next=c1&status=scheduled" {
		t.Fatalf("user messages: %+v %q %v %+v", list, next, err, got[3])
	}
}

// TestRemindersOnTheLocalStack schedules, lists and cancels a reminder
// through the client against the local stack: the credit is held, then
// given back.
func TestRemindersOnTheLocalStack(t *testing.T) {
	s := stack(t)
	c, err := wxsubclient.Local(s.URL, s.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tmpl, data := shipped()
	openid := subscriber(t, s, tmpl, 1)
	at := s.Sim.Now().Add(time.Hour).Truncate(time.Second)
	res, err := c.Send(ctx, wxsubclient.SendRequest{ToUser: openid, TemplateID: tmpl, Data: data, SendAt: &at})
	if err != nil || res.Status != "scheduled" || res.CreditsLeft == nil || *res.CreditsLeft != 0 {
		t.Fatalf("schedule: %+v %v", res, err)
	}
	if got, _ := time.Parse(time.RFC3339, res.SendAt); !got.Equal(at) {
		t.Fatalf("send_at %q, want %v", res.SendAt, at)
	}
	var list []wxsubclient.Message
	for deadline := time.Now().Add(10 * time.Second); len(list) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if list, _, err = c.UserMessages(ctx, openid, "scheduled", ""); err != nil {
			t.Fatal(err)
		}
	}
	if len(list) != 1 || list[0].MessageID != res.MessageID || list[0].SendAt == "" {
		t.Fatalf("scheduled reminders: %+v", list)
	}
	m, err := c.CancelMessage(ctx, res.MessageID)
	if err != nil || m.Status != "cancelled" || m.Reason == "" {
		t.Fatalf("cancel: %+v %v", m, err)
	}
	if _, err := c.CancelMessage(ctx, res.MessageID); !wxsubclient.IsCode(err, "not_scheduled") {
		t.Fatalf("cancel twice: %v", err)
	}
	l, err := c.UserSubscriptions(ctx, openid)
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range l.Subscriptions {
		if sub.TemplateID == tmpl && (sub.Credits == nil || *sub.Credits != 1) {
			t.Fatalf("the credit did not come back: %+v", sub)
		}
	}
}
