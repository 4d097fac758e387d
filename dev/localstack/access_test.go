package localstack_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wxsub/wxsub/dev/localstack"
	"github.com/wxsub/wxsub/dev/samtemplate"
	"github.com/wxsub/wxsub/shared/broadcasts"
	"github.com/wxsub/wxsub/shared/ids"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/store"
)

// grantedAccess reads the DynamoDB permissions template.yaml grants each
// function: its inline statements' dynamodb: actions on the table
// (!GetAtt Table.Arn, "table") or on an index (!Sub ${Table.Arn}/index/<name>).
func grantedAccess(t *testing.T) map[string]map[localstack.Access]bool {
	t.Helper()
	path, err := samtemplate.Find(".")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Resources map[string]struct {
			Type       string `yaml:"Type"`
			Properties struct {
				Policies []yaml.Node `yaml:"Policies"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[localstack.Access]bool{}
	for id, r := range doc.Resources {
		if r.Type != "AWS::Serverless::Function" {
			continue
		}
		out[id] = map[localstack.Access]bool{}
		for _, p := range r.Properties.Policies {
			var pol struct {
				Statement []struct {
					Action   []string  `yaml:"Action"`
					Resource yaml.Node `yaml:"Resource"`
				} `yaml:"Statement"`
			}
			if p.Kind != yaml.MappingNode || p.Decode(&pol) != nil {
				continue // !Ref of the secrets' managed policy
			}
			for _, st := range pol.Statement {
				res := ""
				switch {
				case st.Resource.Tag == "!GetAtt" && st.Resource.Value == "Table.Arn":
					res = "table"
				case st.Resource.Tag == "!Sub" && strings.HasPrefix(st.Resource.Value, "${Table.Arn}/"):
					res = strings.TrimPrefix(st.Resource.Value, "${Table.Arn}/")
				case st.Resource.Tag == "!GetAtt" && strings.HasSuffix(st.Resource.Value, "Function.Arn"):
					res = strings.TrimSuffix(st.Resource.Value, ".Arn")
				default:
					continue
				}
				for _, a := range st.Action {
					if strings.HasPrefix(a, "dynamodb:") || a == "lambda:InvokeFunction" {
						out[id][localstack.Access{Action: a, Resource: res}] = true
					}
				}
			}
		}
	}
	return out
}

// TestEachFunctionIsGrantedWhatItCalls drives every function through its
// paths on the local stack, records the DynamoDB permissions each request
// needed (per function; a transaction needs each item's action), and holds
// template.yaml to them: every permission used is granted (or the function
// would fail in AWS), and every permission granted is used (least privilege).
func TestEachFunctionIsGrantedWhatItCalls(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := context.Background()
	// In AWS each function has its own in-memory catalogue; the local
	// stack's functions share one, so it is emptied before each step.
	cold := h.s.Backend.Catalog.Invalidate
	for _, id := range []string{"TemplatesFunction", "QuotaFunction"} {
		if err := h.s.RunSchedule(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// Reports and popup events (first and later), a change event, sends
	// (sent, refused with a key, unknown then settled by its sent event).
	u := h.login("oAccessUser0000000000000000")
	cold()
	h.accept(u, oneTime, 3)
	h.accept(u, longTerm, 1)
	cold()
	p := h.popup(u, oneTime, "filter")
	if a := h.report(u, p); a.status != 200 {
		t.Fatalf("a filter report: %d %s", a.status, a.raw)
	}
	if a := h.api("GET", "/v1/subscriptions", u.token, nil); a.status != 200 {
		t.Fatalf("GET /v1/subscriptions: %d %s", a.status, a.raw)
	}
	if a := h.admin("GET", "/v1/users/"+u.openid+"/subscriptions", nil); a.status != 200 {
		t.Fatalf("GET users subscriptions: %d %s", a.status, a.raw)
	}
	if a := h.api("GET", "/v1/templates", u.token, nil); a.status != 200 {
		t.Fatalf("GET /v1/templates: %d %s", a.status, a.raw)
	}
	cold()
	sent := h.send(u.openid, oneTime, "Idempotency-Key", "access-1")
	id, _ := sent.messageID()
	if sent.status != 200 {
		t.Fatalf("send: %d %s", sent.status, sent.raw)
	}
	if a := h.admin("GET", "/v1/messages/"+id, nil); a.status != 200 {
		t.Fatalf("GET message: %d %s", a.status, a.raw)
	}
	h.fault(map[string]any{"path": sendPath, "drop": true, "count": 1})
	if a := h.send(u.openid, oneTime); a.status != 504 {
		t.Fatalf("dropped send: %d %s", a.status, a.raw)
	}
	cold()
	h.s.Sim.Flush() // the sent events: one found by msgid, one through gsi1
	// WeChat refuses the token: the send has the refresher fetch a new one.
	h.sim("POST", "/__sim/tokens/invalidate", nil)
	if a := h.send(u.openid, longTerm); a.status != 200 {
		t.Fatalf("long-term send: %d %s", a.status, a.raw)
	}
	if err := h.s.Sim.SwitchOff(u.openid, oneTime); err != nil { // a change event
		t.Fatal(err)
	}
	h.s.Sim.Flush()
	if a := h.send(u.openid, oneTime, "Idempotency-Key", "access-2"); a.status != 409 {
		t.Fatalf("send after the switch-off: %d %s", a.status, a.raw)
	}
	if a := h.admin("GET", "/v1/quota", nil); a.status != 200 {
		t.Fatalf("GET /v1/quota: %d %s", a.status, a.raw)
	}
	// A template WeChat no longer lists: the sync deletes it.
	if err := h.s.Backend.Store.PutTemplate(ctx, h.appid, store.Template{ID: "retiredTemplate", Title: "停用", Type: 2}); err != nil {
		t.Fatal(err)
	}
	if a := h.admin("POST", "/v1/templates/sync", nil); a.status != 200 {
		t.Fatalf("sync: %d %s", a.status, a.raw)
	}

	// A broadcast, its state and its per-user outcomes.
	v := h.login("oAccessBcast000000000000000")
	h.accept(v, oneTime, 1)
	h.waitIndexed(oneTime, 2)
	cold()
	b := h.broadcast(oneTime, exampleData(oneTime))
	if b.status != 202 {
		t.Fatalf("broadcast: %d %s", b.status, b.raw)
	}
	bid := b.body["broadcast_id"].(string)
	h.s.BroadcastQueue.Wait()
	h.drain()
	// A job delivered again, with the worker's catalogue cold (the POST
	// warmed the shared one): its send is replayed, after validation.
	cold()
	if err := h.s.BroadcastQueue.Enqueue(ctx, broadcasts.Job{Type: "send", BroadcastID: bid, OpenIDs: []string{v.openid}}); err != nil {
		t.Fatal(err)
	}
	h.s.BroadcastQueue.Wait()
	h.drain()
	if a := h.admin("GET", "/v1/broadcasts/"+bid, nil); a.status != 200 {
		t.Fatalf("GET broadcast: %d %s", a.status, a.raw)
	}
	if a := h.admin("GET", "/v1/broadcasts/"+bid+"/messages", nil); a.status != 200 {
		t.Fatalf("GET broadcast messages: %d %s", a.status, a.raw)
	}

	// A send that stopped before settling, for the sweep; and the token.
	w := h.login("oAccessSweep000000000000000")
	h.accept(w, oneTime, 1)
	old := time.Now().Add(-10 * time.Minute)
	m := store.Message{ID: ids.Random('m'), AppID: h.appid, OpenID: w.openid, TemplateID: oneTime,
		Status: ledger.Pending, Kind: ledger.OneTime, Attempt: "astopped", CreatedAt: old, UpdatedAt: old}
	k := store.RowKey{AppID: h.appid, OpenID: w.openid, TemplateID: oneTime}
	if err := h.s.Backend.Store.Reserve(ctx, store.Reservation{Row: k, Message: m}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"SweepFunction", "RefreshTokenFunction"} {
		if err := h.s.RunSchedule(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := h.s.Backend.Store.Message(ctx, m.ID); got.Status != ledger.Unknown {
		t.Fatalf("the sweep left the stopped send %s", got.Status)
	}

	// Reminders: one scheduled, listed and cancelled; one sent at its time
	// by the dispatcher beside a scheduled broadcast; one ended by a
	// zeroing (the tally's follow-up).
	r := h.login("oAccessRemind00000000000000")
	h.accept(r, oneTime, 3)
	h.later(0)
	c := h.remind(r.openid, oneTime, h.s.Sim.Now().Add(10*time.Minute))
	if c.status != 202 {
		t.Fatalf("reminder: %d %s", c.status, c.raw)
	}
	h.waitListed(r.openid, "scheduled", 1)
	if a := h.admin("DELETE", "/v1/messages/"+c.body["message_id"].(string), nil); a.status != 200 {
		t.Fatalf("cancel: %d %s", a.status, a.raw)
	}
	if a := h.remind(r.openid, oneTime, h.s.Sim.Now().Add(2*time.Minute)); a.status != 202 {
		t.Fatalf("reminder: %d %s", a.status, a.raw)
	}
	if a := h.admin("POST", "/v1/broadcasts", map[string]any{"template_id": oneTime, "data": exampleData(oneTime),
		"send_at": h.s.Sim.Now().Add(2 * time.Minute).Format(time.RFC3339)}); a.status != 202 {
		t.Fatalf("scheduled broadcast: %d %s", a.status, a.raw)
	}
	cold()
	h.later(3 * time.Minute)
	if a := h.remind(r.openid, oneTime, h.s.Sim.Now().Add(10*time.Minute)); a.status != 202 {
		t.Fatalf("reminder: %d %s", a.status, a.raw)
	}
	h.s.Sim.Flush()
	h.waitListed(r.openid, "scheduled", 1)
	if err := h.s.Sim.SwitchOff(r.openid, oneTime); err != nil {
		t.Fatal(err)
	}
	h.s.Sim.Flush()
	h.drain()
	// The tally ends it from the zeroing's stream record; should it not
	// have (gsi1 lagging under load), the dispatch at its time does.
	if !h.listedWithin(r.openid, "scheduled", 0, 10*time.Second) {
		h.later(11 * time.Minute)
		h.waitListed(r.openid, "scheduled", 0)
	}

	granted := grantedAccess(t)
	used := h.s.DynamoDBAccess()
	for fn, accesses := range used {
		if fn == "(no function)" {
			continue // the test's own set-up
		}
		for _, a := range accesses {
			if !granted[fn][a] {
				t.Errorf("%s calls %s on %s, which template.yaml does not grant it: it would fail in AWS", fn, a.Action, a.Resource)
			}
		}
	}
	// Paths this scenario does not reach, with why they are granted. The
	// token plane reads the token item when its in-memory copy is cold, and
	// takes the refresh lease (UpdateItem) for a bootstrap or a forced
	// refresh; in AWS each function has its own copy, in the local stack
	// they share one, which the start-up refresh already filled.
	const tokenPlane = "the token plane (a cold read; the lease of a bootstrap or forced refresh)"
	unreached := map[string]string{
		"RefreshTokenFunction dynamodb:UpdateItem table": "the refresh writes the token only when it is due",
		"QuotaFunction dynamodb:GetItem table":           tokenPlane,
		"QuotaFunction dynamodb:UpdateItem table":        tokenPlane,
		"TemplatesFunction dynamodb:GetItem table":       tokenPlane,
		"TemplatesFunction dynamodb:UpdateItem table":    tokenPlane,
		"TallyFunction dynamodb:GetItem table":           "a batch Lambda hands over again reads the marker of its first run",
	}
	// The JS-SDK route serves official accounts only: its grants are held to
	// what it calls by TestOfficialAccountFunctionsAreGrantedWhatTheyCall.
	unreached["JssdkFunction dynamodb:GetItem table"] = "official accounts only"
	unreached["JssdkFunction lambda:InvokeFunction RefreshTokenFunction"] = "official accounts only"
	for _, fn := range []string{"TemplatesFunction", "QuotaFunction", "BroadcastFunction", "BroadcastWorkerFunction"} {
		unreached[fn+" lambda:InvokeFunction RefreshTokenFunction"] = "the token plane's fetches (a bootstrap or forced refresh), made by the refresher"
	}
	for fn, set := range granted {
		have := map[localstack.Access]bool{}
		for _, a := range used[fn] {
			have[a] = true
		}
		for a := range set {
			key := fmt.Sprintf("%s %s %s", fn, a.Action, a.Resource)
			if !have[a] && unreached[key] == "" {
				t.Errorf("template.yaml grants %s %s on %s, which it never called here: grant only what is used", fn, a.Action, a.Resource)
			}
		}
	}
	if t.Failed() {
		t.Logf("used: %v", used)
	}
}

// TestOfficialAccountFunctionsAreGrantedWhatTheyCall drives an official
// account's paths from a cold start (no token, no ticket): the JS-SDK route
// has the refresher fetch the token and the ticket, reads the ticket item,
// and a page's report of a refused signature has the ticket fetched again.
// Every permission used is granted, and the JS-SDK function uses all of
// its grants.
func TestOfficialAccountFunctionsAreGrantedWhatTheyCall(t *testing.T) {
	t.Parallel()
	h := startFresh(t, officialAccount())
	page := "https://shop.example.com/notify"
	first := h.jssdkConfig(page)
	if first.status != 200 {
		t.Fatalf("jssdk-config from a cold start: %d %s", first.status, first.raw)
	}
	h.s.Sim.InvalidateTickets()
	if a := h.jssdkConfig(page, "failed", first.body["nonceStr"].(string)); a.status != 200 || h.wxConfig(a, page) != "config:ok" {
		t.Fatalf("repair: %d %s", a.status, a.raw)
	}
	u := h.login("")
	p := h.sim("POST", "/__sim/popup", map[string]any{"openid": u.openid, "results": map[string]string{oneTime: "accept"}})
	if a := h.api("POST", "/v1/subscriptions", u.token, map[string]any{"result": p.body, "report_id": "access-oa"}); a.status != 200 {
		t.Fatalf("report: %d %s", a.status, a.raw)
	}
	if err := h.s.RunSchedule(context.Background(), "RefreshTokenFunction"); err != nil {
		t.Fatal(err)
	}
	granted := grantedAccess(t)
	used := h.s.DynamoDBAccess()
	for fn, accesses := range used {
		if fn == "(no function)" {
			continue
		}
		for _, a := range accesses {
			if !granted[fn][a] {
				t.Errorf("%s calls %s on %s, which template.yaml does not grant it: it would fail in AWS", fn, a.Action, a.Resource)
			}
		}
	}
	have := map[localstack.Access]bool{}
	for _, a := range used["JssdkFunction"] {
		have[a] = true
	}
	for a := range granted["JssdkFunction"] {
		if !have[a] {
			t.Errorf("template.yaml grants JssdkFunction %s on %s, which it never called: grant only what is used", a.Action, a.Resource)
		}
	}
	if t.Failed() {
		t.Logf("used: %v", used)
	}
}
