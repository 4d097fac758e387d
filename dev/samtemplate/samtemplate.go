// Package samtemplate reads wxsub's AWS SAM template, template.yaml: its
// functions with their routes, schedules, timeouts and environment, and its
// DynamoDB table. The local stack serves exactly these routes and creates this
// table, so template.yaml stays the single source of truth.
//
// The reader understands the subset of SAM that wxsub uses: Globals.Function,
// AWS::Serverless::Function resources with HttpApi, ScheduleV2, Schedule and
// SQS events, and one AWS::DynamoDB::Table. CloudFormation's short-form tags
// (!Ref, !Sub, !GetAtt, !If, ...) are accepted anywhere; they are not
// evaluated, except that values the reader needs (a path, a timeout, a key
// name) must be literals, and an SQS event's MaximumConcurrency a literal or
// a !Ref to a bounded Number parameter, read as its default.
//
// Each function names its source folder in its Metadata, beside the SAM build
// method (SAM ignores keys it does not know):
//
//	Metadata:
//	  BuildMethod: makefile
//	  WxsubCodeDir: functions/login
package samtemplate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// FileName is the name of the template file.
const FileName = "template.yaml"

// CodeDirKey is the Metadata key that names a function's source folder,
// relative to the template's directory.
const CodeDirKey = "WxsubCodeDir"

// DefaultTimeout is the timeout of a function that sets none, as in SAM.
const DefaultTimeout = 3 * time.Second

// Template is what wxsub's code needs to know of template.yaml.
type Template struct {
	// Functions are the AWS::Serverless::Function resources, in template order.
	Functions []Function
	// Table is the one AWS::DynamoDB::Table.
	Table Table
	// Parameters are the template's parameters, by name.
	Parameters map[string]Parameter
}

// Parameter is one of the template's Parameters, its values as written.
type Parameter struct {
	Type string
	// Default is "" when the parameter has none.
	Default string
	// MinValue and MaxValue bound a Number parameter; "" when unset.
	MinValue, MaxValue string
}

// Function is one Lambda function of the template, with Globals.Function merged in.
type Function struct {
	// LogicalID is the resource's logical id, e.g. "SessionFunction".
	LogicalID string
	// CodeDir is the folder of its main package relative to the template,
	// slash-separated, e.g. "functions/login" (Metadata.WxsubCodeDir).
	CodeDir string
	// Routes are its HttpApi events, in template order.
	Routes []Route
	// Schedules are its ScheduleV2 and Schedule events, in template order.
	Schedules []Schedule
	// Queues are its SQS events, in template order.
	Queues []Queue
	// Streams are its DynamoDB events (the table's stream), in template order.
	Streams []Stream
	// Timeout is the function's timeout (DefaultTimeout when none is set).
	Timeout time.Duration
	// Env holds its environment variables. A value given by an intrinsic
	// function is kept in short form, e.g. "!Ref Table".
	Env map[string]string
}

// Schedule is a scheduled invocation of a function.
type Schedule struct {
	// Name is the event's key under Events, e.g. "Every5Minutes".
	Name string
	// Expression is the schedule expression, e.g. "rate(5 minutes)".
	Expression string
	// Every is the period of a rate() expression; 0 for cron() and at().
	Every time.Duration
	// Input is the JSON event the function receives; "" when none is set.
	Input string
}

// Queue is an SQS event of a function: Lambda polls the queue and invokes
// the function with batches of its messages.
type Queue struct {
	// Name is the event's key under Events, e.g. "Jobs".
	Name string
	// Resource is the logical id of the queue, which the event names as
	// !GetAtt <Resource>.Arn.
	Resource string
	// BatchSize is the most messages one invocation receives (SAM's default 10).
	BatchSize int
	// MaxConcurrency is ScalingConfig.MaximumConcurrency, the most
	// invocations the queue drives at once; 0 when unbounded. When it is
	// given by a parameter, this is the parameter's default.
	MaxConcurrency int
	// MaxConcurrencyParam is the parameter MaximumConcurrency refers to
	// (!Ref); "" for a literal.
	MaxConcurrencyParam string
	// ReportBatchItemFailures reports whether the function may answer which
	// messages of a batch failed (FunctionResponseTypes), so that only those
	// are delivered again.
	ReportBatchItemFailures bool
}

