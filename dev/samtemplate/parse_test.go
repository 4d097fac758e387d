package samtemplate

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// minimalTable is the smallest table Parse accepts.
const minimalTable = `
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
`

// doc assembles a template from a Globals.Function body and Resources
// entries, both indented as they appear in a template.
func doc(globals, resources string) []byte {
	var b strings.Builder
	b.WriteString("Transform: AWS::Serverless-2016-10-31\n")
	if globals != "" {
		b.WriteString("Globals:\n  Function:\n" + globals)
	}
	b.WriteString("Resources:\n" + resources)
	return []byte(b.String())
}

func mustParse(t *testing.T, data []byte) *Template {
	t.Helper()
	tpl, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, data)
	}
	return tpl
}

func TestParseMergesGlobalsIntoEachFunction(t *testing.T) {
	tpl := mustParse(t, doc(`
    Timeout: 10
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
        MODE: global
        COUNT: 3
`, `
  First:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: makefile, WxsubCodeDir: functions/first}
    Properties:
      Timeout: 60
      Environment:
        Variables:
          MODE: local
          ARN: !GetAtt Table.Arn
          ARN_LONG: {"Fn::GetAtt": [Table, Arn]}
          INDEX: !Sub "${Table.Arn}/index/*"
          REGION_LONG: {"Fn::Sub": "x-${AWS::Region}"}
          PICK: !If [IsProd, a, b]
  Second:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: makefile, WxsubCodeDir: functions/second}
`+minimalTable))

	if len(tpl.Functions) != 2 || tpl.Functions[0].LogicalID != "First" || tpl.Functions[1].LogicalID != "Second" {
		t.Fatalf("functions %+v, want First and Second in template order", tpl.Functions)
	}
	first, second := tpl.Functions[0], tpl.Functions[1]
	wantFirst := map[string]string{
		"TABLE_NAME":  "!Ref Table",
		"MODE":        "local",
		"COUNT":       "3",
		"ARN":         "!GetAtt Table.Arn",
		"ARN_LONG":    "!GetAtt Table.Arn",
		"INDEX":       "!Sub ${Table.Arn}/index/*",
		"REGION_LONG": "!Sub x-${AWS::Region}",
		"PICK":        "!If [IsProd, a, b]",
	}
	if !reflect.DeepEqual(first.Env, wantFirst) {
		t.Errorf("First.Env = %v\nwant %v", first.Env, wantFirst)
	}
	wantSecond := map[string]string{"TABLE_NAME": "!Ref Table", "MODE": "global", "COUNT": "3"}
	if !reflect.DeepEqual(second.Env, wantSecond) {
		t.Errorf("Second.Env = %v, want %v", second.Env, wantSecond)
	}
	if first.Timeout != time.Minute || second.Timeout != 10*time.Second {
		t.Errorf("timeouts %v and %v, want the function's 1m0s and the global 10s", first.Timeout, second.Timeout)
	}
	if first.CodeDir != "functions/first" || second.CodeDir != "functions/second" {
		t.Errorf("code dirs %q and %q", first.CodeDir, second.CodeDir)
	}
}

func TestParseTimeoutDefaultsToSAMs(t *testing.T) {
	tpl := mustParse(t, doc("", `
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {WxsubCodeDir: functions/fn}
`+minimalTable))
	if got := tpl.Functions[0].Timeout; got != DefaultTimeout {
		t.Errorf("Timeout = %v, want %v", got, DefaultTimeout)
	}
}

