package samtemplate

// The checks of this file keep template.yaml's queues deliverable: a job the
// worker fails comes back, and one that keeps failing ends where an alarm
// sees it.

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// consumers returns the functions that consume each queue, by logical id.
func consumers(s *source) map[string][]Function {
	out := map[string][]Function{}
	for _, fn := range s.tpl.Functions {
		for _, q := range fn.Queues {
			out[q.Resource] = append(out[q.Resource], fn)
		}
	}
	return out
}

func TestTheBroadcastWorkerIsBounded(t *testing.T) {
	s := loadSource(t)
	var worker *Function
	for i, fn := range s.tpl.Functions {
		if fn.LogicalID == "BroadcastWorkerFunction" {
			worker = &s.tpl.Functions[i]
		}
	}
	if worker == nil || len(worker.Queues) != 1 {
		t.Fatal("BroadcastWorkerFunction does not consume exactly one queue")
	}
	q := worker.Queues[0]
	if q.Resource != "BroadcastQueue" {
		t.Errorf("the worker consumes %s, want BroadcastQueue", q.Resource)
	}
	// Each worker invocation sends at BROADCAST_RATE / BROADCAST_WORKERS a
	// second, so the rate of all broadcasts holds only while at most
	// BROADCAST_WORKERS invocations run: MaximumConcurrency is that parameter.
	// An unbounded worker would scale with the queue.
	if q.MaxConcurrencyParam != "BroadcastWorkers" || q.MaxConcurrency != 10 {
		t.Errorf("the worker's MaximumConcurrency is %q (default %d), want !Ref BroadcastWorkers (default 10)", q.MaxConcurrencyParam, q.MaxConcurrency)
	}
	for v, param := range map[string]string{"BROADCAST_RATE": "BroadcastRate", "BROADCAST_WORKERS": "BroadcastWorkers"} {
		if got := worker.Env[v]; got != "!Ref "+param {
			t.Errorf("the worker's %s is %q, want !Ref %s", v, got, param)
		}
	}
	for name, want := range map[string]Parameter{
		"BroadcastRate": {Type: "Number", MinValue: "1", MaxValue: "1000", Default: "50"},
		// 2 to 1000 is what AWS allows for MaximumConcurrency.
		"BroadcastWorkers": {Type: "Number", MinValue: "2", MaxValue: "1000", Default: "10"},
	} {
		if got := s.tpl.Parameters[name]; got != want {
			t.Errorf("parameter %s is %+v, want %+v", name, got, want)
		}
	}
	if !q.ReportBatchItemFailures {
		t.Error("the worker does not report batch item failures: one failed job would bring back the whole batch")
	}
	for _, fn := range []string{"BroadcastFunction", "BroadcastWorkerFunction"} {
		for _, f := range s.tpl.Functions {
			if f.LogicalID == fn && f.Env["BROADCAST_QUEUE_URL"] != "!Ref BroadcastQueue" {
				t.Errorf("%s: BROADCAST_QUEUE_URL is %q, want !Ref BroadcastQueue (the queue's URL)", fn, f.Env["BROADCAST_QUEUE_URL"])
			}
		}
	}
}

func TestQueuesRedriveToAWatchedDeadLetterQueue(t *testing.T) {
	s := loadSource(t)
	lit := func(n *yaml.Node, keys ...string) string {
		v, _ := literal(get(n, keys...))
		return v
	}
	seconds := func(id, field string, v string) time.Duration {
		t.Helper()
		d, err := time.ParseDuration(v + "s")
		if err != nil {
			t.Fatalf("%s: %s %q is not a number of seconds", id, field, v)
		}
		return d
	}
	users := consumers(s)
	queues := 0
	for id, typ := range s.types {
		if typ != "AWS::SQS::Queue" {
			continue
		}
		queues++
		props := get(s.resources[id], "Properties")
		if lit(props, "SqsManagedSseEnabled") != "true" && get(props, "KmsMasterKeyId") == nil {
			t.Errorf("%s is not encrypted at rest", id)
		}
		fns, consumed := users[id]
		if !consumed {
			continue // a dead-letter queue
		}
		// Lambda wants a visibility timeout of at least 6 times the
		// function's timeout, or a message comes back while it is handled.
		vis := seconds(id, "VisibilityTimeout", lit(props, "VisibilityTimeout"))
		for _, fn := range fns {
			if vis < 6*fn.Timeout {
				t.Errorf("%s: VisibilityTimeout %v is less than 6 times %s's timeout %v", id, vis, fn.LogicalID, fn.Timeout)
			}
		}
		redrive := get(props, "RedrivePolicy")
		dlq := render(get(redrive, "deadLetterTargetArn"))
		dlqID, isGetAtt := strings.CutPrefix(dlq, "!GetAtt ")
		dlqID, isArn := strings.CutSuffix(dlqID, ".Arn")
		if !isGetAtt || !isArn || s.types[dlqID] != "AWS::SQS::Queue" || dlqID == id {
			t.Errorf("%s: RedrivePolicy.deadLetterTargetArn is %q, want !GetAtt <another queue>.Arn", id, dlq)
			continue
		}
		if _, alsoConsumed := users[dlqID]; alsoConsumed {
			t.Errorf("%s: its dead-letter queue %s is consumed by a function", id, dlqID)
		}
		if n := lit(redrive, "maxReceiveCount"); n == "" || n == "1" {
			t.Errorf("%s: maxReceiveCount %q gives a failed job no second try", id, n)
		}
		// A message keeps its first enqueue time in the dead-letter queue,
		// which must therefore keep it longer than the source queue did.
		keep := seconds(id, "MessageRetentionPeriod", lit(props, "MessageRetentionPeriod"))
		dlqKeep := seconds(dlqID, "MessageRetentionPeriod", lit(get(s.resources[dlqID], "Properties"), "MessageRetentionPeriod"))
		if dlqKeep <= keep {
			t.Errorf("%s keeps messages %v, its dead-letter queue %s only %v", id, keep, dlqID, dlqKeep)
		}
		watched := false
		for aid, typ := range s.types {
			if typ != "AWS::CloudWatch::Alarm" {
				continue
			}
			p := get(s.resources[aid], "Properties")
			dims := items(get(p, "Dimensions"))
			if lit(p, "Namespace") == "AWS/SQS" && lit(p, "MetricName") == "ApproximateNumberOfMessagesVisible" &&
				len(dims) == 1 && lit(dims[0], "Name") == "QueueName" &&
				render(get(dims[0], "Value")) == "!GetAtt "+dlqID+".QueueName" &&
				lit(p, "Threshold") == "0" && lit(p, "ComparisonOperator") == "GreaterThanThreshold" {
				watched = true
			}
		}
		if !watched {
			t.Errorf("no alarm fires when a message reaches %s (ApproximateNumberOfMessagesVisible > 0)", dlqID)
		}
	}
	if queues == 0 {
		t.Fatal("template.yaml has no AWS::SQS::Queue")
	}
}