// Stream is a DynamoDB event of a function: Lambda reads the table's
// stream, each shard in order, and invokes the function with batches of
// its records, retrying a batch that fails until it succeeds (or the
// records expire, after 24 hours) before it moves on in that shard.
type Stream struct {
	// Name is the event's key under Events, e.g. "Changes".
	Name string
	// BatchSize is the most records one invocation receives (SAM's default 100).
	BatchSize int
	// BatchingWindow is MaximumBatchingWindowInSeconds: how long Lambda
	// gathers records before it invokes the function with fewer than
	// BatchSize (0 when unset).
	BatchingWindow time.Duration
	// StartingPosition is TRIM_HORIZON or LATEST.
	StartingPosition string
}

// DefaultStreamBatchSize is the batch size of a DynamoDB event that sets
// none, as in Lambda.
const DefaultStreamBatchSize = 100

// DefaultBatchSize is the batch size of an SQS event that sets none, as in SAM.
const DefaultBatchSize = 10

// Find returns the path of template.yaml in dir or the nearest of its parents.
// Tests, which run in their package's directory, use it to find the template.
func Find(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("samtemplate: %w", err)
	}
	for {
		p := filepath.Join(d, FileName)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("samtemplate: %w", err)
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("samtemplate: no %s in %s or any of its parents", FileName, dir)
		}
		d = parent
	}
}

// Load reads and parses the template at path.
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("samtemplate: %w", err)
	}
	t, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("samtemplate: %s: %w", path, err)
	}
	return t, nil
}

// Parse parses a SAM template.
func Parse(data []byte) (*Template, error) {
	t, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("samtemplate: %w", err)
	}
	return t, nil
}

func parse(data []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("the template is empty")
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: the template is not a mapping", root.Line)
	}
	globals := get(root, "Globals", "Function")
	resources := get(root, "Resources")
	if resources == nil || resources.Kind != yaml.MappingNode {
		return nil, errors.New("the template has no Resources mapping")
	}

	t := &Template{Parameters: parseParameters(get(root, "Parameters"))}
	tables := 0
	routeOwner := map[string]string{}
	for _, kv := range pairs(resources) {
		id, res := kv[0].Value, kv[1]
		typ, _ := literal(get(res, "Type"))
		switch typ {
		case "AWS::Serverless::Function":
			fn, err := parseFunction(id, res, globals, t.Parameters)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", id, err)
			}
			for _, r := range fn.Routes {
				if other, dup := routeOwner[r.Key()]; dup {
					return nil, fmt.Errorf("route %q is declared by both %s and %s", r.Key(), other, id)
				}
				routeOwner[r.Key()] = id
			}
			t.Functions = append(t.Functions, fn)
		case "AWS::DynamoDB::Table":
			tables++
			if tables > 1 {
				return nil, fmt.Errorf("%s: a second AWS::DynamoDB::Table; wxsub keeps everything in one table", id)
			}
			tb, err := parseTable(get(res, "Properties"))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", id, err)
			}
			t.Table = tb
		}
	}
	if tables == 0 {
		return nil, errors.New("the template has no AWS::DynamoDB::Table")
	}
	return t, nil
}

// parseParameters reads the Parameters mapping.
func parseParameters(n *yaml.Node) map[string]Parameter {
	params := map[string]Parameter{}
	for _, kv := range pairs(n) {
		var p Parameter
		p.Type, _ = literal(get(kv[1], "Type"))
		p.Default, _ = literal(get(kv[1], "Default"))
		p.MinValue, _ = literal(get(kv[1], "MinValue"))
		p.MaxValue, _ = literal(get(kv[1], "MaxValue"))
		params[kv[0].Value] = p
	}
	return params
}