func TestParseRoutesAndSchedules(t *testing.T) {
	tpl := mustParse(t, doc("", `
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {WxsubCodeDir: functions/fn}
    Properties:
      Events:
        Open:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: post, Path: /v1/open}
        Server:
          Type: HttpApi
          Properties:
            Method: GET
            Path: /v1/users/{openid}/things
            PayloadFormatVersion: "2.0"
            Auth:
              Authorizer: AWS_IAM
        Explicit:
          Type: HttpApi
          Properties: {Method: GET, Path: /v1/open, Auth: {Authorizer: NONE}}
        Queue:
          Type: SQS
          Properties: {Queue: !GetAtt Q.Arn}
        Bounded:
          Type: SQS
          Properties:
            Queue: {"Fn::GetAtt": [Other, Arn]}
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig: {MaximumConcurrency: 2}
        Often:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(5 minutes)
            Input: '{"job":"refresh-token"}'
        Nightly:
          Type: Schedule
          Properties:
            Schedule: cron(0 3 * * ? *)
`+minimalTable))
	fn := tpl.Functions[0]
	wantRoutes := []Route{
		{Method: "POST", Path: "/v1/open"},
		{Method: "GET", Path: "/v1/users/{openid}/things", IAM: true},
		{Method: "GET", Path: "/v1/open"},
	}
	if !reflect.DeepEqual(fn.Routes, wantRoutes) {
		t.Errorf("Routes = %+v\nwant %+v", fn.Routes, wantRoutes)
	}
	wantSchedules := []Schedule{
		{Name: "Often", Expression: "rate(5 minutes)", Every: 5 * time.Minute, Input: `{"job":"refresh-token"}`},
		{Name: "Nightly", Expression: "cron(0 3 * * ? *)"},
	}
	if !reflect.DeepEqual(fn.Schedules, wantSchedules) {
		t.Errorf("Schedules = %+v\nwant %+v", fn.Schedules, wantSchedules)
	}
	wantQueues := []Queue{
		{Name: "Queue", Resource: "Q", BatchSize: DefaultBatchSize},
		{Name: "Bounded", Resource: "Other", BatchSize: 5, MaxConcurrency: 2, ReportBatchItemFailures: true},
	}
	if !reflect.DeepEqual(fn.Queues, wantQueues) {
		t.Errorf("Queues = %+v\nwant %+v", fn.Queues, wantQueues)
	}
}

func TestParseMaximumConcurrencyFromAParameter(t *testing.T) {
	tpl := mustParse(t, []byte(`Transform: AWS::Serverless-2016-10-31
Parameters:
  Workers: {Type: Number, MinValue: 2, MaxValue: 50, Default: 10}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {WxsubCodeDir: functions/fn}
    Properties:
      Events:
        Jobs:
          Type: SQS
          Properties: {Queue: !GetAtt Q.Arn, ScalingConfig: {MaximumConcurrency: !Ref Workers}}
`+minimalTable))
	want := Queue{Name: "Jobs", Resource: "Q", BatchSize: DefaultBatchSize, MaxConcurrency: 10, MaxConcurrencyParam: "Workers"}
	if got := tpl.Functions[0].Queues[0]; got != want {
		t.Errorf("queue %+v, want %+v", got, want)
	}
	if p := tpl.Parameters["Workers"]; p != (Parameter{Type: "Number", MinValue: "2", MaxValue: "50", Default: "10"}) {
		t.Errorf("parameter %+v", p)
	}

	for name, param := range map[string]string{
		"not a parameter": "",
		"a String":        "Workers: {Type: String, Default: '10'}",
		"no MinValue":     "Workers: {Type: Number, MaxValue: 50, Default: 10}",
		"MinValue 1":      "Workers: {Type: Number, MinValue: 1, MaxValue: 50, Default: 10}",
		"MaxValue 2000":   "Workers: {Type: Number, MinValue: 2, MaxValue: 2000, Default: 10}",
		"no Default":      "Workers: {Type: Number, MinValue: 2, MaxValue: 50}",
		"Default above":   "Workers: {Type: Number, MinValue: 2, MaxValue: 50, Default: 60}",
	} {
		params := ""
		if param != "" {
			params = "Parameters:\n  " + param + "\n"
		}
		_, err := Parse([]byte(params + `Resources:
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {WxsubCodeDir: functions/fn}
    Properties:
      Events:
        Jobs:
          Type: SQS
          Properties: {Queue: !GetAtt Q.Arn, ScalingConfig: {MaximumConcurrency: !Ref Workers}}
` + minimalTable))
		if err == nil || !strings.Contains(err.Error(), "MaximumConcurrency") {
			t.Errorf("%s: Parse answered %v, want an error naming MaximumConcurrency", name, err)
		}
	}
}

