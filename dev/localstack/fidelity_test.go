package localstack_test

import (
	"testing"
	"time"

	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/store"
)

// simCredits is what WeChat (the simulator) says openid has left.
func (h *harness) simCredits(openid, tmpl string) int64 {
	return int64(h.s.Sim.Credits(openid, tmpl))
}

func TestAcceptVariantsGrantThroughReportsAndPushes(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oVariantUser0000000000000001")
	// The raw success object, as the mini-program gets it; the simulator
	// also pushes the tap: one tap, one credit.
	h.report(u, h.popup(u, oneTime, "acceptWithAudio"))
	h.s.Sim.Flush()
	if r := h.checkInvariant(u.openid, oneTime); r.Credits != 1 || r.Status != ledger.Accept {
		t.Fatalf("after acceptWithAudio: row %+v, want 1 credit", r)
	}
	// Another tap, reported in the normalised form.
	h.s.Sim.Advance(time.Second) // a later tap is a later event
	h.popup(u, oneTime, "acceptWithForcePush")
	a := h.api("POST", "/v1/subscriptions", u.token, map[string]any{
		"results": []map[string]string{{"template_id": oneTime, "status": "acceptWithForcePush"}}})
	if a.status != 200 {
		t.Fatalf("report of acceptWithForcePush: %d %s", a.status, a.raw)
	}
	// A third tap whose report was lost: the push alone grants.
	h.s.Sim.Advance(time.Second)
	h.popup(u, oneTime, "acceptWithAlert")
	h.s.Sim.Flush()
	r := h.checkInvariant(u.openid, oneTime)
	if r.Credits != 3 || r.Credits != h.simCredits(u.openid, oneTime) {
		t.Fatalf("row %+v, WeChat has %d: want 3 on both sides", r, h.simCredits(u.openid, oneTime))
	}
}

func TestSendAnsweredWithoutMsgIDEndsDelivered(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oNoMsgIDUser0000000000000001")
	h.accept(u, oneTime, 2)
	h.fault(map[string]any{"path": sendPath, "omit_msgid": true})
	a := h.send(u.openid, oneTime)
	if a.status != 200 || a.body["status"] != "sent" {
		t.Fatalf("send answered without msgid: %d %s", a.status, a.raw)
	}
	id, _ := a.body["message_id"].(string)
	h.s.Sim.Flush()
	msgs := h.messages(u.openid, func(ms []store.Message) bool { return len(ms) == 1 && ms[0].Status == ledger.Delivered })
	if len(msgs) != 1 || msgs[0].ID != id || msgs[0].Status != ledger.Delivered || msgs[0].WeChatMsgID == "" {
		t.Fatalf("the sent event did not find the message sent without msgid: %+v", msgs)
	}
	got := h.admin("GET", "/v1/messages/"+id, nil)
	if got.body["status"] != "delivered" || got.body["wechat_msgid"] == nil {
		t.Fatalf("GET /v1/messages/%s: %s", id, got.raw)
	}
	if r := h.checkInvariant(u.openid, oneTime); r.Credits != 1 || r.Credits != h.simCredits(u.openid, oneTime) {
		t.Fatalf("row %+v, WeChat has %d", r, h.simCredits(u.openid, oneTime))
	}
}

func TestUnknownDataKeyIsDroppedWithAWarning(t *testing.T) {
	t.Parallel()
	h := start(t)
	if a := h.admin("POST", "/v1/templates/sync", nil); a.status != 200 {
		t.Fatalf("sync: %d %s", a.status, a.raw)
	}
	u := h.login("oExtraKeyUser000000000000001")
	h.accept(u, oneTime, 1)
	data := exampleData(oneTime)
	data["thing9"] = map[string]string{"value": "not in the template"}
	a := h.admin("POST", "/v1/messages", map[string]any{"touser": u.openid, "template_id": oneTime, "data": data})
	if a.status != 200 {
		t.Fatalf("send with an extra key: %d %s", a.status, a.raw)
	}
	ws, _ := a.body["warnings"].([]any)
	if len(ws) != 1 || ws[0].(map[string]any)["code"] != "unknown_key" || ws[0].(map[string]any)["key"] != "thing9" {
		t.Fatalf("warnings %v, want one unknown_key for thing9", a.body["warnings"])
	}
	in := h.s.Sim.Inbox(u.openid)
	if len(in) != 1 {
		t.Fatalf("inbox %+v", in)
	}
	if _, sent := in[0].Data["thing9"]; sent {
		t.Fatalf("thing9 reached WeChat: %v", in[0].Data)
	}
	// Without extra keys, no warnings at all.
	h.accept(u, oneTime, 1)
	if a := h.send(u.openid, oneTime); a.status != 200 || a.body["warnings"] != nil {
		t.Fatalf("plain send: %d %s", a.status, a.raw)
	}
}

// TestKeptChoiceGrantsCountFromEitherSource: after "always keep this choice",
// later calls show no popup but add a credit each (WeChat's view). wxsub
// counts them from the client's reports alone (WeChat pushing nothing), from
// the pushes alone (the reports lost), and once when both arrive.
func TestKeptChoiceGrantsCountFromEitherSource(t *testing.T) {
	t.Parallel()
	h := start(t)
	for _, c := range []struct {
		openid       string
		report, push bool
	}{
		{"oKeptBothSources000000000001", true, true},
		{"oKeptPushOnly0000000000000001", false, true},
		{"oKeptReportOnly00000000000001", true, false},
	} {
		u := h.login(c.openid)
		if a := h.sim("POST", "/__sim/settings", map[string]any{"push_silent_grants": c.push}); a.status != 200 {
			t.Fatalf("settings: %d %s", a.status, a.raw)
		}
		p := h.sim("POST", "/__sim/popup", map[string]any{"openid": u.openid, "results": map[string]string{oneTime: "accept"}, "keep": true})
		h.report(u, p.body)
		for range 3 {
			h.s.Sim.Advance(time.Second) // a later call is a later event
			a := h.sim("POST", "/__sim/popup", map[string]any{"openid": u.openid, "tmpl_ids": []string{oneTime}})
			if a.status != 200 || a.body[oneTime] != "accept" {
				t.Fatalf("silent call: %d %s", a.status, a.raw)
			}
			if c.report {
				h.report(u, a.body)
			}
		}
		h.s.Sim.Flush()
		r := h.checkInvariant(u.openid, oneTime)
		if want := h.simCredits(u.openid, oneTime); r.Credits != want || want != 4 {
			t.Fatalf("report=%v push=%v: wxsub counts %d credits, WeChat %d, want 4", c.report, c.push, r.Credits, want)
		}
	}
}
