package localstack_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/localstack"
	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/keyword"
	"github.com/wxsub/wxsub/shared/store"
)

const getTemplatePath = "/wxaapi/newtmpl/gettemplate"

// catalogueIDs returns the template ids of a GET /v1/templates or sync answer.
func catalogueIDs(t *testing.T, a answer) []string {
	t.Helper()
	ts, ok := a.body["templates"].([]any)
	if !ok {
		t.Fatalf("no templates array: %s", a.raw)
	}
	ids := []string{}
	for _, x := range ts {
		ids = append(ids, x.(map[string]any)["id"].(string))
	}
	return ids
}

// checkCatalogue asserts that an answer describes exactly the simulator's
// templates, keyword by keyword.
func checkCatalogue(t *testing.T, a answer) {
	t.Helper()
	want := map[string]wechatsim.Template{}
	var wantIDs []string
	for _, tpl := range wechatsim.DefaultTemplates() {
		want[tpl.ID] = tpl
		wantIDs = append(wantIDs, tpl.ID)
	}
	slices.Sort(wantIDs)
	if got := catalogueIDs(t, a); !slices.Equal(got, wantIDs) {
		t.Fatalf("templates %v, want the simulator's %v in id order", got, wantIDs)
	}
	for _, x := range a.body["templates"].([]any) {
		got := x.(map[string]any)
		w := want[got["id"].(string)]
		kind := "one_time"
		if w.Type == wechatsim.LongTerm {
			kind = "long_term"
		}
		if got["title"] != w.Title || got["type"] != kind {
			t.Errorf("%s: title %v type %v, want %s %s", w.ID, got["title"], got["type"], w.Title, kind)
		}
		kws, _ := got["keywords"].([]any)
		if len(kws) != len(w.Keywords) {
			t.Fatalf("%s: %d keywords, want %d: %v", w.ID, len(kws), len(w.Keywords), got)
		}
		for i, k := range w.Keywords {
			g := kws[i].(map[string]any)
			typ, _ := keyword.TypeOf(k.Key)
			if g["key"] != k.Key || g["name"] != k.Name || g["type"] != string(typ) {
				t.Errorf("%s keyword %d: %v, want key %s name %s type %s", w.ID, i, g, k.Key, k.Name, typ)
			}
			maxLen, _ := g["max_len"].(float64)
			if int(maxLen) != keyword.MaxLen(typ) {
				t.Errorf("%s.%s: max_len %v, want %d", w.ID, k.Key, g["max_len"], keyword.MaxLen(typ))
			}
			var enum []string
			for _, e := range asSlice(g["enum"]) {
				enum = append(enum, e.(string))
			}
			if !slices.Equal(enum, k.Enum) {
				t.Errorf("%s.%s: enum %v, want %v", w.ID, k.Key, enum, k.Enum)
			}
		}
	}
	if s, _ := a.body["synced_at"].(string); s == "" {
		t.Errorf("no synced_at after a sync: %s", a.raw)
	} else if _, err := time.Parse(time.RFC3339, s); err != nil {
		t.Errorf("synced_at %q: %v", s, err)
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func TestTemplateCatalogueRoutes(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oCatalogRoutes00000000000000")
	ctx := context.Background()

	// Before the first sync the catalogue is empty and says so.
	a := h.api("GET", "/v1/templates", u.token, nil)
	if a.status != 200 || a.raw != `{"templates":[],"synced_at":null}` {
		t.Fatalf("before the first sync: %d %s", a.status, a.raw)
	}
	// The mini-program route needs a session; the admin key is not one.
	for name, auth := range map[string]string{"no token": "", "a forged token": "eyJhbGciOiJIUzI1NiJ9.e30.x", "the admin key": h.s.AdminKey} {
		if a := h.api("GET", "/v1/templates", auth, nil); a.status != 401 || a.errCode() != "unauthorized" {
			t.Errorf("GET /v1/templates with %s: %d %s", name, a.status, a.raw)
		}
	}
	// The sync is a server route.
	if a := h.api("POST", "/v1/templates/sync", u.token, nil); a.status != 401 {
		t.Fatalf("sync with a session token: %d %s", a.status, a.raw)
	}

	// A template WeChat no longer lists is in the store.
	stale := store.Template{ID: "DeletedInTheConsole000000000000000000000000", Title: "已删除", Type: 2,
		Keywords: []store.Keyword{{Key: "thing1", Name: "旧", Type: "thing", MaxLen: 20}}, SyncedAt: time.Now().Add(-2 * time.Hour)}
	if err := h.s.Backend.Store.PutTemplate(ctx, h.appid, stale); err != nil {
		t.Fatal(err)
	}
	before := h.s.Sim.Stats().Calls[getTemplatePath]
	a = h.admin("POST", "/v1/templates/sync", nil)
	if a.status != 200 {
		t.Fatalf("sync: %d %s", a.status, a.raw)
	}
	checkCatalogue(t, a)
	if n := h.s.Sim.Stats().Calls[getTemplatePath] - before; n != 1 {
		t.Errorf("the sync called gettemplate %d times, want 1", n)
	}
	stored, err := h.s.Backend.Store.Templates(ctx, h.appid)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stored {
		if s.ID == stale.ID {
			t.Fatal("the sync kept a template WeChat no longer lists")
		}
	}
	if len(stored) != len(wechatsim.DefaultTemplates()) {
		t.Fatalf("%d templates stored, want %d", len(stored), len(wechatsim.DefaultTemplates()))
	}

	// The mini-program now reads the same catalogue.
	g := h.api("GET", "/v1/templates", u.token, nil)
	if g.status != 200 {
		t.Fatalf("GET after the sync: %d %s", g.status, g.raw)
	}
	checkCatalogue(t, g)
	if g.raw != a.raw {
		t.Errorf("GET and the sync answer differ:\n%s\n%s", g.raw, a.raw)
	}
	// The catalogue makes reports of unknown templates fail and long-term ones free.
	h.accept(u, wechatsim.TmplClinicVisit, 1)
	if r := h.row(u.openid, wechatsim.TmplClinicVisit); string(r.Kind) != "long_term" {
		t.Errorf("a long-term template was recorded as %s", r.Kind)
	}
}

func TestTemplateSyncWithABadTokenAndAFailingWeChat(t *testing.T) {
	t.Parallel()
	h := start(t)
	forced := h.s.Sim.Stats().ForceRefreshes
	// A refused token is reported and replaced once; the sync then succeeds.
	h.fault(map[string]any{"path": getTemplatePath, "errcode": 40001, "count": 1})
	a := h.admin("POST", "/v1/templates/sync", nil)
	if a.status != 200 {
		t.Fatalf("sync after a 40001: %d %s", a.status, a.raw)
	}
	checkCatalogue(t, a)
	if n := h.s.Sim.Stats().ForceRefreshes - forced; n != 1 {
		t.Errorf("%d forced token refreshes, want 1", n)
	}

	// WeChat failing leaves the catalogue as it was.
	h.fault(map[string]any{"path": getTemplatePath, "errcode": -1, "count": 1})
	a = h.admin("POST", "/v1/templates/sync", nil)
	if a.status != 502 || a.errCode() != "wechat_error" || !strings.Contains(a.raw, `"errcode":-1`) {
		t.Fatalf("sync while WeChat fails: %d %s", a.status, a.raw)
	}
	if ts, err := h.s.Backend.Store.Templates(context.Background(), h.appid); err != nil || len(ts) != len(wechatsim.DefaultTemplates()) {
		t.Fatalf("a failed sync changed the catalogue: %d templates, %v", len(ts), err)
	}
	// The scheduled run is the same sync.
	h.fault(map[string]any{"path": getTemplatePath, "errcode": -1, "count": 1})
	if err := h.s.RunSchedule(context.Background(), "TemplatesFunction"); err == nil {
		t.Error("a scheduled sync that WeChat failed reported no error")
	}
	calls := h.s.Sim.Stats().Calls[getTemplatePath]
	if err := h.s.RunSchedule(context.Background(), "TemplatesFunction"); err != nil {
		t.Fatal(err)
	}
	if h.s.Sim.Stats().Calls[getTemplatePath] != calls+1 {
		t.Error("the scheduled sync did not call gettemplate")
	}
}

// TestValidationDetailsPerKeyword sends data breaking a different rule in
// each keyword of a template: one detail per bad keyword with the rule the
// keyword package gives, WeChat not called, the credit untouched, and a
// ValidationFailures metric.
func TestValidationDetailsPerKeyword(t *testing.T) {
	t.Parallel()
	h := start(t)
	if a := h.admin("POST", "/v1/templates/sync", nil); a.status != 200 {
		t.Fatalf("sync: %d %s", a.status, a.raw)
	}
	tmpl := wechatsim.TmplParkingFee
	u := h.login("oValidation00000000000000000")
	h.accept(u, tmpl, 1)
	enum := []string{"待缴费", "已缴费", "已超时"}
	bad := map[string]string{
		"car_number1":  "粤B123456789",
		"time2":        "25:61",
		"enum_string4": "免费",
		"letter5":      "B2",
	}
	data := exampleData(tmpl)
	for k, v := range bad {
		data[k] = map[string]string{"value": v}
	}
	calls := h.s.Sim.Stats().Calls[sendPath]
	a := h.admin("POST", "/v1/messages", map[string]any{"touser": u.openid, "template_id": tmpl, "data": data})
	if a.status != 422 || a.errCode() != "invalid_data" {
		t.Fatalf("invalid data: %d %s", a.status, a.raw)
	}
	details := asSlice(a.body["error"].(map[string]any)["details"])
	got := map[string]string{}
	for _, d := range details {
		m := d.(map[string]any)
		key, _ := m["key"].(string)
		msg, _ := m["message"].(string)
		if !strings.Contains(msg, key) {
			t.Errorf("the message of %s does not name it: %q", key, msg)
		}
		got[key], _ = m["rule"].(string)
	}
	if len(details) != len(bad) {
		t.Errorf("%d details, want one per bad keyword (%d): %s", len(details), len(bad), a.raw)
	}
	for k, v := range bad {
		p := keyword.Check(k, v, enum)
		if p == nil {
			t.Fatalf("the keyword rules accept %s=%q; the test needs a bad value", k, v)
		}
		if got[k] != p.Rule {
			t.Errorf("%s=%q: rule %q, want %q", k, v, got[k], p.Rule)
		}
	}
	if h.s.Sim.Stats().Calls[sendPath] != calls {
		t.Error("WeChat was called for invalid data")
	}
	if r := h.row(u.openid, tmpl); r.Credits != 1 || r.Spent != 0 || r.Inflight != 0 {
		t.Errorf("invalid data touched the ledger: %+v", r)
	}
	if n := countEMF(t, h.logs.String(), "ValidationFailures", map[string]string{"Template": tmpl}); n != 1 {
		t.Errorf("%d ValidationFailures for %s, want 1", n, tmpl)
	}
}

// TestUnsyncedCatalogueLetsSendsThrough: before the first sync wxsub does not
// validate, so WeChat's own 47003 answers, and the credit is released.
func TestUnsyncedCatalogueLetsSendsThrough(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oUnsynced0000000000000000000")
	h.accept(u, oneTime, 1)
	data := exampleData(oneTime)
	data["thing2"] = map[string]string{"value": strings.Repeat("长", 21)}
	calls := h.s.Sim.Stats().Calls[sendPath]
	a := h.admin("POST", "/v1/messages", map[string]any{"touser": u.openid, "template_id": oneTime, "data": data})
	if a.status != 422 || a.errCode() != "invalid_data" || !strings.Contains(a.raw, `"errcode":47003`) {
		t.Fatalf("unvalidated send: %d %s", a.status, a.raw)
	}
	if h.s.Sim.Stats().Calls[sendPath] != calls+1 {
		t.Error("WeChat was not called before the first sync")
	}
	if r := h.checkInvariant(u.openid, oneTime); r.Credits != 1 {
		t.Errorf("47003 did not release the credit: %+v", r)
	}
	if n := countEMF(t, h.logs.String(), "ValidationFailures", nil); n != 0 {
		t.Errorf("%d ValidationFailures without a catalogue", n)
	}
}

// TestMakeRunShowsCatalogueAndQuota starts the stack as `make run` does, with
// its schedules, and runs the printed walk-through: its last step shows the
// synced catalogue and GET /v1/quota against the simulator.
func TestMakeRunShowsCatalogueAndQuota(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	h := start(t, func(o *localstack.Options) { o.NoSchedules = false })
	deadline := time.Now().Add(30 * time.Second)
	for {
		ts, err := h.s.Backend.Store.Templates(context.Background(), h.appid)
		if err == nil && len(ts) == len(wechatsim.DefaultTemplates()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the schedules did not sync the catalogue at start: %d templates, %v", len(ts), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.fastForwardReminders()
	out, err := exec.Command("bash", "-euo", "pipefail", "-c", h.s.WalkThrough()).CombinedOutput()
	if err != nil {
		t.Fatalf("walk-through failed: %v\n%s", err, out)
	}
	// Step 5's two answers: the catalogue, then the quotas.
	var templates, quota answer
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, `{"templates":`):
			templates = answerOf(t, line)
		case strings.HasPrefix(line, `{"wechat":`):
			quota = answerOf(t, line)
		}
	}
	if templates.body == nil || quota.body == nil {
		t.Fatalf("the walk-through did not show the catalogue and the quotas:\n%s", out)
	}
	checkCatalogue(t, templates)
	send, _ := quota.body["wechat"].(map[string]any)[sendPath].(map[string]any)
	if used, _ := send["used"].(float64); used != 2 {
		t.Errorf("subscribe/send used %v after the walk-through's two deliveries: %s", send["used"], quota.raw)
	}
	today, _ := quota.body["today"].(map[string]any)
	if today["sent"] != 2.0 || today["granted"] != 2.0 || today["spent"] != 2.0 {
		t.Errorf("today's counts after two grants and two sends: %v", today)
	}
}

func answerOf(t *testing.T, line string) answer {
	t.Helper()
	a := answer{status: 200, raw: line}
	if err := json.Unmarshal([]byte(line), &a.body); err != nil {
		t.Fatalf("not JSON: %v: %s", err, line)
	}
	return a
}