func TestParseRate(t *testing.T) {
	for expr, want := range map[string]time.Duration{
		"rate(1 minute)":          time.Minute,
		"rate(5 minutes)":         5 * time.Minute,
		"rate(1 hour)":            time.Hour,
		"rate(12 hours)":          12 * time.Hour,
		"rate(1 day)":             24 * time.Hour,
		"rate(7 days)":            7 * 24 * time.Hour,
		"cron(0/5 * * * ? *)":     0,
		"at(2030-01-01T00:00:00)": 0,
	} {
		got, err := parseRate(expr)
		if err != nil || got != want {
			t.Errorf("parseRate(%q) = %v, %v; want %v", expr, got, err, want)
		}
	}
	for _, expr := range []string{
		"rate(5 minute)", // EventBridge wants the plural
		"rate(1 minutes)",
		"rate(0 minutes)",
		"rate(-5 minutes)",
		"rate(05 minutes)",
		"rate(1.5 hours)",
		"rate(2 weeks)",
		"rate(5minutes)",
		"rate 5 minutes",
		"every 5 minutes",
		"",
	} {
		if d, err := parseRate(expr); err == nil {
			t.Errorf("parseRate(%q) = %v, want an error", expr, d)
		}
	}
}

func TestParseTable(t *testing.T) {
	tpl := mustParse(t, doc("", `
  Store:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
        - {AttributeName: g1, AttributeType: S}
        - {AttributeName: g2, AttributeType: N}
      KeySchema:
        - {AttributeName: sk, KeyType: RANGE}
        - {AttributeName: pk, KeyType: HASH}
      GlobalSecondaryIndexes:
        - IndexName: byG1
          KeySchema: [{AttributeName: g1, KeyType: HASH}, {AttributeName: g2, KeyType: RANGE}]
          Projection: {ProjectionType: ALL}
        - IndexName: byG2
          KeySchema: [{AttributeName: g2, KeyType: HASH}]
          Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [status, credits]}
      TimeToLiveSpecification: {AttributeName: expires, Enabled: true}
      DeletionProtectionEnabled: !Ref Protect
`))
	want := Table{
		PartitionKey: "pk", SortKey: "sk", TTLAttribute: "expires",
		GSIs: []GSI{
			{Name: "byG1", PartitionKey: "g1", SortKey: "g2", Projection: "ALL"},
			{Name: "byG2", PartitionKey: "g2", Projection: "INCLUDE", NonKeyAttributes: []string{"status", "credits"}},
		},
		AttributeDefinitions: map[string]string{"pk": "S", "sk": "S", "g1": "S", "g2": "N"},
	}
	if !reflect.DeepEqual(tpl.Table, want) {
		t.Errorf("Table = %+v\nwant %+v", tpl.Table, want)
	}
	if len(tpl.Functions) != 0 {
		t.Errorf("functions %v in a template with none", tpl.Functions)
	}
}

func TestParseTTLDisabled(t *testing.T) {
	tpl := mustParse(t, doc("", `
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: false}
`))
	if tpl.Table.TTLAttribute != "" {
		t.Errorf("TTLAttribute = %q for a disabled TTL", tpl.Table.TTLAttribute)
	}
}

func TestParseFollowsAliases(t *testing.T) {
	tpl := mustParse(t, doc("", `
  A:
    Type: AWS::Serverless::Function
    Metadata: {WxsubCodeDir: functions/a}
    Properties:
      Environment: &env
        Variables: {SHARED: yes-please}
      Events:
        Get:
          Type: HttpApi
          Properties: &route {Method: GET, Path: /v1/a}
  B:
    Type: AWS::Serverless::Function
    Metadata: {WxsubCodeDir: functions/b}
    Properties:
      Environment: *env
`+minimalTable))
	if got := tpl.Functions[1].Env["SHARED"]; got != "yes-please" {
		t.Errorf("B's SHARED = %q through an alias", got)
	}
}

