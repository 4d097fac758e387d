//go:build linux

package rie_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/eventsource"
	"github.com/wxsub/wxsub/dev/localdb"
	"github.com/wxsub/wxsub/dev/rie"
	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/store"
	"github.com/wxsub/wxsub/shared/sweep"
	"github.com/wxsub/wxsub/shared/tally"
)

// TestKilledSendIsSweptAsUnknown kills the real send function's process
// between its reservation and its settlement (while WeChat is answering):
// the reservation left a pending record, and the sweep turns it into
// unknown with the credit counted spent and nothing left in flight.
func TestKilledSendIsSweptAsUnknown(t *testing.T) {
	bin := emulator(t)
	tpl, root := loadTemplate(t)
	var fnSend = -1
	for i, fn := range tpl.Functions {
		if fn.LogicalID == "SendFunction" {
			fnSend = i
		}
	}
	if fnSend < 0 {
		t.Fatal("template.yaml has no SendFunction")
	}
	fn := tpl.Functions[fnSend]

	db, err := localdb.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	const table = "wxsub"
	if err := localdb.EnsureTable(ctx, db.Client(), tpl.Table.CreateTableInput(table)); err != nil {
		t.Fatal(err)
	}
	st := store.New(db.Client(), table)

	sim := wechatsim.New(wechatsim.Config{})
	t.Cleanup(sim.Close)
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	cfg := sim.Config()

	// A user with one credit.
	const openid = "oKilledSend0000000000000000"
	k := store.RowKey{AppID: cfg.AppID, OpenID: openid, TemplateID: wechatsim.TmplOrderShipped}
	if _, err := st.ApplyTap(ctx, k, ledger.OneTime, ledger.OnTap(ledger.OneTime, ledger.TapAccept)); err != nil {
		t.Fatal(err)
	}
	// WeChat takes its time: the function is killed while it waits.
	if err := sim.InjectFault(wechatsim.Fault{Path: "/cgi-bin/message/subscribe/send", Delay: 8 * time.Second}); err != nil {
		t.Fatal(err)
	}

	key := make([]byte, 32)
	rand.Read(key)
	e, _ := start(t, rie.Options{
		RIE: bin, Bootstrap: buildFunction(t, root, fn), Name: fn.LogicalID, Timeout: fn.Timeout,
		Env: []string{
			"DYNAMODB_ENDPOINT=" + db.URL, "TABLE_NAME=" + table, "WECHAT_APPID=" + cfg.AppID,
			"WECHAT_SECRET=" + cfg.Secret, "WECHAT_API_BASE=" + simSrv.URL, "WECHAT_TOKEN_API=stable",
			"SESSION_SIGNING_KEY=" + base64.StdEncoding.EncodeToString(key),
		},
	})
	event := sendEvent(t, root, openid)
	go e.Invoke(context.Background(), event) // ends with an error when the process is killed

	// Wait for the reservation: the pending record and its marker.
	var pending []store.Message
	for deadline := time.Now().Add(20 * time.Second); len(pending) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the send never reserved a credit")
		}
		if pending, err = st.StalePending(ctx, cfg.AppID, time.Now().Add(time.Hour), 10); err != nil {
			t.Fatal(err)
		}
	}
	e.Close() // SIGTERM, then SIGKILL: the settlement never runs

	if r, _ := st.Row(ctx, k); r.Inflight != 1 || r.Credits != 0 || r.Spent != 1 {
		t.Fatalf("after the kill the row is %+v; want the credit reserved and in flight", r)
	}
	if m, _ := st.Message(ctx, pending[0].ID); m.Status != ledger.Pending {
		t.Fatalf("after the kill the message is %s, want pending", m.Status)
	}

	sw := &sweep.Handler{AppID: cfg.AppID, Store: st, PendingAfter: 90 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	// Not yet stale: the sweep leaves a send that may still be running alone.
	if res, err := sw.Run(ctx); err != nil || res.Swept != 0 {
		t.Fatalf("an early sweep: %+v %v; want nothing swept", res, err)
	}
	sw.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if res, err := sw.Run(ctx); err != nil || res.Swept != 1 {
		t.Fatalf("sweep: %+v %v; want 1 swept", res, err)
	}
	m, err := st.Message(ctx, pending[0].ID)
	if err != nil || m.Status != ledger.Unknown || m.AnswerStatus != 504 {
		t.Fatalf("swept message: %+v %v; want unknown, answered 504", m, err)
	}
	r, _ := st.Row(ctx, k)
	if r.Inflight != 0 || r.Credits != 0 || r.Spent != 1 || !r.Balanced() {
		t.Fatalf("swept row: %+v; want nothing in flight and the credit spent", r)
	}
	// The tally counts the sweep's settlement from the table's stream.
	counts := &eventsource.Source{Streams: db.StreamsClient(), Table: table, BatchSize: 1000,
		Handle: (&tally.Handler{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handle}
	if err := counts.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	day, err := st.DayCounts(ctx, cfg.AppID, store.ChinaDay(time.Now()))
	if err != nil || day.Unknown != 1 || day.Spent != 1 {
		t.Fatalf("today's counts: %+v %v; want 1 unknown, 1 spent", day, err)
	}
	// A second sweep finds nothing left.
	if res, err := sw.Run(ctx); err != nil || res.Swept != 0 {
		t.Fatalf("second sweep: %+v %v", res, err)
	}
}

// sendEvent is events/messages-post.json addressed to openid.
func sendEvent(t *testing.T, root, openid string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "events", "messages-post.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(ev["body"].(string)), &body); err != nil {
		t.Fatal(err)
	}
	body["touser"] = openid
	b, _ := json.Marshal(body)
	ev["body"] = string(b)
	out, _ := json.Marshal(ev)
	return out
}
