package loadgen

import (
	"testing"
	"time"
)

func TestPercentileIsTheNearestRank(t *testing.T) {
	var r Result
	for i := 1; i <= 10; i++ {
		r.latencies = append(r.latencies, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 5 * time.Millisecond}, {90, 9 * time.Millisecond}, {99, 10 * time.Millisecond}, {100, 10 * time.Millisecond}, {1, time.Millisecond}} {
		if got := r.Percentile(c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if got := (Result{}).Percentile(50); got != 0 {
		t.Errorf("p50 of no requests = %v, want 0", got)
	}
}

func TestMergeCombinesRuns(t *testing.T) {
	a := Result{Requests: 2, Failures: 1, FirstFailure: "first", Elapsed: time.Second,
		Counts:    Counts{DynamoDB: map[string]int64{"UpdateItem": 2}, WeChat: map[string]int64{PathSend: 2}},
		latencies: []time.Duration{3, 1}}
	b := Result{Requests: 3, Failures: 1, FirstFailure: "second", Elapsed: time.Second,
		Counts:    Counts{DynamoDB: map[string]int64{"UpdateItem": 3, "Query": 1}, TokenReads: 1, WeChat: map[string]int64{PathSend: 3}},
		latencies: []time.Duration{2, 5, 4}}
	m := Merge("both", a, b)
	if m.Requests != 5 || m.Failures != 2 || m.FirstFailure != "first" || m.Elapsed != 2*time.Second {
		t.Fatalf("merged %+v", m)
	}
	if m.RPS() != 2.5 {
		t.Errorf("rps %v, want 2.5", m.RPS())
	}
	if m.Counts.DynamoDBTotal() != 6 || m.Counts.DynamoDB["Query"] != 1 || m.Counts.TokenReads != 1 || m.Counts.WeChatTotal() != 5 {
		t.Errorf("merged counts %+v", m.Counts)
	}
	if m.Percentile(100) != 5 || m.Percentile(20) != 1 {
		t.Errorf("merged latencies are not sorted: %v", m.latencies)
	}
}