func TestParseRejects(t *testing.T) {
	fn := func(metadata, props string) []byte {
		return doc("", `
  Fn:
    Type: AWS::Serverless::Function
    Metadata: `+metadata+`
    Properties:
`+props+minimalTable)
	}
	event := func(typ, props string) []byte {
		return fn("{WxsubCodeDir: functions/fn}", `
      Events:
        E:
          Type: `+typ+`
          Properties: `+props+"\n")
	}
	table := func(props string) []byte {
		return doc("", `
  T:
    Type: AWS::DynamoDB::Table
    Properties:
`+props)
	}
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"invalid YAML":           {[]byte("Resources: [unclosed"), "yaml"},
		"empty":                  {[]byte(""), "empty"},
		"no Resources":           {[]byte("Transform: x\n"), "Resources"},
		"no table":               {doc("", "  Fn:\n    Type: AWS::Serverless::Function\n    Metadata: {WxsubCodeDir: functions/fn}\n"), "no AWS::DynamoDB::Table"},
		"two tables":             {doc("", minimalTable+strings.Replace(minimalTable, "  Table:", "  Other:", 1)), "second AWS::DynamoDB::Table"},
		"no code dir":            {fn("{BuildMethod: makefile}", ""), "WxsubCodeDir"},
		"code dir outside":       {fn("{WxsubCodeDir: ../elsewhere}", ""), "clean relative path"},
		"absolute code dir":      {fn("{WxsubCodeDir: /functions/fn}", ""), "clean relative path"},
		"unclean code dir":       {fn("{WxsubCodeDir: functions//fn/}", ""), "clean relative path"},
		"code dir from a Ref":    {fn("{WxsubCodeDir: !Ref Dir}", ""), "WxsubCodeDir"},
		"timeout from a Ref":     {fn("{WxsubCodeDir: functions/fn}", "      Timeout: !Ref T\n"), "Timeout"},
		"timeout not a number":   {fn("{WxsubCodeDir: functions/fn}", "      Timeout: soon\n"), "Timeout"},
		"route without path":     {event("HttpApi", "{Method: GET}"), "Path"},
		"route path from a Sub":  {event("HttpApi", "{Method: GET, Path: !Sub '/v1/${X}'}"), "Path"},
		"relative route path":    {event("HttpApi", "{Method: GET, Path: v1/x}"), "Path"},
		"route without method":   {event("HttpApi", "{Path: /v1/x}"), "Method"},
		"payload format 1.0":     {event("HttpApi", `{Method: GET, Path: /v1/x, PayloadFormatVersion: "1.0"}`), "PayloadFormatVersion"},
		"JWT authorizer":         {event("HttpApi", "{Method: GET, Path: /v1/x, Auth: {Authorizer: MyJwt}}"), "Authorizer"},
		"schedule without rate":  {event("ScheduleV2", "{Input: '{}'}"), "ScheduleExpression"},
		"malformed rate":         {event("ScheduleV2", "{ScheduleExpression: rate(5 minute)}"), "plural"},
		"input from a Sub":       {event("ScheduleV2", "{ScheduleExpression: rate(1 hour), Input: !Sub '{}'}"), "Input"},
		"queue without queue":    {event("SQS", "{BatchSize: 5}"), "Queue"},
		"queue by literal ARN":   {event("SQS", "{Queue: 'arn:aws:sqs:us-east-1:123456789012:q'}"), "!GetAtt"},
		"queue by its URL":       {event("SQS", "{Queue: !Ref Q}"), "!GetAtt"},
		"queue attribute":        {event("SQS", "{Queue: !GetAtt Q.QueueName}"), "!GetAtt"},
		"batch of zero":          {event("SQS", "{Queue: !GetAtt Q.Arn, BatchSize: 0}"), "BatchSize"},
		"batch from a Ref":       {event("SQS", "{Queue: !GetAtt Q.Arn, BatchSize: !Ref N}"), "BatchSize"},
		"concurrency of one":     {event("SQS", "{Queue: !GetAtt Q.Arn, ScalingConfig: {MaximumConcurrency: 1}}"), "MaximumConcurrency"},
		"unknown response type":  {event("SQS", "{Queue: !GetAtt Q.Arn, FunctionResponseTypes: [Everything]}"), "FunctionResponseTypes"},
		"key without definition": {table("      KeySchema: [{AttributeName: pk, KeyType: HASH}]\n"), `"pk" has no AttributeDefinitions`},
		"unused definition": {table(`      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}, {AttributeName: extra, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
`), `"extra" is defined but`},
		"no hash key": {table(`      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: RANGE}]
`), "no HASH key"},
		"bad attribute type": {table(`      AttributeDefinitions: [{AttributeName: pk, AttributeType: STRING}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
`), "AttributeType"},
		"index without projection": {table(`      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}, {AttributeName: g, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      GlobalSecondaryIndexes: [{IndexName: gi, KeySchema: [{AttributeName: g, KeyType: HASH}]}]
`), "ProjectionType"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(tc.data)
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", tc.data)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "samtemplate: ") {
				t.Errorf("error %q, want it to start with samtemplate: and mention %q", err, tc.want)
			}
		})
	}
}

