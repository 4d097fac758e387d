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
