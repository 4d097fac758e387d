package localstack_test

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/localstack"
	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/store"
)

const stableTokenPath = "/cgi-bin/stable_token"

// quotaSlot returns one path's slot of a GET /v1/quota answer.
func quotaSlot(t *testing.T, a answer, path string) map[string]any {
	t.Helper()
	wc, _ := a.body["wechat"].(map[string]any)
	slot, ok := wc[path].(map[string]any)
	if !ok {
		t.Fatalf("no slot for %s: %s", path, a.raw)
	}
	return slot
}

func (h *harness) quota() answer {
	h.t.Helper()
	h.drain() // today's counts follow the table's stream
	a := h.admin("GET", "/v1/quota", nil)
	if a.status != 200 {
		h.t.Fatalf("GET /v1/quota: %d %s", a.status, a.raw)
	}
	return a
}

// checkToday compares the answer's today with want (failed as a map).
func checkToday(t *testing.T, a answer, want map[string]any) {
	t.Helper()
	today, _ := a.body["today"].(map[string]any)
	if today["day"] != store.ChinaDay(time.Now()) {
		t.Errorf("today.day %v, want %s (China time)", today["day"], store.ChinaDay(time.Now()))
	}
	for k, w := range want {
		got, _ := json.Marshal(today[k])
		exp, _ := json.Marshal(w)
		if string(got) != string(exp) {
			t.Errorf("today.%s = %s, want %s", k, got, exp)
		}
	}
}

func TestQuotaRouteMatchesWeChatAndTodaysCounts(t *testing.T) {
	t.Parallel()
	h := start(t)
	if a := h.admin("POST", "/v1/templates/sync", nil); a.status != 200 { // so that long-term is known
		t.Fatalf("sync: %d %s", a.status, a.raw)
	}
	h.s.Sim.SetQuota(sendPath, 50)
	if a := h.api("GET", "/v1/quota", "", nil); a.status != 401 {
		t.Fatalf("GET /v1/quota without the admin key: %d", a.status)
	}
	u := h.login("oQuotaCounts0000000000000000")
	h.accept(u, oneTime, 5)
	for i := 0; i < 2; i++ {
		if a := h.send(u.openid, oneTime); a.status != 200 {
			t.Fatalf("send: %d %s", a.status, a.raw)
		}
	}

	a := h.quota()
	send := quotaSlot(t, a, sendPath)
	if send["daily_limit"] != 50.0 || send["used"] != 2.0 || send["remain"] != 48.0 {
		t.Errorf("subscribe/send after 2 sends under a limit of 50: %v", send)
	}
	if rl, _ := send["rate_limit"].(map[string]any); rl["refresh_second"] != 60.0 || rl["call_count"].(float64) <= 0 {
		t.Errorf("subscribe/send rate_limit: %v", send["rate_limit"])
	}
	tok := quotaSlot(t, a, stableTokenPath)
	if calls := float64(h.s.Sim.Stats().Calls[stableTokenPath]); tok["used"] != calls || tok["daily_limit"] != 500000.0 ||
		tok["remain"] != 500000.0-calls {
		t.Errorf("stable_token after %v token calls: %v", calls, tok)
	}
	checkToday(t, a, map[string]any{"sent": 2, "unknown": 0, "failed": map[string]int{}, "granted": 5, "spent": 2, "released": 0})

	// A 45009, a lost connection (unknown) and a 43101, then a long-term send
	// and a refusal that never reaches WeChat.
	h.fault(map[string]any{"path": sendPath, "errcode": 45009, "count": 1})
	if a := h.send(u.openid, oneTime); a.status != 429 || a.errCode() != "quota_exhausted" {
		t.Fatalf("45009: %d %s", a.status, a.raw)
	}
	h.fault(map[string]any{"path": sendPath, "drop": true, "count": 1})
	if a := h.send(u.openid, oneTime); a.status != 504 {
		t.Fatalf("lost connection: %d %s", a.status, a.raw)
	}
	h.fault(map[string]any{"path": sendPath, "errcode": 43101, "count": 1})
	if a := h.send(u.openid, oneTime); a.status != 409 {
		t.Fatalf("43101: %d %s", a.status, a.raw)
	}
	h.accept(u, longTerm, 1)
	if a := h.send(u.openid, longTerm); a.status != 200 {
		t.Fatalf("long-term send: %d %s", a.status, a.raw)
	}
	if a := h.send(u.openid, oneTime); a.status != 409 {
		t.Fatalf("send without credit: %d %s", a.status, a.raw)
	}
	h.checkInvariant(u.openid, oneTime)
	checkToday(t, h.quota(), map[string]any{
		"sent": 3, "unknown": 1, "failed": map[string]int{"43101": 1, "45009": 1},
		"granted": 5, "spent": 4, "released": 1,
	})

	// WeChat's real quota runs out: 429 quota_exhausted, the credit kept, remain 0.
	used := int64(quotaSlot(t, h.quota(), sendPath)["used"].(float64))
	h.s.Sim.SetQuota(sendPath, used)
	h.accept(u, oneTime, 1)
	if a := h.send(u.openid, oneTime); a.status != 429 || a.errCode() != "quota_exhausted" {
		t.Fatalf("send over WeChat's daily quota: %d %s", a.status, a.raw)
	}
	if r := h.checkInvariant(u.openid, oneTime); r.Credits != 1 {
		t.Errorf("45009 did not keep the credit: %+v", r)
	}
	a = h.quota()
	if s := quotaSlot(t, a, sendPath); s["remain"] != 0.0 || s["daily_limit"] != float64(used) {
		t.Errorf("subscribe/send at its limit: %v", s)
	}
	checkToday(t, a, map[string]any{"failed": map[string]int{"43101": 1, "45009": 2}, "granted": 6, "released": 2})
}

