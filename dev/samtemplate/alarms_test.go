package samtemplate

// The checks of this file keep template.yaml's alarms in step with the
// metrics the code emits (shared/metrics) and the thresholds the code
// documents (refresher.AgeAlarm, quota.LowPercent).

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wxsub/wxsub/shared/metrics"
	"github.com/wxsub/wxsub/shared/quota"
	"github.com/wxsub/wxsub/shared/refresher"
)

// published are the dimension sets under which the code publishes each
// metric of namespace wxsub: every prefix of its dimensions (metrics.Emit).
var published = map[string][]string{
	metrics.Sends:                 {metrics.Outcome, metrics.ErrCode},
	metrics.CreditsGranted:        nil,
	metrics.CreditsSpent:          nil,
	metrics.CreditsReleased:       nil,
	metrics.TokenRefreshes:        {metrics.Cause},
	metrics.TokenAgeSeconds:       nil,
	metrics.ValidationFailures:    {metrics.Template},
	metrics.QuotaRemainingPercent: {metrics.Path},
}

// metricRef is a metric an alarm reads.
type metricRef struct {
	namespace, name string
	dims            []string // dimension names, in template order
	line            int
}

func alarmMetrics(n *yaml.Node) []metricRef {
	var out []metricRef
	dims := func(d *yaml.Node) []string {
		var names []string
		for _, it := range items(d) {
			v, _ := literal(get(it, "Name"))
			names = append(names, v)
		}
		return names
	}
	props := get(n, "Properties")
	if name, ok := literal(get(props, "MetricName")); ok {
		ns, _ := literal(get(props, "Namespace"))
		out = append(out, metricRef{ns, name, dims(get(props, "Dimensions")), props.Line})
	}
	for _, q := range items(get(props, "Metrics")) {
		m := get(q, "MetricStat", "Metric")
		if m == nil {
			continue
		}
		ns, _ := literal(get(m, "Namespace"))
		name, _ := literal(get(m, "MetricName"))
		out = append(out, metricRef{ns, name, dims(get(m, "Dimensions")), m.Line})
	}
	return out
}

func TestAlarmsNotifyTheOptionalTopic(t *testing.T) {
	s := loadSource(t)
	if got := render(get(s.root, "Conditions", "HasAlarmTopic")); got != `!Not [!Equals [!Ref AlarmTopicArn, ""]]` {
		t.Errorf("condition HasAlarmTopic is %s, want true exactly when AlarmTopicArn is set", got)
	}
	// notifiesTopic: !If [HasAlarmTopic, [!Ref AlarmTopicArn], !Ref AWS::NoValue].
	notifiesTopic := func(v *yaml.Node) bool {
		fn, arg, ok := intrinsic(v)
		if !ok || fn != "Fn::If" || len(arg.Content) != 3 {
			return false
		}
		cond, _ := literal(arg.Content[0])
		then := items(arg.Content[1])
		thenFn, thenArg, _ := intrinsic(firstOf(then))
		elseFn, elseArg, _ := intrinsic(arg.Content[2])
		return cond == "HasAlarmTopic" && len(then) == 1 && thenFn == "Ref" && thenArg.Value == "AlarmTopicArn" &&
			elseFn == "Ref" && elseArg.Value == "AWS::NoValue"
	}
	n := 0
	for id, typ := range s.types {
		if typ != "AWS::CloudWatch::Alarm" {
			continue
		}
		n++
		for _, k := range []string{"AlarmActions", "OKActions"} {
			if v := get(s.resources[id], "Properties", k); !notifiesTopic(v) {
				t.Errorf("%s: %s is %s, want !If [HasAlarmTopic, [!Ref AlarmTopicArn], !Ref AWS::NoValue]", id, k, render(v))
			}
		}
		if d, _ := literal(get(s.resources[id], "Properties", "AlarmDescription")); d == "" {
			t.Errorf("%s has no AlarmDescription (the operator reads it in the notification)", id)
		}
	}
	if n < 4 {
		t.Errorf("%d alarms, want at least the refresher, token age, send failure rate and quota alarms", n)
	}
}

func TestAlarmsReadMetricsTheCodeEmits(t *testing.T) {
	s := loadSource(t)
	for id, typ := range s.types {
		if typ != "AWS::CloudWatch::Alarm" {
			continue
		}
		refs := alarmMetrics(s.resources[id])
		if len(refs) == 0 {
			t.Errorf("%s reads no metric", id)
		}
		for _, m := range refs {
			if m.namespace != metrics.Namespace {
				continue
			}
			dims, ok := published[m.name]
			if !ok {
				t.Errorf("%s: line %d: the code emits no metric %s", id, m.line, m.name)
				continue
			}
			if !slices.Equal(m.dims, dims[:min(len(m.dims), len(dims))]) || len(m.dims) > len(dims) {
				t.Errorf("%s: line %d: %s is published with dimensions %v (and their prefixes), not %v", id, m.line, m.name, dims, m.dims)
			}
		}
	}
}