func parseFunction(id string, res, globals *yaml.Node, params map[string]Parameter) (Function, error) {
	fn := Function{LogicalID: id, Timeout: DefaultTimeout, Env: map[string]string{}}
	props := get(res, "Properties")

	dirNode := get(res, "Metadata", CodeDirKey)
	dir, ok := literal(dirNode)
	if !ok || dir == "" {
		//lint:ignore ST1005 the message starts with the template's key, which callers prefix with the function's logical id
		return fn, fmt.Errorf("Metadata.%s must name the function's folder, e.g. functions/<name>", CodeDirKey)
	}
	if path.IsAbs(dir) || strings.Contains(dir, `\`) || path.Clean(dir) != dir || dir == "." || strings.HasPrefix(dir, "../") || dir == ".." {
		return fn, fmt.Errorf("line %d: Metadata.%s %q must be a clean relative path inside the repository", dirNode.Line, CodeDirKey, dir)
	}
	fn.CodeDir = dir

	for _, src := range []*yaml.Node{globals, props} {
		if n := get(src, "Timeout"); n != nil {
			s, ok := literal(n)
			secs, err := strconv.Atoi(s)
			if !ok || err != nil || secs <= 0 {
				return fn, fmt.Errorf("line %d: Timeout must be a positive number of seconds", n.Line)
			}
			fn.Timeout = time.Duration(secs) * time.Second
		}
		vars := get(src, "Environment", "Variables")
		for _, kv := range pairs(vars) {
			fn.Env[kv[0].Value] = render(kv[1])
		}
	}

	for _, kv := range pairs(get(props, "Events")) {
		name, ev := kv[0].Value, kv[1]
		typ, _ := literal(get(ev, "Type"))
		ep := get(ev, "Properties")
		switch typ {
		case "HttpApi":
			r, err := parseRoute(ep)
			if err != nil {
				return fn, fmt.Errorf("event %s: %w", name, err)
			}
			fn.Routes = append(fn.Routes, r)
		case "ScheduleV2", "Schedule":
			field := "ScheduleExpression"
			if typ == "Schedule" {
				field = "Schedule"
			}
			s, err := parseSchedule(name, ep, field)
			if err != nil {
				return fn, fmt.Errorf("event %s: %w", name, err)
			}
			fn.Schedules = append(fn.Schedules, s)
		case "SQS":
			q, err := parseQueue(name, ep, params)
			if err != nil {
				return fn, fmt.Errorf("event %s: %w", name, err)
			}
			fn.Queues = append(fn.Queues, q)
		case "DynamoDB":
			st, err := parseStream(name, ep)
			if err != nil {
				return fn, fmt.Errorf("event %s: %w", name, err)
			}
			fn.Streams = append(fn.Streams, st)
		}
	}
	return fn, nil
}

// parseQueue reads an SQS event. Its Queue must be the Arn of a queue of the
// template; BatchSize, when set, must be a literal within Lambda's limits,
// and ScalingConfig.MaximumConcurrency a literal or a Number parameter
// (!Ref) whose MinValue, MaxValue and Default are within them.
func parseQueue(name string, props *yaml.Node, params map[string]Parameter) (Queue, error) {
	q := Queue{Name: name, BatchSize: DefaultBatchSize}
	if id, attr := getAtt(get(props, "Queue")); attr == "Arn" {
		q.Resource = id
	}
	if q.Resource == "" {
		return Queue{}, errors.New("an SQS event needs Queue: !GetAtt <queue>.Arn of a queue of this template")
	}
	if n := get(props, "BatchSize"); n != nil {
		v, err := wholeNumber(n, "BatchSize", 1, 10000)
		if err != nil {
			return Queue{}, err
		}
		q.BatchSize = v
	}
	if n := get(props, "ScalingConfig", "MaximumConcurrency"); n != nil {
		const field, lo, hi = "ScalingConfig.MaximumConcurrency", 2, 1000
		if fn, arg, ok := intrinsic(n); ok && fn == "Ref" {
			v, err := wholeParam(params, arg.Value, field, lo, hi)
			if err != nil {
				return Queue{}, fmt.Errorf("line %d: %w", n.Line, err)
			}
			q.MaxConcurrency, q.MaxConcurrencyParam = v, arg.Value
		} else {
			v, err := wholeNumber(n, field, lo, hi)
			if err != nil {
				return Queue{}, err
			}
			q.MaxConcurrency = v
		}
	}
	for _, t := range items(get(props, "FunctionResponseTypes")) {
		v, ok := literal(t)
		if !ok || v != "ReportBatchItemFailures" {
			return Queue{}, fmt.Errorf("line %d: FunctionResponseTypes may only hold ReportBatchItemFailures", t.Line)
		}
		q.ReportBatchItemFailures = true
	}
	return q, nil
}

// getAtt returns the logical id and attribute that n names with Fn::GetAtt,
// in either spelling ("Id.Attr" or [Id, Attr]); empty when n is no GetAtt.
func getAtt(n *yaml.Node) (id, attr string) {
	fn, arg, ok := intrinsic(n)
	if !ok || fn != "Fn::GetAtt" {
		return "", ""
	}
	if arg.Kind == yaml.SequenceNode && len(arg.Content) == 2 {
		id, _ = literal(arg.Content[0])
		attr, _ = literal(arg.Content[1])
		return id, attr
	}
	id, attr, _ = strings.Cut(arg.Value, ".")
	return id, attr
}

// wholeNumber reads field's literal value n, which must be a whole number
// from lo to hi.
func wholeNumber(n *yaml.Node, field string, lo, hi int) (int, error) {
	s, ok := literal(n)
	v, err := strconv.Atoi(s)
	if !ok || err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("line %d: %s must be a whole number from %d to %d", n.Line, field, lo, hi)
	}
	return v, nil
}

// parseStream reads a DynamoDB event. Its Stream must be the StreamArn of
// the template's table; BatchSize and MaximumBatchingWindowInSeconds, when
// set, literals within Lambda's limits; StartingPosition TRIM_HORIZON or
// LATEST; and a batch that fails must be retried until it succeeds
// (MaximumRetryAttempts -1 or unset, BisectBatchOnFunctionError unset or
// false), as the local stack does.
func parseStream(name string, props *yaml.Node) (Stream, error) {
	st := Stream{Name: name, BatchSize: DefaultStreamBatchSize}
	if id, attr := getAtt(get(props, "Stream")); id == "" || attr != "StreamArn" {
		return Stream{}, errors.New("a DynamoDB event needs Stream: !GetAtt <table>.StreamArn")
	}
	if n := get(props, "BatchSize"); n != nil {
		v, err := wholeNumber(n, "BatchSize", 1, 10000)
		if err != nil {
			return Stream{}, err
		}
		st.BatchSize = v
	}
	if n := get(props, "MaximumBatchingWindowInSeconds"); n != nil {
		v, err := wholeNumber(n, "MaximumBatchingWindowInSeconds", 0, 300)
		if err != nil {
			return Stream{}, err
		}
		st.BatchingWindow = time.Duration(v) * time.Second
	}
	st.StartingPosition, _ = literal(get(props, "StartingPosition"))
	if st.StartingPosition != "TRIM_HORIZON" && st.StartingPosition != "LATEST" {
		return Stream{}, errors.New("StartingPosition must be TRIM_HORIZON or LATEST")
	}
	if n := get(props, "MaximumRetryAttempts"); n != nil {
		if v, _ := literal(n); v != "-1" {
			return Stream{}, fmt.Errorf("line %d: MaximumRetryAttempts must be -1 (retry until the batch succeeds)", n.Line)
		}
	}
	if n := get(props, "BisectBatchOnFunctionError"); n != nil {
		if v, _ := literal(n); v != "false" {
			return Stream{}, fmt.Errorf("line %d: BisectBatchOnFunctionError must be false", n.Line)
		}
	}
	return st, nil
}

// wholeParam checks that the parameter name, which field refers to, is a
// Number that can only take whole values from lo to hi (its MinValue,
// MaxValue and Default are whole numbers within them) and returns its default.
func wholeParam(params map[string]Parameter, name, field string, lo, hi int) (int, error) {
	p, ok := params[name]
	if !ok {
		return 0, fmt.Errorf("%s refers to %s, which is not a parameter of the template", field, name)
	}
	if p.Type != "Number" {
		return 0, fmt.Errorf("%s refers to parameter %s, which is not a Number", field, name)
	}
	bound := func(v string) (int, bool) {
		n, err := strconv.Atoi(v)
		return n, err == nil && n >= lo && n <= hi
	}
	lower, okMin := bound(p.MinValue)
	upper, okMax := bound(p.MaxValue)
	def, okDef := bound(p.Default)
	if !okMin || !okMax || !okDef || def < lower || def > upper {
		return 0, fmt.Errorf("%s refers to parameter %s, which needs a whole MinValue, MaxValue and Default from %d to %d", field, name, lo, hi)
	}
	return def, nil
}

func parseRoute(props *yaml.Node) (Route, error) {
	method, ok := literal(get(props, "Method"))
	if !ok || method == "" {
		return Route{}, errors.New("an HttpApi event needs a literal Method")
	}
	p, ok := literal(get(props, "Path"))
	if !ok || !strings.HasPrefix(p, "/") {
		return Route{}, errors.New("an HttpApi event needs a literal Path starting with /")
	}
	r := Route{Method: strings.ToUpper(method), Path: p}
	if n := get(props, "PayloadFormatVersion"); n != nil {
		if v, _ := literal(n); v != "2.0" {
			return Route{}, fmt.Errorf("line %d: PayloadFormatVersion must be 2.0, the format wxsub's handlers read", n.Line)
		}
	}
	if n := get(props, "Auth", "Authorizer"); n != nil {
		switch v, _ := literal(n); v {
		case "AWS_IAM":
			r.IAM = true
		case "NONE":
		default:
			return Route{}, fmt.Errorf("line %d: Auth.Authorizer %q: wxsub routes use AWS_IAM or no gateway authorizer", n.Line, v)
		}
	}
	return r, nil
}

func parseSchedule(name string, props *yaml.Node, field string) (Schedule, error) {
	expr, ok := literal(get(props, field))
	if !ok || expr == "" {
		return Schedule{}, fmt.Errorf("a schedule needs a literal %s", field)
	}
	every, err := parseRate(expr)
	if err != nil {
		return Schedule{}, err
	}
	s := Schedule{Name: name, Expression: expr, Every: every}
	if n := get(props, "Input"); n != nil {
		in, ok := literal(n)
		if !ok {
			return Schedule{}, fmt.Errorf("line %d: Input must be a literal JSON string", n.Line)
		}
		s.Input = in
	}
	return s, nil
}

// parseRate returns the period of a rate() expression and 0 for cron() and
// at(). As in EventBridge, a value of 1 takes a singular unit and any other a
// plural one.
func parseRate(expr string) (time.Duration, error) {
	if strings.HasPrefix(expr, "cron(") || strings.HasPrefix(expr, "at(") {
		return 0, nil
	}
	inner, ok := strings.CutPrefix(expr, "rate(")
	if ok {
		inner, ok = strings.CutSuffix(inner, ")")
	}
	f := strings.Fields(inner)
	if !ok || len(f) != 2 {
		return 0, fmt.Errorf("schedule %q: want rate(N unit), cron(...) or at(...)", expr)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= 0 || f[0] != strconv.Itoa(n) {
		return 0, fmt.Errorf("schedule %q: the rate must be a positive whole number", expr)
	}
	unit, plural := strings.CutSuffix(f[1], "s")
	var d time.Duration
	switch unit {
	case "minute":
		d = time.Minute
	case "hour":
		d = time.Hour
	case "day":
		d = 24 * time.Hour
	default:
		return 0, fmt.Errorf("schedule %q: the unit must be minute(s), hour(s) or day(s)", expr)
	}
	if plural != (n != 1) {
		return 0, fmt.Errorf("schedule %q: use a singular unit for 1 and a plural one otherwise", expr)
	}
	return time.Duration(n) * d, nil
}