func TestParseRejectsARouteDeclaredTwice(t *testing.T) {
	fn := func(id string) string {
		return `
  ` + id + `:
    Type: AWS::Serverless::Function
    Metadata: {WxsubCodeDir: functions/` + strings.ToLower(id) + `}
    Properties:
      Events:
        Get: {Type: HttpApi, Properties: {Method: GET, Path: /v1/things}}
`
	}
	_, err := Parse(doc("", fn("One")+fn("Two")+minimalTable))
	if err == nil || !strings.Contains(err.Error(), "One") || !strings.Contains(err.Error(), "Two") {
		t.Errorf("error %v, want one naming both functions", err)
	}
}

func TestFindWalksUp(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "shared", "pkg", "sub")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(root, FileName)
	if err := os.WriteFile(want, doc("", minimalTable), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{root, deep} {
		got, err := Find(dir)
		if err != nil || got != want {
			t.Errorf("Find(%s) = %q, %v; want %q", dir, got, err, want)
		}
	}
	// A directory named template.yaml is not the template.
	other := t.TempDir()
	if err := os.Mkdir(filepath.Join(other, FileName), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := Find(other); err == nil && strings.HasPrefix(got, other) {
		t.Errorf("Find took the directory %s for the template", got)
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(p, doc("", "  Fn:\n    Type: AWS::Serverless::Function\n"+minimalTable), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "Fn") {
		t.Errorf("Load error %v, want one naming the file and the function", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestParseStreamEvents(t *testing.T) {
	tpl := mustParse(t, []byte(`Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {WxsubCodeDir: functions/fn}
    Properties:
      Events:
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Table.StreamArn
            StartingPosition: TRIM_HORIZON
            BatchSize: 1000
            MaximumBatchingWindowInSeconds: 1
            MaximumRetryAttempts: -1
        Defaults:
          Type: DynamoDB
          Properties: {Stream: {"Fn::GetAtt": [Table, StreamArn]}, StartingPosition: LATEST}
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
`))
	want := []Stream{
		{Name: "Changes", BatchSize: 1000, BatchingWindow: time.Second, StartingPosition: "TRIM_HORIZON"},
		{Name: "Defaults", BatchSize: DefaultStreamBatchSize, StartingPosition: "LATEST"},
	}
	if got := tpl.Functions[0].Streams; !reflect.DeepEqual(got, want) {
		t.Errorf("Streams = %+v\nwant %+v", got, want)
	}
	in := tpl.Table.CreateTableInput("t")
	if in.StreamSpecification == nil || !*in.StreamSpecification.StreamEnabled || in.StreamSpecification.StreamViewType != "NEW_AND_OLD_IMAGES" {
		t.Errorf("CreateTableInput has no NEW_AND_OLD_IMAGES stream: %+v", in.StreamSpecification)
	}

	for name, props := range map[string]string{
		"no stream":         "{StartingPosition: LATEST}",
		"a queue's Arn":     "{Stream: !GetAtt Q.Arn, StartingPosition: LATEST}",
		"no position":       "{Stream: !GetAtt Table.StreamArn}",
		"limited retries":   "{Stream: !GetAtt Table.StreamArn, StartingPosition: LATEST, MaximumRetryAttempts: 3}",
		"bisected batches":  "{Stream: !GetAtt Table.StreamArn, StartingPosition: LATEST, BisectBatchOnFunctionError: true}",
		"a batch too large": "{Stream: !GetAtt Table.StreamArn, StartingPosition: LATEST, BatchSize: 20000}",
		"a window too long": "{Stream: !GetAtt Table.StreamArn, StartingPosition: LATEST, MaximumBatchingWindowInSeconds: 301}",
	} {
		_, err := Parse([]byte(`Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {WxsubCodeDir: functions/fn}
    Properties:
      Events:
        Changes: {Type: DynamoDB, Properties: ` + props + `}
` + minimalTable))
		if err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}