func firstOf(ns []*yaml.Node) *yaml.Node {
	if len(ns) == 0 {
		return nil
	}
	return ns[0]
}

func number(t *testing.T, n *yaml.Node, what string) float64 {
	t.Helper()
	v, ok := literal(n)
	f, err := strconv.ParseFloat(v, 64)
	if !ok || err != nil {
		t.Fatalf("%s is not a number: %q", what, v)
	}
	return f
}

func TestTheFourAlarms(t *testing.T) {
	s := loadSource(t)
	alarm := func(id string) *yaml.Node {
		t.Helper()
		if s.types[id] != "AWS::CloudWatch::Alarm" {
			t.Fatalf("no alarm %s", id)
		}
		return get(s.resources[id], "Properties")
	}
	lit := func(n *yaml.Node, keys ...string) string {
		v, _ := literal(get(n, keys...))
		return v
	}

	p := alarm("RefreshTokenFailingAlarm")
	if lit(p, "Namespace") != "AWS/Lambda" || lit(p, "MetricName") != "Errors" ||
		render(get(items(get(p, "Dimensions"))[0], "Value")) != "!Ref RefreshTokenFunction" {
		t.Error("RefreshTokenFailingAlarm does not watch the refresher's Lambda errors")
	}
	if lit(p, "Period") != "300" || lit(p, "EvaluationPeriods") != "3" || lit(p, "DatapointsToAlarm") != "2" ||
		lit(p, "Threshold") != "1" || lit(p, "ComparisonOperator") != "GreaterThanOrEqualToThreshold" {
		t.Error("RefreshTokenFailingAlarm is not: errors >= 1 in 2 of 3 five-minute periods")
	}

	p = alarm("TokenAgeAlarm")
	if lit(p, "MetricName") != metrics.TokenAgeSeconds || lit(p, "Statistic") != "Maximum" ||
		lit(p, "ComparisonOperator") != "GreaterThanThreshold" {
		t.Error("TokenAgeAlarm is not on the maximum TokenAgeSeconds")
	}
	if got := number(t, get(p, "Threshold"), "TokenAgeAlarm.Threshold"); got != refresher.AgeAlarm.Seconds() {
		t.Errorf("TokenAgeAlarm fires at %v s, refresher.AgeAlarm says %v s", got, refresher.AgeAlarm.Seconds())
	}
	if lit(p, "TreatMissingData") != "breaching" {
		t.Error("TokenAgeAlarm must fire when the refresher stops reporting (TreatMissingData: breaching)")
	}
	if period := number(t, get(p, "Period"), "TokenAgeAlarm.Period"); period < 600 {
		t.Errorf("TokenAgeAlarm's period %v s can miss a 5-minute run and fire on missing data", period)
	}

	p = alarm("SendFailureRateAlarm")
	var expr []string
	for _, q := range items(get(p, "Metrics")) {
		if e := lit(q, "Expression"); e != "" {
			expr = append(expr, lit(q, "Id")+"="+e)
		}
		if st := get(q, "MetricStat"); st != nil && lit(st, "Period") != "900" {
			t.Errorf("SendFailureRateAlarm: %s is not over 15 minutes", lit(q, "Id"))
		}
	}
	joined := strings.Join(expr, "; ")
	if !strings.Contains(joined, ">= 20") || !strings.Contains(joined, "100 * FILL(failed, 0) / total") ||
		number(t, get(p, "Threshold"), "SendFailureRateAlarm.Threshold") != 20 {
		t.Errorf("SendFailureRateAlarm is not failed/(sent+failed) > 20%% with at least 20 sends: %s", joined)
	}

	p = alarm("QuotaLowAlarm")
	if lit(p, "MetricName") != metrics.QuotaRemainingPercent || lit(p, "Statistic") != "Minimum" ||
		lit(p, "ComparisonOperator") != "LessThanThreshold" || get(p, "Dimensions") != nil {
		t.Error("QuotaLowAlarm is not on the minimum QuotaRemainingPercent of every path")
	}
	if got := number(t, get(p, "Threshold"), "QuotaLowAlarm.Threshold"); got != quota.LowPercent {
		t.Errorf("QuotaLowAlarm fires below %v%%, the quota watch warns below %v%%", got, quota.LowPercent)
	}
}
