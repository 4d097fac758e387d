package localstack_test

import (
	"bufio"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// emfRecord is one Embedded Metric Format line of the logs.
type emfRecord struct {
	namespace    string
	metric, unit string
	value        float64
	timestamp    time.Time
	sets         [][]string
	root         map[string]any
}

// dim returns a dimension's value ("" when the record has none of that name).
func (r emfRecord) dim(name string) string {
	for _, set := range r.sets {
		if slices.Contains(set, name) {
			v, _ := r.root[name].(string)
			return v
		}
	}
	return ""
}

// emfRecords parses the EMF lines among logs, failing on a malformed one.
func emfRecords(t *testing.T, logs string) []emfRecord {
	t.Helper()
	var out []emfRecord
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var root map[string]any
		if json.Unmarshal(sc.Bytes(), &root) != nil || root["_aws"] == nil {
			continue
		}
		var doc struct {
			AWS struct {
				Timestamp         int64
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name, Unit string }
				}
			} `json:"_aws"`
		}
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil || len(doc.AWS.CloudWatchMetrics) != 1 {
			t.Fatalf("malformed EMF line (%v): %s", err, sc.Text())
		}
		d := doc.AWS.CloudWatchMetrics[0]
		if len(d.Metrics) != 1 {
			t.Fatalf("want one metric per line: %s", sc.Text())
		}
		r := emfRecord{namespace: d.Namespace, metric: d.Metrics[0].Name, unit: d.Metrics[0].Unit,
			timestamp: time.UnixMilli(doc.AWS.Timestamp), sets: d.Dimensions, root: root}
		v, ok := root[r.metric].(float64)
		if !ok {
			t.Fatalf("the metric %s is not a number member of the root: %s", r.metric, sc.Text())
		}
		r.value = v
		for _, set := range d.Dimensions {
			for _, name := range set {
				if _, ok := root[name].(string); !ok {
					t.Fatalf("dimension %s is not a string member of the root: %s", name, sc.Text())
				}
			}
		}
		out = append(out, r)
	}
	return out
}

// countEMF sums the values of metric over the records whose dimensions
// include dims (nil: every record of the metric).
func countEMF(t *testing.T, logs, metric string, dims map[string]string) int {
	t.Helper()
	total := 0.0
	for _, r := range emfRecords(t, logs) {
		if r.metric != metric {
			continue
		}
		match := true
		for k, v := range dims {
			if r.dim(k) != v {
				match = false
			}
		}
		if match {
			total += r.value
		}
	}
	return int(total)
}

