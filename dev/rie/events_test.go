package rie_test

import (
	"bytes"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxsub/wxsub/dev/samtemplate"
)

// expectation is what the smoke test wants from a sample of events/. A
// sample without one must get a well-formed answer below 500.
type expectation struct {
	status int
	code   string // the error code, where the contract names one
	check  func(t *testing.T, body map[string]any, vars map[string]string)
}

// expectations, by sample file.
var expectations = map[string]expectation{
	"session.json": {status: 200, check: func(t *testing.T, body map[string]any, vars map[string]string) {
		for _, k := range []string{"token", "expires_at"} {
			if s, _ := body[k].(string); s == "" {
				t.Errorf("the session answer has no %s: %v", k, body)
			}
		}
		if body["openid"] != vars["OPENID"] {
			t.Errorf("the session is for openid %v, want the login's %s", body["openid"], vars["OPENID"])
		}
	}},
	"subscriptions-get.json":       {status: 401},
	"users-subscriptions-get.json": {status: 200},
	"messages-post.json":           {status: 409, code: "no_credit"},
	"messages-get.json":            {status: 404},
	"messages-delete.json":         {status: 404, code: "message_not_found"},
	"users-messages-get.json": {status: 200, check: func(t *testing.T, body map[string]any, _ map[string]string) {
		if ms, ok := body["messages"].([]any); !ok || len(ms) != 0 {
			t.Errorf("a user without messages listed %v", body)
		}
	}},
	// Nothing is due on a fresh table: the dispatcher queues nothing.
	"reminders.json": {check: func(t *testing.T, body map[string]any, _ map[string]string) {
		if body["reminders"] != float64(0) || body["broadcasts"] != float64(0) {
			t.Errorf("the dispatcher of a fresh table answered %v, want nothing queued", body)
		}
	}},
	"refresh-token.json": {},
	"templates-get.json": {status: 401},
	// The emulated functions serve a mini-program, which has no JS-SDK.
	"jssdk-config.json": {status: 404, code: "not_official_account"},
	"templates-sync.json": {status: 200, check: func(t *testing.T, body map[string]any, _ map[string]string) {
		ts, _ := body["templates"].([]any)
		if len(ts) == 0 {
			t.Fatalf("the sync answered no templates: %v", body)
		}
		for _, x := range ts {
			tpl, _ := x.(map[string]any)
			if id, _ := tpl["id"].(string); id == "" || (tpl["type"] != "one_time" && tpl["type"] != "long_term") {
				t.Errorf("template without an id or a type one_time/long_term: %v", tpl)
			}
		}
		if s, _ := body["synced_at"].(string); s == "" {
			t.Errorf("the sync answered no synced_at: %v", body)
		}
	}},
	"templates-sync-schedule.json": {},
	"quota-get.json": {status: 200, check: func(t *testing.T, body map[string]any, _ map[string]string) {
		wc, _ := body["wechat"].(map[string]any)
		send, _ := wc["/cgi-bin/message/subscribe/send"].(map[string]any)
		if limit, _ := send["daily_limit"].(float64); limit <= 0 {
			t.Errorf("no daily_limit for subscribe/send: %v", body)
		}
		today, _ := body["today"].(map[string]any)
		if day, _ := today["day"].(string); len(day) != len("2006-01-02") {
			t.Errorf("no today.day: %v", body)
		}
	}},
	"quota-watch.json": {},
	// Nothing is pending on a fresh table: the sweep settles nothing.
	"sweep.json": {check: func(t *testing.T, body map[string]any, _ map[string]string) {
		if body["swept"] != float64(0) {
			t.Errorf("the sweep of a fresh table answered %v, want swept 0", body)
		}
	}},

	// The push samples are signed with the example push token AAAAA, not the test's.
	"wechat-events-get.json":  {status: 401, code: "invalid_signature"},
	"wechat-events-post.json": {status: 401, code: "invalid_signature"},

	// No SQS exists here: the POST sample fails validation before anything is queued.
	"broadcasts-post.json": {status: 400, code: "invalid_data"},
	"broadcasts-get.json":  {status: 404, code: "broadcast_not_found"},
	// The outcomes of a broadcast that does not exist.
	"broadcasts-messages-get.json": {status: 404, code: "broadcast_not_found"},
	// The tally counts a settled send and a grant; it answers nothing.
	"tally.json": {},
	// A job of a broadcast that does not exist is dropped, not retried.
	"broadcast-worker.json": {check: func(t *testing.T, body map[string]any, _ map[string]string) {
		if f, ok := body["batchItemFailures"].([]any); !ok || len(f) != 0 {
			t.Errorf("the worker did not finish the batch: %v", body)
		}
	}},
}

// sample is one file of events/, with the function it belongs to.
type sample struct {
	File   string // base name, e.g. "session.json"
	Raw    []byte
	Fn     samtemplate.Function
	Route  *samtemplate.Route  // set for an API Gateway event
	Queue  *samtemplate.Queue  // set for an SQS event
	Stream *samtemplate.Stream // set for a DynamoDB stream event
}

