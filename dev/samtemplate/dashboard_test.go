package samtemplate

// The checks of this file keep the dashboard and the server caller's policy
// in step with the template (its routes, alarms, resources) and with the
// metrics the code emits.

import (
	"encoding/json"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/wxsub/wxsub/shared/metrics"
)

// serverRouteARNs are the execute-api ARNs (as template.yaml writes them) of
// the routes with the IAM authorizer: any stage, the method, the path with
// each {parameter} as *.
func serverRouteARNs(s *source) map[string]bool {
	param := regexp.MustCompile(`\{[^}]+\}`)
	out := map[string]bool{}
	for _, fn := range s.tpl.Functions {
		for _, r := range fn.Routes {
			if r.IAM {
				out["!Sub arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/*/"+r.Method+param.ReplaceAllString(r.Path, "*")] = true
			}
		}
	}
	return out
}

// TestServerCallerPolicy: the policy output as ServerCallerPolicyArn grants
// execute-api:Invoke on every server route and on nothing else.
func TestServerCallerPolicy(t *testing.T) {
	s := loadSource(t)
	if got := render(get(s.root, "Outputs", "ServerCallerPolicyArn", "Value")); got != "!Ref ServerCallerPolicy" {
		t.Fatalf("output ServerCallerPolicyArn is %s", got)
	}
	want := serverRouteARNs(s)
	if len(want) < 8 {
		t.Fatalf("only %d server routes found", len(want))
	}
	got := map[string]bool{}
	for _, st := range statements(get(s.resources["ServerCallerPolicy"], "Properties", "PolicyDocument", "Statement")) {
		for _, a := range listOf(get(st, "Action")) {
			for _, r := range listOf(get(st, "Resource")) {
				if a != "execute-api:Invoke" || !want[r] {
					t.Errorf("ServerCallerPolicy grants %s on %s", a, r)
				}
				got[r] = true
			}
		}
	}
	for r := range want {
		if !got[r] {
			t.Errorf("ServerCallerPolicy does not grant the server route %s", r)
		}
	}
}

// dashboard returns the dashboard's body with each ${...} of its !Sub
// replaced by a placeholder, and the names it substitutes.
func dashboard(t *testing.T, s *source) (body map[string]any, subs []string) {
	t.Helper()
	fn, arg, ok := intrinsic(get(s.resources["Dashboard"], "Properties", "DashboardBody"))
	if !ok || fn != "Fn::Sub" {
		t.Fatalf("the DashboardBody is not a !Sub")
	}
	text, _ := literal(arg)
	subs = subVariables(text)
	text = regexp.MustCompile(`\$\{[^}]+\}`).ReplaceAllString(text, "X")
	if err := json.Unmarshal([]byte(text), &body); err != nil {
		t.Fatalf("the DashboardBody is not JSON: %v", err)
	}
	return body, subs
}

// TestDashboardShowsWhatTheCodeEmits: the dashboard is valid JSON, refers
// to resources of the template, reads the metrics of namespace wxsub under
// dimensions the code publishes, shows each thing an operator watches, and
// lists every alarm.
func TestDashboardShowsWhatTheCodeEmits(t *testing.T) {
	s := loadSource(t)
	body, subs := dashboard(t, s)
	for _, v := range subs {
		id, _, _ := strings.Cut(v, ".")
		if _, ok := s.resources[id]; !ok && !strings.HasPrefix(v, "AWS::") {
			t.Errorf("the dashboard substitutes ${%s}, which is no resource", v)
		}
	}
	shown := map[string]bool{}
	alarms := map[string]bool{}
	search := regexp.MustCompile(`^SEARCH\('\{wxsub((?:,\w+)*)\} MetricName="(\w+)"`)
	for _, w := range body["widgets"].([]any) {
		p := w.(map[string]any)["properties"].(map[string]any)
		for _, a := range asList(p["alarms"]) {
			alarms[a.(string)] = true
		}
		for _, m := range asList(p["metrics"]) {
			row := m.([]any)
			if opts, ok := row[0].(map[string]any); ok {
				expr, _ := opts["expression"].(string)
				g := search.FindStringSubmatch(expr)
				if g == nil {
					t.Errorf("expression %q: not a SEARCH of namespace wxsub", expr)
					continue
				}
				dims := strings.Split(strings.TrimPrefix(g[1], ","), ",")
				checkPublished(t, g[2], dims)
				shown["wxsub/"+g[2]+"/"+strings.Join(dims, ",")] = true
				continue
			}
			ns, name := row[0].(string), row[1].(string)
			var dims []string
			for i := 2; i+1 < len(row); i += 2 {
				if d, ok := row[i].(string); ok {
					dims = append(dims, d)
				}
			}
			if ns == metrics.Namespace {
				checkPublished(t, name, dims)
			}
			shown[ns+"/"+name] = true
		}
	}
	for _, want := range []string{
		"wxsub/Sends", "wxsub/Sends/Outcome,ErrCode",
		"wxsub/CreditsGranted", "wxsub/CreditsSpent", "wxsub/CreditsReleased",
		"wxsub/TokenAgeSeconds", "wxsub/TokenRefreshes", "wxsub/QuotaRemainingPercent/Path",
		"AWS/SQS/ApproximateNumberOfMessagesVisible", "AWS/SQS/NumberOfMessagesDeleted",
		"AWS/ApiGateway/Latency", "AWS/ApiGateway/4xx", "AWS/ApiGateway/5xx",
	} {
		if !shown[want] {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
	var want []string
	for id, typ := range s.types {
		if typ == "AWS::CloudWatch::Alarm" {
			want = append(want, id)
			if !alarms["X"] || !slices.Contains(subs, id+".Arn") {
				t.Errorf("the dashboard's alarm widget does not list %s", id)
			}
		}
	}
	sort.Strings(want)
	if len(want) == 0 {
		t.Fatal("the template has no alarm")
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// checkPublished fails a wxsub metric read under dimensions the code does
// not publish it with (every prefix of its dimensions).
func checkPublished(t *testing.T, name string, dims []string) {
	t.Helper()
	pub, ok := published[name]
	if !ok {
		t.Errorf("the dashboard reads wxsub/%s, which the code does not emit", name)
		return
	}
	if len(dims) == 1 && dims[0] == "" {
		dims = nil
	}
	if len(dims) > len(pub) || !slices.Equal(pub[:len(dims)], dims) {
		t.Errorf("the dashboard reads wxsub/%s by %v; the code publishes it by the prefixes of %v", name, dims, pub)
	}
}

// TestDashboardUrlNamesThePartitionsConsole: the DashboardUrl output opens
// the AWS console of the stack's partition (console.amazonaws.cn in China).
func TestDashboardUrlNamesThePartitionsConsole(t *testing.T) {
	s := loadSource(t)
	out := render(get(s.root, "Outputs", "DashboardUrl", "Value"))
	want := `!If [InChina, !Sub "https://console.amazonaws.cn/cloudwatch/home?region=${AWS::Region}#dashboards:name=${Dashboard}", ` +
		`!Sub "https://console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}#dashboards:name=${Dashboard}"]`
	if out != want {
		t.Fatalf("DashboardUrl is\n%s\nwant\n%s", out, want)
	}
	for partition, china := range map[string]bool{"aws": false, "aws-cn": true, "aws-us-gov": false} {
		if got := renderWith(t, s, map[string]string{"AWS::Partition": partition}).conds["InChina"]; got != china {
			t.Errorf("partition %s: InChina %v", partition, got)
		}
	}
}