func TestQuotaShowsOnePathsFailureInItsSlot(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.fault(map[string]any{"path": wechatsim.PathQuotaGet, "errcode": 76021, "count": 1})
	a := h.quota()
	bad, _ := quotaSlot(t, a, sendPath)["error"].(map[string]any)
	if bad["code"] != "wechat_error" || bad["wechat"].(map[string]any)["errcode"] != 76021.0 {
		t.Errorf("the failed path's slot: %s", a.raw)
	}
	if tok := quotaSlot(t, a, stableTokenPath); tok["daily_limit"] != 500000.0 {
		t.Errorf("the other path's slot: %v", tok)
	}
	if _, ok := a.body["today"].(map[string]any); !ok {
		t.Error("no today")
	}
}

func TestQuotaFollowsTheTokenAPI(t *testing.T) {
	t.Parallel()
	h := start(t, func(o *localstack.Options) {
		prev := o.Getenv
		o.Getenv = func(name string) string {
			if name == "WECHAT_TOKEN_API" {
				return "classic"
			}
			return prev(name)
		}
	})
	a := h.quota()
	wc := a.body["wechat"].(map[string]any)
	if _, ok := wc[stableTokenPath]; ok || len(wc) != 2 {
		t.Fatalf("classic mode shows %s: %s", stableTokenPath, a.raw)
	}
	if tok := quotaSlot(t, a, "/cgi-bin/token"); tok["daily_limit"] != 2000.0 || tok["used"].(float64) < 1 {
		t.Errorf("/cgi-bin/token: %v", tok)
	}
}

// TestQuotaWatch runs the hourly watch: it logs every path's quota and emits
// QuotaRemainingPercent per path, warning only for a path below 10%.
func TestQuotaWatch(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.s.Sim.SetQuota(sendPath, 20)
	u := h.login("oQuotaWatch00000000000000000")
	h.accept(u, oneTime, 2)
	h.send(u.openid, oneTime)
	h.send(u.openid, oneTime)
	if err := h.s.RunSchedule(context.Background(), "QuotaFunction"); err != nil {
		t.Fatal(err)
	}
	tok := quotaSlot(t, h.quota(), stableTokenPath)
	wantTok := 100 * tok["remain"].(float64) / tok["daily_limit"].(float64)
	percent := func(path string) []float64 {
		var vs []float64
		for _, r := range emfRecords(t, h.logs.String()) {
			if r.metric == "QuotaRemainingPercent" && r.dim("Path") == path {
				if r.unit != "Percent" {
					t.Errorf("QuotaRemainingPercent unit %q", r.unit)
				}
				vs = append(vs, r.value)
			}
		}
		return vs
	}
	if vs := percent(sendPath); len(vs) != 1 || vs[0] != 90 {
		t.Fatalf("QuotaRemainingPercent for subscribe/send: %v, want [90]", vs)
	}
	if vs := percent(stableTokenPath); len(vs) != 1 || math.Abs(vs[0]-wantTok) > 0.01 {
		t.Fatalf("QuotaRemainingPercent for stable_token: %v, want [%v]", vs, wantTok)
	}
	if n := len(watchLines(t, h, "WARN")); n != 0 {
		t.Fatalf("%d warnings with 90%% left", n)
	}

	// Under 10% left: a warning for that path only.
	h.s.Sim.SetQuota(sendPath, 21) // 19 of 21 left: 90.5%
	h.accept(u, oneTime, 18)
	for i := 0; i < 18; i++ {
		if a := h.send(u.openid, oneTime); a.status != 200 {
			t.Fatalf("send %d: %d %s", i, a.status, a.raw)
		}
	}
	if err := h.s.RunSchedule(context.Background(), "QuotaFunction"); err != nil {
		t.Fatal(err)
	}
	if vs := percent(sendPath); len(vs) != 2 || math.Abs(vs[1]-100.0/21) > 0.01 {
		t.Fatalf("QuotaRemainingPercent for subscribe/send: %v, want [90 %.2f]", vs, 100.0/21)
	}
	warns := watchLines(t, h, "WARN")
	if len(warns) != 1 || warns[0]["path"] != sendPath || warns[0]["remain"] != 1.0 {
		t.Fatalf("warnings: %v", warns)
	}
	if len(watchLines(t, h, "INFO")) != 3 {
		t.Errorf("want one INFO line per healthy path and run: %v", watchLines(t, h, "INFO"))
	}
}

// watchLines returns the quota watch's log lines at level.
func watchLines(t *testing.T, h *harness, level string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(h.logs.String()))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil || line["level"] != level {
			continue
		}
		if msg, _ := line["msg"].(string); msg == "quota" || strings.HasPrefix(msg, "quota low") {
			out = append(out, line)
		}
	}
	return out
}