func loadTemplate(t *testing.T) (tpl *samtemplate.Template, root string) {
	t.Helper()
	p, err := samtemplate.Find(".")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err = samtemplate.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return tpl, filepath.Dir(p)
}

// loadSamples reads events/*.json and routes each file to its function: an
// API Gateway event by its routeKey, an SQS event (top-level Records from
// aws:sqs) by its queue, anything else by equality with a schedule's Input.
// It fails the test for a file that is not a faithful event of a route or
// queue, or that matches nothing.
func loadSamples(t *testing.T, root string, tpl *samtemplate.Template) []sample {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []sample
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := sample{File: filepath.Base(f), Raw: raw}
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(raw, &probe); err != nil {
			t.Errorf("events/%s: %v", s.File, err)
			continue
		}
		var ok bool
		if _, api := probe["routeKey"]; api {
			ok = routeSample(t, tpl, &s)
		} else if isSQSEvent(probe) {
			ok = queueSample(t, tpl, &s)
		} else if isStreamEvent(probe) {
			ok = streamSample(t, tpl, &s)
		} else {
			ok = scheduleSample(t, tpl, &s)
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

func routeSample(t *testing.T, tpl *samtemplate.Template, s *sample) bool {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	dec := json.NewDecoder(bytes.NewReader(s.Raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		t.Errorf("events/%s is not an API Gateway payload 2.0 event: %v", s.File, err)
		return false
	}
	for _, fn := range tpl.Functions {
		for _, r := range fn.Routes {
			if r.Key() == ev.RouteKey {
				s.Fn, s.Route = fn, &r
			}
		}
	}
	if s.Route == nil {
		t.Errorf("events/%s: routeKey %q is no route of template.yaml", s.File, ev.RouteKey)
		return false
	}
	rc := ev.RequestContext
	problems := []string{}
	if ev.Version != "2.0" {
		problems = append(problems, `version is not "2.0"`)
	}
	if rc.RouteKey != ev.RouteKey {
		problems = append(problems, "requestContext.routeKey differs from routeKey")
	}
	if rc.HTTP.Method != s.Route.Method || rc.HTTP.Path != ev.RawPath {
		problems = append(problems, "requestContext.http method and path do not match the route and rawPath")
	}
	if r, params, ok := samtemplate.MatchRoute(s.Fn.Routes, rc.HTTP.Method, ev.RawPath); !ok || r != *s.Route {
		problems = append(problems, "rawPath does not match the route")
	} else if !maps.Equal(params, ev.PathParameters) {
		problems = append(problems, "pathParameters do not match rawPath")
	}
	hasIAM := rc.Authorizer != nil && rc.Authorizer.IAM != nil
	if hasIAM != s.Route.IAM {
		problems = append(problems, "requestContext.authorizer.iam must be present exactly on AWS_IAM routes")
	}
	for k := range ev.Headers {
		if k != strings.ToLower(k) {
			problems = append(problems, "header "+k+" is not lower case, as API Gateway sends it")
		}
	}
	if ev.IsBase64Encoded {
		problems = append(problems, "isBase64Encoded is true for a JSON body")
	}
	for _, p := range problems {
		t.Errorf("events/%s: %s", s.File, p)
	}
	return len(problems) == 0
}

// isSQSEvent reports whether a sample is an SQS event: a Records array whose
// first record comes from aws:sqs.
func isSQSEvent(probe map[string]json.RawMessage) bool {
	var recs []struct {
		EventSource string `json:"eventSource"`
	}
	return json.Unmarshal(probe["Records"], &recs) == nil && len(recs) > 0 && recs[0].EventSource == "aws:sqs"
}

// queueSample routes an SQS event to the function that consumes its queue.
// CloudFormation names a queue <stack>-<LogicalId>-<suffix>, so the queue's
// logical id is found in the name at the end of eventSourceARN.
func queueSample(t *testing.T, tpl *samtemplate.Template, s *sample) bool {
	t.Helper()
	var ev events.SQSEvent
	dec := json.NewDecoder(bytes.NewReader(s.Raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		t.Errorf("events/%s is not an SQS event: %v", s.File, err)
		return false
	}
	ok := true
	for i, r := range ev.Records {
		problems := []string{}
		if r.EventSource != "aws:sqs" || r.MessageId == "" || r.ReceiptHandle == "" {
			problems = append(problems, "eventSource is not aws:sqs, or messageId or receiptHandle is empty")
		}
		if fmt.Sprintf("%x", md5.Sum([]byte(r.Body))) != r.Md5OfBody {
			problems = append(problems, "md5OfBody is not the MD5 of body")
		}
		arn := strings.Split(r.EventSourceARN, ":")
		if len(arn) != 6 || arn[0] != "arn" || arn[2] != "sqs" || arn[3] != r.AWSRegion {
			problems = append(problems, "eventSourceARN is not an SQS queue ARN in awsRegion")
		}
		var found *samtemplate.Queue
		for _, fn := range tpl.Functions {
			for _, q := range fn.Queues {
				if len(arn) == 6 && strings.Contains(arn[5], "-"+q.Resource+"-") {
					s.Fn, found = fn, &q
				}
			}
		}
		switch {
		case found == nil:
			problems = append(problems, fmt.Sprintf("eventSourceARN %q names no queue that a function of template.yaml consumes", r.EventSourceARN))
		case s.Queue != nil && s.Queue.Resource != found.Resource:
			problems = append(problems, "the records come from different queues")
		default:
			s.Queue = found
		}
		for _, p := range problems {
			t.Errorf("events/%s: record %d: %s", s.File, i, p)
		}
		ok = ok && len(problems) == 0
	}
	if ok && s.Queue != nil && len(ev.Records) > s.Queue.BatchSize {
		t.Errorf("events/%s has %d records; the queue's BatchSize is %d", s.File, len(ev.Records), s.Queue.BatchSize)
		ok = false
	}
	return ok && s.Queue != nil
}

// isStreamEvent reports whether a sample is a DynamoDB stream event: a
// Records array whose first record comes from aws:dynamodb.
func isStreamEvent(probe map[string]json.RawMessage) bool {
	var recs []struct {
		EventSource string `json:"eventSource"`
	}
	return json.Unmarshal(probe["Records"], &recs) == nil && len(recs) > 0 && recs[0].EventSource == "aws:dynamodb"
}

// streamSample routes a DynamoDB stream event to the function that reads
// the table's stream, checking that its records are what Lambda hands over:
// from the stream of a table (CloudFormation names it <stack>-Table-<suffix>),
// with the keys and images NEW_AND_OLD_IMAGES gives, in sequence order.
func streamSample(t *testing.T, tpl *samtemplate.Template, s *sample) bool {
	t.Helper()
	var ev events.DynamoDBEvent
	dec := json.NewDecoder(bytes.NewReader(s.Raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		t.Errorf("events/%s is not a DynamoDB stream event: %v", s.File, err)
		return false
	}
	for _, fn := range tpl.Functions {
		for _, st := range fn.Streams {
			s.Fn, s.Stream = fn, &st
		}
	}
	if s.Stream == nil {
		t.Errorf("events/%s: no function of template.yaml reads the table's stream", s.File)
		return false
	}
	ok := true
	prev := ""
	for i, r := range ev.Records {
		problems := []string{}
		c := r.Change
		if r.EventSource != "aws:dynamodb" || r.EventID == "" || r.EventVersion != "1.1" {
			problems = append(problems, "eventSource is not aws:dynamodb, eventID is empty or eventVersion is not 1.1")
		}
		if arn := strings.SplitN(r.EventSourceArn, ":", 6); len(arn) != 6 || arn[2] != "dynamodb" || arn[3] != r.AWSRegion ||
			!strings.Contains(arn[5], "-Table-") || !strings.Contains(arn[5], "/stream/") {
			problems = append(problems, "eventSourceArn is not the stream ARN of the template's table in awsRegion")
		}
		if c.StreamViewType != tpl.Table.StreamViewType || len(c.Keys) != 2 {
			problems = append(problems, "the record is not one of the table's stream (view type, keys)")
		}
		want := map[string]bool{"INSERT": c.NewImage != nil && c.OldImage == nil,
			"MODIFY": c.NewImage != nil && c.OldImage != nil, "REMOVE": c.NewImage == nil && c.OldImage != nil}
		if !want[r.EventName] {
			problems = append(problems, "eventName "+r.EventName+" does not match the images")
		}
		if c.SequenceNumber <= prev {
			problems = append(problems, "records are not in sequence order")
		}
		prev = c.SequenceNumber
		for _, p := range problems {
			t.Errorf("events/%s: record %d: %s", s.File, i, p)
		}
		ok = ok && len(problems) == 0
	}
	if len(ev.Records) > s.Stream.BatchSize {
		t.Errorf("events/%s has %d records; the stream's BatchSize is %d", s.File, len(ev.Records), s.Stream.BatchSize)
		ok = false
	}
	return ok
}

func scheduleSample(t *testing.T, tpl *samtemplate.Template, s *sample) bool {
	t.Helper()
	var got any
	json.Unmarshal(s.Raw, &got)
	for _, fn := range tpl.Functions {
		for _, sch := range fn.Schedules {
			var in any
			if json.Unmarshal([]byte(sch.Input), &in) == nil && reflect.DeepEqual(in, got) {
				s.Fn = fn
				return true
			}
		}
	}
	t.Errorf("events/%s has no routeKey and equals no schedule Input of template.yaml", s.File)
	return false
}

func TestEverySampleMatchesTheTemplateAndEveryFunctionHasOne(t *testing.T) {
	tpl, root := loadTemplate(t)
	samples := loadSamples(t, root, tpl)
	has := map[string]bool{}
	files := map[string]bool{}
	for _, s := range samples {
		has[s.Fn.LogicalID] = true
		files[s.File] = true
	}
	for _, fn := range tpl.Functions {
		if !has[fn.LogicalID] {
			t.Errorf("%s has no sample event in events/", fn.LogicalID)
		}
	}
	for f := range expectations {
		if !files[f] {
			t.Errorf("the smoke test expects an answer to events/%s, which is missing or invalid", f)
		}
	}
}