// TestMetricsOfSendsCreditsTokensAndValidation drives a send, a refused
// token, a 43101, a 45009, a validation failure and a long-term send, and
// checks the EMF lines the functions wrote: names, units, dimension sets and
// counts.
func TestMetricsOfSendsCreditsTokensAndValidation(t *testing.T) {
	t.Parallel()
	began := time.Now().Add(-time.Second)
	h := start(t) // runs the token refresher once: the bootstrap fetch
	if a := h.admin("POST", "/v1/templates/sync", nil); a.status != 200 {
		t.Fatalf("sync: %d %s", a.status, a.raw)
	}
	u := h.login("oMetrics000000000000000000000")
	h.accept(u, oneTime, 4)
	expect := func(a answer, status int) {
		t.Helper()
		if a.status != status {
			t.Fatalf("%d %s, want %d", a.status, a.raw, status)
		}
	}
	expect(h.send(u.openid, oneTime), 200)
	h.fault(map[string]any{"path": sendPath, "errcode": 40001, "count": 1})
	expect(h.send(u.openid, oneTime), 200) // retried with a force-refreshed token
	h.fault(map[string]any{"path": sendPath, "errcode": 43101, "count": 1})
	expect(h.send(u.openid, oneTime), 409) // the balance is now 0
	h.accept(u, oneTime, 1)
	h.fault(map[string]any{"path": sendPath, "errcode": 45009, "count": 1})
	expect(h.send(u.openid, oneTime), 429)
	bad := exampleData(oneTime)
	bad["thing2"] = map[string]string{"value": ""}
	expect(h.admin("POST", "/v1/messages", map[string]any{"touser": u.openid, "template_id": oneTime, "data": bad}), 422)
	h.accept(u, longTerm, 1)
	expect(h.send(u.openid, longTerm), 200)
	h.checkInvariant(u.openid, oneTime)

	logs := h.logs.String()
	for _, r := range emfRecords(t, logs) {
		if r.namespace != "wxsub" {
			t.Errorf("%s in namespace %q", r.metric, r.namespace)
		}
		if r.timestamp.Before(began) || r.timestamp.After(time.Now().Add(time.Second)) {
			t.Errorf("%s has timestamp %s, outside the test", r.metric, r.timestamp)
		}
		// Every prefix of the dimensions, starting with none.
		for i, set := range r.sets {
			if len(set) != i || (i > 0 && !slices.Equal(set[:i-1], r.sets[i-1])) {
				t.Errorf("%s: dimension sets %v are not the prefixes of %v", r.metric, r.sets, r.sets[len(r.sets)-1])
				break
			}
		}
	}
	for _, c := range []struct {
		metric string
		dims   map[string]string
		want   int
	}{
		{"Sends", map[string]string{"Outcome": "sent", "ErrCode": "0"}, 3},
		{"Sends", map[string]string{"Outcome": "failed", "ErrCode": "43101"}, 1},
		{"Sends", map[string]string{"Outcome": "failed", "ErrCode": "45009"}, 1},
		{"Sends", map[string]string{"Outcome": "failed"}, 2},
		{"Sends", nil, 5},
		{"CreditsGranted", nil, 5},
		{"CreditsSpent", nil, 3}, // two sent, one 43101; the long-term send spends none
		{"CreditsReleased", nil, 1},
		{"TokenRefreshes", map[string]string{"Cause": "bootstrap"}, 1},
		{"TokenRefreshes", map[string]string{"Cause": "bad_token"}, 1},
		{"ValidationFailures", map[string]string{"Template": oneTime}, 1},
	} {
		if got := countEMF(t, logs, c.metric, c.dims); got != c.want {
			t.Errorf("%s %v: %d, want %d", c.metric, c.dims, got, c.want)
		}
	}
	units := map[string]string{}
	for _, r := range emfRecords(t, logs) {
		units[r.metric] = r.unit
	}
	for metric, unit := range map[string]string{"Sends": "Count", "CreditsSpent": "Count", "TokenAgeSeconds": "Seconds"} {
		if units[metric] != unit {
			t.Errorf("%s has unit %q, want %s", metric, units[metric], unit)
		}
	}
	if !slices.ContainsFunc(emfRecords(t, logs), func(r emfRecord) bool { return r.metric == "TokenAgeSeconds" }) {
		t.Error("the refresher run emitted no TokenAgeSeconds")
	}
}

// TestRequestLogLines checks the one log line per request: request id,
// route, status, duration and appid, and never a token, a code, the admin key
// or a full openid.
func TestRequestLogLines(t *testing.T) {
	t.Parallel()
	h := start(t)
	code := h.sim("POST", "/__sim/login", map[string]string{"openid": "oRequestLog00000000000000000"}).body["code"].(string)
	s := h.api("POST", "/v1/session", "", map[string]string{"code": code})
	if s.status != 200 {
		t.Fatalf("login: %d %s", s.status, s.raw)
	}
	u := user{openid: s.body["openid"].(string), token: s.body["token"].(string)}
	h.accept(u, oneTime, 1)
	h.api("GET", "/v1/subscriptions", u.token, nil)
	h.api("GET", "/v1/templates", u.token, nil)
	h.admin("GET", "/v1/users/"+u.openid+"/subscriptions", nil)
	h.send(u.openid, oneTime)
	h.admin("GET", "/v1/quota", nil)
	h.api("GET", "/v1/subscriptions", "not-a-session", nil)

	routes := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(h.logs.String()))
	n := 0
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil || line["msg"] != "request" {
			continue
		}
		n++
		id, _ := line["request_id"].(string)
		route, _ := line["route"].(string)
		_, hasStatus := line["status"].(float64)
		_, hasDuration := line["duration_ms"].(float64)
		if id == "" || route == "" || !hasStatus || !hasDuration || line["appid"] != h.appid {
			t.Errorf("incomplete request line: %s", sc.Text())
		}
		routes[route] = true
		for name, secret := range map[string]string{"session token": u.token, "openid": u.openid,
			"wx.login code": code, "admin key": h.s.AdminKey, "access_token": mustToken(t, h)} {
			if strings.Contains(sc.Text(), secret) {
				t.Errorf("a request line carries the %s: %s", name, sc.Text())
			}
		}
	}
	for _, r := range []string{"POST /v1/session", "POST /v1/subscriptions", "GET /v1/templates",
		"GET /v1/users/{openid}/subscriptions", "POST /v1/messages", "GET /v1/quota"} {
		if !routes[r] {
			t.Errorf("no request line for %s", r)
		}
	}
	if n < 8 {
		t.Errorf("%d request lines for at least 8 requests", n)
	}
}
