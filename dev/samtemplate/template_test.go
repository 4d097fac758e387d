package samtemplate

// The tests in this file check the repository's template.yaml itself: what
// `sam build` and CloudFormation would reject, and what would make wxsub
// insecure or unbuildable, fails here first.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/global"
	"github.com/awslabs/goformation/v7/intrinsics"
	"gopkg.in/yaml.v3"
)

// source is the repository's template.yaml, parsed three ways.
type source struct {
	path, dir string
	tpl       *Template
	root      *yaml.Node            // the document's mapping
	resources map[string]*yaml.Node // by logical id
	types     map[string]string     // resource type by logical id
	params    map[string]*yaml.Node
	conds     map[string]bool
}

func loadSource(t *testing.T) *source {
	t.Helper()
	p, err := Find(".")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	s := &source{
		path: p, dir: filepath.Dir(p), tpl: tpl, root: resolve(doc.Content[0]),
		resources: map[string]*yaml.Node{}, types: map[string]string{},
		params: map[string]*yaml.Node{}, conds: map[string]bool{},
	}
	for _, kv := range pairs(get(s.root, "Resources")) {
		s.resources[kv[0].Value] = kv[1]
		s.types[kv[0].Value], _ = literal(get(kv[1], "Type"))
	}
	for _, kv := range pairs(get(s.root, "Parameters")) {
		s.params[kv[0].Value] = kv[1]
	}
	for _, kv := range pairs(get(s.root, "Conditions")) {
		s.conds[kv[0].Value] = true
	}
	return s
}

// only returns the logical id of the one resource of a type.
func (s *source) only(t *testing.T, typ string) string {
	t.Helper()
	var ids []string
	for id, ty := range s.types {
		if ty == typ {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("want exactly one %s, got %v", typ, ids)
	}
	return ids[0]
}

// goformationTemplate parses template.yaml with goformation, resolving a Ref
// to a boolean parameter to its default and any other Ref to the logical id.
// goformation v7 lags SAM in AWS::Serverless::HttpApi (it knows
// AccessLogSetting rather than AccessLogSettings, and no
// Auth.EnableIamAuthorizer), so those two are removed first;
// TestHTTPAPI checks them.
func goformationTemplate(t *testing.T, s *source) *cloudformation.Template {
	t.Helper()
	root := deepCopy(s.root)
	for _, kv := range pairs(get(root, "Resources")) {
		if typ, _ := literal(get(kv[1], "Type")); typ == "AWS::Serverless::HttpApi" {
			props := get(kv[1], "Properties")
			deleteKey(props, "AccessLogSettings")
			// goformation's SAM model types RouteSettings as one route's
			// settings rather than a map by route key, and wants literal
			// limits (cfn-lint checks both; so does TestThrottling).
			deleteKey(props, "RouteSettings")
			deleteKey(props, "DefaultRouteSettings")
			deleteKey(get(props, "Auth"), "EnableIamAuthorizer")
		}
	}
	data, err := yaml.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	ref := func(_ string, input, template any) any {
		name, _ := input.(string)
		params, _ := template.(map[string]any)["Parameters"].(map[string]any)
		if p, ok := params[name].(map[string]any); ok {
			if d, ok := p["Default"].(string); ok && (d == "true" || d == "false") {
				return d == "true"
			}
		}
		return input
	}
	gf, err := goformation.ParseYAMLWithOptions(data, &intrinsics.ProcessorOptions{
		IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{"Ref": ref},
	})
	if err != nil {
		t.Fatalf("goformation cannot read template.yaml: %v", err)
	}
	return gf
}

func deleteKey(m *yaml.Node, key string) {
	if m == nil || m.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = slices.Delete(m.Content, i, i+2)
			return
		}
	}
}

func TestGoformationAgreesWithTheReader(t *testing.T) {
	s := loadSource(t)
	gf := goformationTemplate(t, s)
	if gf.Transform == nil || gf.Transform.String == nil || *gf.Transform.String != "AWS::Serverless-2016-10-31" {
		t.Error("Transform is not AWS::Serverless-2016-10-31")
	}
	g, _ := gf.Globals["Function"].(*global.Function)
	if g == nil {
		t.Fatal("no Globals.Function")
	}
	apiID := s.only(t, "AWS::Serverless::HttpApi")

	fns := gf.GetAllServerlessFunctionResources()
	var ids []string
	for id := range fns {
		ids = append(ids, id)
	}
	var readerIDs []string
	for _, fn := range s.tpl.Functions {
		readerIDs = append(readerIDs, fn.LogicalID)
	}
	slices.Sort(ids)
	slices.Sort(readerIDs)
	if !slices.Equal(ids, readerIDs) {
		t.Fatalf("goformation sees functions %v, samtemplate %v", ids, readerIDs)
	}

	for _, fn := range s.tpl.Functions {
		f := fns[fn.LogicalID]
		runtime, handler := g.Runtime, g.Handler
		var arch []string
		if g.Architectures != nil {
			arch = *g.Architectures
		}
		if f.Runtime != nil {
			runtime = f.Runtime
		}
		if f.Handler != nil {
			handler = f.Handler
		}
		if f.Architectures != nil {
			arch = f.Architectures
		}
		if runtime == nil || *runtime != "provided.al2023" {
			t.Errorf("%s: Runtime is not provided.al2023", fn.LogicalID)
		}
		if handler == nil || *handler != "bootstrap" {
			t.Errorf("%s: Handler is not bootstrap", fn.LogicalID)
		}
		if !slices.Equal(arch, []string{"arm64"}) {
			t.Errorf("%s: Architectures %v, want [arm64]", fn.LogicalID, arch)
		}
		if f.CodeUri == nil || f.CodeUri.String == nil || *f.CodeUri.String != "." {
			t.Errorf("%s: CodeUri is not . (the root Makefile builds every function)", fn.LogicalID)
		}
		if f.AWSCloudFormationMetadata["BuildMethod"] != "makefile" {
			t.Errorf("%s: Metadata.BuildMethod is not makefile", fn.LogicalID)
		}
		if f.AWSCloudFormationMetadata[CodeDirKey] != fn.CodeDir {
			t.Errorf("%s: Metadata.%s is %v, the reader says %q", fn.LogicalID, CodeDirKey, f.AWSCloudFormationMetadata[CodeDirKey], fn.CodeDir)
		}

		var routes []string
		for name, ev := range f.Events {
			if ev.Type != "HttpApi" {
				continue
			}
			h := ev.Properties.HttpApiEvent
			if h == nil || h.Method == nil || h.Path == nil {
				t.Errorf("%s: event %s is not a complete HttpApi event", fn.LogicalID, name)
				continue
			}
			if h.ApiId == nil || *h.ApiId != apiID {
				t.Errorf("%s: event %s is not on the template's HttpApi %s (an implicit API has no IAM authorizer)", fn.LogicalID, name, apiID)
			}
			iam := h.Auth != nil && h.Auth.Authorizer != nil && *h.Auth.Authorizer == "AWS_IAM"
			routes = append(routes, Route{Method: strings.ToUpper(*h.Method), Path: *h.Path, IAM: iam}.Key()+iamMark(iam))
		}
		var readerRoutes []string
		for _, r := range fn.Routes {
			readerRoutes = append(readerRoutes, r.Key()+iamMark(r.IAM))
		}
		slices.Sort(routes)
		slices.Sort(readerRoutes)
		if !slices.Equal(routes, readerRoutes) {
			t.Errorf("%s: goformation sees routes %v, samtemplate %v", fn.LogicalID, routes, readerRoutes)
		}

		// goformation v7 has no SQS ScalingConfig or FunctionResponseTypes,
		// so it keeps such an event's type without its properties.
		var queues, readerQueues []string
		for name, ev := range f.Events {
			if ev.Type == "SQS" {
				queues = append(queues, name)
			}
		}
		for _, q := range fn.Queues {
			readerQueues = append(readerQueues, q.Name)
		}
		slices.Sort(queues)
		slices.Sort(readerQueues)
		if !slices.Equal(queues, readerQueues) {
			t.Errorf("%s: goformation sees SQS events %v, samtemplate %v", fn.LogicalID, queues, readerQueues)
		}
	}

	tableID := s.only(t, "AWS::DynamoDB::Table")
	tb, err := gf.GetDynamoDBTableWithName(tableID)
	if err != nil {
		t.Fatal(err)
	}
	if tb.BillingMode == nil || *tb.BillingMode != "PAY_PER_REQUEST" {
		t.Error("the table is not billed per request")
	}
	if p := tb.PointInTimeRecoverySpecification; p == nil || p.PointInTimeRecoveryEnabled == nil || !*p.PointInTimeRecoveryEnabled {
		t.Error("point-in-time recovery is off")
	}
	if tb.DeletionProtectionEnabled == nil {
		t.Error("DeletionProtectionEnabled is not set")
	}
	if ttl := tb.TimeToLiveSpecification; ttl == nil || !ttl.Enabled || ttl.AttributeName == nil || *ttl.AttributeName != s.tpl.Table.TTLAttribute {
		t.Errorf("goformation sees TTL %+v, samtemplate %q", ttl, s.tpl.Table.TTLAttribute)
	}
	want := []string{s.tpl.Table.PartitionKey + " HASH"}
	if s.tpl.Table.SortKey != "" {
		want = append(want, s.tpl.Table.SortKey+" RANGE")
	}
	var got []string
	for _, k := range tb.KeySchema {
		got = append(got, k.AttributeName+" "+k.KeyType)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("goformation sees keys %v, samtemplate %v", got, want)
	}
	var gsis, readerGSIs []string
	for _, g := range tb.GlobalSecondaryIndexes {
		d := g.IndexName
		for _, k := range g.KeySchema {
			d += " " + k.AttributeName + ":" + k.KeyType
		}
		if g.Projection != nil && g.Projection.ProjectionType != nil {
			d += " " + *g.Projection.ProjectionType
		}
		gsis = append(gsis, d)
	}
	for _, g := range s.tpl.Table.GSIs {
		d := g.Name + " " + g.PartitionKey + ":HASH"
		if g.SortKey != "" {
			d += " " + g.SortKey + ":RANGE"
		}
		readerGSIs = append(readerGSIs, d+" "+g.Projection)
	}
	if !slices.Equal(gsis, readerGSIs) {
		t.Errorf("goformation sees indexes %v, samtemplate %v", gsis, readerGSIs)
	}
}

func iamMark(iam bool) string {
	if iam {
		return " (AWS_IAM)"
	}
	return ""
}

func TestHTTPAPI(t *testing.T) {
	s := loadSource(t)
	props := get(s.resources[s.only(t, "AWS::Serverless::HttpApi")], "Properties")
	if v, _ := literal(get(props, "Auth", "EnableIamAuthorizer")); v != "true" {
		t.Error("Auth.EnableIamAuthorizer is not true: AWS_IAM routes would not deploy")
	}
	if get(props, "Auth", "DefaultAuthorizer") != nil {
		t.Error("a DefaultAuthorizer would put the client routes behind it")
	}
	for key, want := range map[string][]string{
		"AllowMethods": {"GET", "POST"},
		"AllowHeaders": {"authorization", "content-type", "idempotency-key"},
	} {
		var got []string
		for _, n := range items(get(props, "CorsConfiguration", key)) {
			v, _ := literal(n)
			got = append(got, strings.ToLower(v))
		}
		for _, w := range want {
			if !slices.Contains(got, strings.ToLower(w)) {
				t.Errorf("CorsConfiguration.%s lacks %s", key, w)
			}
		}
	}
}

// publicRoutes are the routes without the AWS_IAM authorizer: the client
// routes check the session token, the WeChat route the push signature.
var publicRoutes = []string{
	"POST /v1/session",
	"GET /v1/jssdk-config",
	"POST /v1/subscriptions",
	"GET /v1/subscriptions",
	"GET /v1/templates",
	"GET /v1/wechat/events",
	"POST /v1/wechat/events",
}

func TestOnlyClientAndWeChatRoutesGoWithoutIAM(t *testing.T) {
	s := loadSource(t)
	for _, fn := range s.tpl.Functions {
		for _, r := range fn.Routes {
			public := slices.Contains(publicRoutes, r.Key())
			if r.IAM == public {
				t.Errorf("%s: route %s has IAM=%v; the server routes need AWS_IAM and the client and WeChat routes cannot sign", fn.LogicalID, r.Key(), r.IAM)
			}
		}
	}
}

func TestTheContractsRoutesAndSchedules(t *testing.T) {
	s := loadSource(t)
	owner := map[string]string{}
	for _, fn := range s.tpl.Functions {
		for _, r := range fn.Routes {
			owner[r.Key()] = fn.LogicalID
		}
	}
	for key, fn := range map[string]string{
		"POST /v1/session":                     "SessionFunction",
		"GET /v1/jssdk-config":                 "JssdkFunction",
		"POST /v1/subscriptions":               "SubscriptionsFunction",
		"GET /v1/subscriptions":                "SubscriptionsFunction",
		"GET /v1/users/{openid}/subscriptions": "SubscriptionsFunction",
		"POST /v1/messages":                    "SendFunction",
		"GET /v1/messages/{id}":                "SendFunction",
		"POST /v1/broadcasts":                  "BroadcastFunction",
		"GET /v1/broadcasts/{id}":              "BroadcastFunction",
		"GET /v1/broadcasts/{id}/messages":     "BroadcastFunction",
	} {
		if owner[key] != fn {
			t.Errorf("route %s belongs to %q, want %s", key, owner[key], fn)
		}
	}

	refresh := false
	for _, fn := range s.tpl.Functions {
		for _, sch := range fn.Schedules {
			var in map[string]any
			if json.Unmarshal([]byte(sch.Input), &in) == nil && in["job"] == "refresh-token" {
				refresh = fn.LogicalID == "RefreshTokenFunction" && sch.Every == 5*time.Minute
			}
		}
	}
	if !refresh {
		t.Error(`RefreshTokenFunction does not run every 5 minutes with the input {"job":"refresh-token"}`)
	}
}

func TestFunctions(t *testing.T) {
	s := loadSource(t)
	if len(s.tpl.Functions) == 0 {
		t.Fatal("no functions")
	}
	for _, fn := range s.tpl.Functions {
		if !strings.HasPrefix(fn.CodeDir, "functions/") || strings.Count(fn.CodeDir, "/") != 1 {
			t.Errorf("%s: code dir %q is not functions/<name>", fn.LogicalID, fn.CodeDir)
		}
		if _, err := os.Stat(filepath.Join(s.dir, fn.CodeDir, "main.go")); err != nil {
			t.Errorf("%s: %v", fn.LogicalID, err)
		}
		for _, v := range []string{"TABLE_NAME", "WECHAT_APPID", "WECHAT_TOKEN_API", "WECHAT_API_BASE", "SESSION_TTL", "WXSUB_SECRETS", "WECHAT_PUSH_MODE", "WXSUB_CREDIT_SOURCE", "WECHAT_APP_KIND"} {
			if fn.Env[v] == "" {
				// A function that never calls WeChat empties WXSUB_SECRETS
				// explicitly: it reads no secret and is granted none.
				if v == "WXSUB_SECRETS" && hasKey(fn.Env, v) && !readsSecrets(s, fn.LogicalID) {
					continue
				}
				t.Errorf("%s: environment variable %s is not set", fn.LogicalID, v)
			}
		}
		// The secrets come from WXSUB_SECRETS at start, never from the template.
		for _, v := range []string{"WECHAT_SECRET", "WECHAT_PUSH_TOKEN", "WECHAT_ENCODING_AES_KEY", "SESSION_SIGNING_KEY", "WXSUB_ADMIN_KEY"} {
			if _, ok := fn.Env[v]; ok {
				t.Errorf("%s: %s is set in the template; secrets belong in the secret that WXSUB_SECRETS names", fn.LogicalID, v)
			}
		}
		if len(fn.Routes)+len(fn.Schedules)+len(fn.Queues)+len(fn.Streams) == 0 {
			t.Errorf("%s has no route, schedule, queue or stream: nothing would ever invoke it", fn.LogicalID)
		}
		// API Gateway gives up on an integration after 30 s.
		if len(fn.Routes) > 0 && fn.Timeout > 29*time.Second {
			t.Errorf("%s: Timeout %v outlives API Gateway's 30 s", fn.LogicalID, fn.Timeout)
		}
	}
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// readsSecrets reports whether the function's policies include a managed
// policy of the template (the secrets' read policy).
func readsSecrets(s *source, id string) bool {
	for _, p := range items(get(s.resources[id], "Properties", "Policies")) {
		if f, _, ok := intrinsic(p); ok && f == "Ref" {
			return true
		}
	}
	return false
}

var secretName = regexp.MustCompile(`(?i)secret|password|passwd|credential|private|signingkey|aeskey|pushtoken|apikey`)

func TestParameters(t *testing.T) {
	s := loadSource(t)
	gf := goformationTemplate(t, s)
	for name, p := range gf.Parameters {
		def, hasDefault := p.Default.(string)
		if secretName.MatchString(name) && p.Default != nil {
			t.Errorf("parameter %s looks secret and has a default", name)
		}
		if !hasDefault {
			continue
		}
		if len(p.AllowedValues) > 0 && !slices.Contains(p.AllowedValues, any(def)) {
			t.Errorf("parameter %s: default %q is not among its AllowedValues %v", name, def, p.AllowedValues)
		}
		if p.AllowedPattern != nil && def != "" && !fullMatch(t, *p.AllowedPattern, def) {
			t.Errorf("parameter %s: default %q does not match its AllowedPattern", name, def)
		}
	}
	for name, cases := range map[string]map[string]bool{
		"WeChatAppId": {
			"wx8f3a9c2b1d4e5f60": true, "wx8F3A9C2B1D4E5F60": false, "wx123": false, "8f3a9c2b1d4e5f60aa": false,
		},
		"SecretsSource": {
			"arn:aws:secretsmanager:us-east-1:123456789012:secret:wxsub-AbCdEf":     true,
			"arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:wxsub-AbCdEf": true,
			"/wxsub/prod/secrets": true,
			"wxsub-secrets":       false,
			"arn:aws:ssm:us-east-1:123456789012:parameter/wxsub": false,
			"": false,
		},
		"SessionTTL": {"168h": true, "1h30m": true, "90s": true, "7d": false, "": false, "-1h": false},
	} {
		p, ok := gf.Parameters[name]
		if !ok || p.AllowedPattern == nil {
			t.Errorf("parameter %s has no AllowedPattern", name)
			continue
		}
		for v, want := range cases {
			if got := fullMatch(t, *p.AllowedPattern, v); got != want {
				t.Errorf("parameter %s: pattern accepts %q = %v, want %v", name, v, got, want)
			}
		}
	}
	if _, ok := gf.Parameters["SecretsSource"]; ok && gf.Parameters["SecretsSource"].Default != nil {
		t.Error("SecretsSource has a default: the operator must name their secret")
	}
}

func fullMatch(t *testing.T, pattern, s string) bool {
	t.Helper()
	re, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		t.Fatalf("AllowedPattern %q: %v", pattern, err)
	}
	return re.MatchString(s)
}

// pseudoParameters are CloudFormation's.
var pseudoParameters = []string{
	"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
	"AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix",
}

// walkIntrinsics calls visit for every intrinsic function at or under n.
func walkIntrinsics(n *yaml.Node, visit func(fn string, arg *yaml.Node)) {
	n = resolve(n)
	if n == nil {
		return
	}
	if fn, arg, ok := intrinsic(n); ok {
		visit(fn, arg)
	}
	for _, c := range n.Content {
		walkIntrinsics(c, visit)
	}
}

// subVariables returns the ${...} names in a Fn::Sub string (not ${!literal}).
func subVariables(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return out
		}
		j := strings.Index(s[i:], "}")
		if j < 0 {
			return out
		}
		if v := s[i+2 : i+j]; !strings.HasPrefix(v, "!") {
			out = append(out, v)
		}
		s = s[i+j+1:]
	}
}

func TestEveryReferenceResolves(t *testing.T) {
	s := loadSource(t)
	isResource := func(n string) bool { _, ok := s.resources[n]; return ok }
	isParam := func(n string) bool { _, ok := s.params[n]; return ok }
	isValue := func(n string) bool { return isResource(n) || isParam(n) || slices.Contains(pseudoParameters, n) }
	checkCondition := func(n *yaml.Node) {
		if name, ok := literal(n); !ok || !s.conds[name] {
			t.Errorf("line %d: condition %q is not declared under Conditions", n.Line, n.Value)
		}
	}
	refs := 0
	walkIntrinsics(s.root, func(fn string, arg *yaml.Node) {
		refs++
		switch fn {
		case "Ref":
			if name, _ := literal(arg); !isValue(name) {
				t.Errorf("line %d: !Ref %s names no parameter, resource or pseudo parameter", arg.Line, name)
			}
		case "Fn::GetAtt":
			target, _ := literal(arg)
			target, _, _ = strings.Cut(target, ".")
			if arg.Kind == yaml.SequenceNode && len(arg.Content) == 2 {
				target, _ = literal(arg.Content[0])
			}
			if !isResource(target) {
				t.Errorf("line %d: !GetAtt %s names no resource", arg.Line, target)
			}
		case "Fn::Sub":
			str, locals := arg, map[string]bool{}
			if arg.Kind == yaml.SequenceNode && len(arg.Content) == 2 {
				str = arg.Content[0]
				for _, kv := range pairs(arg.Content[1]) {
					locals[kv[0].Value] = true
				}
			}
			text, ok := literal(str)
			if !ok {
				t.Errorf("line %d: !Sub of something other than a string", arg.Line)
			}
			for _, v := range subVariables(text) {
				name, attr, hasAttr := strings.Cut(v, ".")
				if hasAttr && !strings.HasPrefix(v, "AWS::") {
					if !isResource(name) || attr == "" {
						t.Errorf("line %d: ${%s} names no resource attribute", arg.Line, v)
					}
				} else if !isValue(v) && !locals[v] {
					t.Errorf("line %d: ${%s} names no parameter, resource or pseudo parameter", arg.Line, v)
				}
			}
		case "Fn::If":
			if arg.Kind != yaml.SequenceNode || len(arg.Content) != 3 {
				t.Errorf("line %d: !If takes [condition, then, else]", arg.Line)
				return
			}
			checkCondition(arg.Content[0])
		case "Condition":
			checkCondition(arg)
		}
	})
	if refs == 0 {
		t.Fatal("found no intrinsic function at all in template.yaml")
	}
	for _, section := range []string{"Resources", "Outputs"} {
		for _, kv := range pairs(get(s.root, section)) {
			if c := get(kv[1], "Condition"); c != nil {
				checkCondition(c)
			}
		}
	}
	for _, out := range []string{"ApiUrl", "TableName"} {
		if get(s.root, "Outputs", out, "Value") == nil {
			t.Errorf("output %s is missing", out)
		}
	}
}

func TestARNsUseThePartition(t *testing.T) {
	s := loadSource(t)
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		n = resolve(n)
		if n == nil {
			return
		}
		if n.Kind == yaml.ScalarNode {
			for rest := n.Value; ; {
				i := strings.Index(rest, "arn:")
				if i < 0 {
					break
				}
				if !strings.HasPrefix(rest[i:], "arn:${AWS::Partition}:") {
					t.Errorf("line %d: %q writes an ARN without ${AWS::Partition} (AWS China is aws-cn)", n.Line, n.Value)
					break
				}
				rest = rest[i+4:]
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	for _, section := range []string{"Globals", "Conditions", "Resources", "Outputs"} {
		walk(get(s.root, section))
	}
}

// statements flattens a policy's Statement list, taking both branches of
// every !If and dropping !Ref AWS::NoValue.
func statements(n *yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	for _, st := range items(n) {
		if fn, arg, ok := intrinsic(st); ok {
			switch {
			case fn == "Fn::If" && arg.Kind == yaml.SequenceNode && len(arg.Content) == 3:
				out = append(out, statements(&yaml.Node{Kind: yaml.SequenceNode, Content: arg.Content[1:]})...)
			case fn == "Ref" && arg.Value == "AWS::NoValue":
			default:
				out = append(out, st)
			}
			continue
		}
		out = append(out, st)
	}
	return out
}

// listOf returns the rendered values of a scalar-or-list field.
func listOf(n *yaml.Node) []string {
	n = resolve(n)
	if n == nil {
		return nil
	}
	if _, _, ok := intrinsic(n); ok || n.Kind != yaml.SequenceNode {
		return []string{render(n)}
	}
	var out []string
	for _, c := range items(n) {
		out = append(out, render(c))
	}
	return out
}

// checkStatement reports what an IAM statement grants beyond what is allowed.
func checkStatement(t *testing.T, where string, st *yaml.Node, allowed func(action, resource string) bool) (grants map[string][]string) {
	t.Helper()
	if eff, _ := literal(get(st, "Effect")); eff != "Allow" {
		t.Errorf("%s: line %d: Effect is not Allow", where, st.Line)
	}
	for _, k := range []string{"NotAction", "NotResource", "Principal"} {
		if get(st, k) != nil {
			t.Errorf("%s: line %d: %s grants too widely", where, st.Line, k)
		}
	}
	actions, resources := listOf(get(st, "Action")), listOf(get(st, "Resource"))
	if len(actions) == 0 || len(resources) == 0 {
		t.Errorf("%s: line %d: a statement needs Action and Resource", where, st.Line)
	}
	grants = map[string][]string{}
	for _, a := range actions {
		if strings.Contains(a, "*") || strings.HasPrefix(a, "!") {
			t.Errorf("%s: line %d: action %q is a wildcard or not a literal", where, st.Line, a)
		}
		for _, r := range resources {
			if !allowed(a, r) {
				t.Errorf("%s: line %d: %s on %s is not allowed", where, st.Line, a, r)
			}
			grants[a] = append(grants[a], r)
		}
	}
	return grants
}

func TestPoliciesAreLeastPrivilege(t *testing.T) {
	s := loadSource(t)
	tableID := s.only(t, "AWS::DynamoDB::Table")
	tableArn := "!GetAtt " + tableID + ".Arn"
	// Index grants name the index (gsi1), never index/*.
	indexArn := "!Sub ${" + tableID + ".Arn}/index/gsi1"
	// Functions may send to the queues that a function of the template
	// consumes (not to a dead-letter queue), and do nothing else with them.
	jobQueues := map[string]bool{}
	for _, fn := range s.tpl.Functions {
		for _, q := range fn.Queues {
			jobQueues["!GetAtt "+q.Resource+".Arn"] = true
		}
	}
	// Functions may invoke the refresher that WXSUB_REFRESHER names (token
	// fetches are made there), and no other function.
	refreshers := map[string]bool{}
	for _, fn := range s.tpl.Functions {
		if ref, ok := strings.CutPrefix(fn.Env["WXSUB_REFRESHER"], "!Ref "); ok {
			refreshers["!GetAtt "+ref+".Arn"] = true
		}
	}
	functionAllows := func(action, r string) bool {
		switch {
		case r == tableArn:
			return strings.HasPrefix(action, "dynamodb:")
		case r == indexArn:
			return action == "dynamodb:Query" || action == "dynamodb:Scan"
		case jobQueues[r]:
			return action == "sqs:SendMessage"
		case refreshers[r]:
			return action == "lambda:InvokeFunction"
		}
		return false
	}
	kmsKeys := "!Sub arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"
	secretsAllow := func(action, r string) bool {
		switch action {
		case "secretsmanager:GetSecretValue":
			return r == "!Ref SecretsSource"
		case "ssm:GetParameter":
			return r == "!Sub arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${SecretsSource}"
		case "kms:Decrypt":
			return r == kmsKeys
		}
		return false
	}

	// The server caller's policy may invoke the server routes (those with
	// the IAM authorizer), and nothing else (see TestServerCallerPolicy).
	serverRoutes := serverRouteARNs(s)
	managedAllow := func(action, r string) bool {
		return secretsAllow(action, r) || action == "execute-api:Invoke" && serverRoutes[r]
	}

	// The managed policies of the template that read the secrets, and nothing else.
	readsSecrets := map[string]bool{}
	for id, typ := range s.types {
		if typ != "AWS::IAM::ManagedPolicy" {
			continue
		}
		all := map[string][]string{}
		for _, st := range statements(get(s.resources[id], "Properties", "PolicyDocument", "Statement")) {
			grants := checkStatement(t, id, st, managedAllow)
			if _, ok := grants["kms:Decrypt"]; ok && get(st, "Condition", "StringEquals", "kms:ViaService") == nil {
				t.Errorf("%s: kms:Decrypt without a kms:ViaService condition", id)
			}
			for a, rs := range grants {
				all[a] = append(all[a], rs...)
			}
		}
		readsSecrets[id] = len(all["secretsmanager:GetSecretValue"]) > 0 && len(all["ssm:GetParameter"]) > 0
	}

	for _, fn := range s.tpl.Functions {
		res := s.resources[fn.LogicalID]
		secrets := false
		for _, p := range items(get(res, "Properties", "Policies")) {
			if f, arg, ok := intrinsic(p); ok && f == "Ref" {
				if !readsSecrets[arg.Value] {
					t.Errorf("%s: policy !Ref %s is not a managed policy of this template that reads the secrets", fn.LogicalID, arg.Value)
				}
				secrets = true
				continue
			}
			sts := get(p, "Statement")
			if sts == nil {
				t.Errorf("%s: line %d: use inline statements (SAM policy templates and AWS managed policies grant too much)", fn.LogicalID, p.Line)
				continue
			}
			for _, st := range statements(sts) {
				checkStatement(t, fn.LogicalID, st, functionAllows)
			}
		}
		if v, ok := fn.Env["WXSUB_SECRETS"]; ok && v != "" && !secrets {
			t.Errorf("%s reads WXSUB_SECRETS at start but may not read the secret", fn.LogicalID)
		}
	}
}

func TestMakefileBuildsEveryFunction(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	s := loadSource(t)
	makeN := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("make", append([]string{"-n", "-C", s.dir}, args...)...)
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "ARTIFACTS_DIR=") && !strings.HasPrefix(kv, "LAMBDA_GOARCH=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make -n %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// builds reports whether a line of out builds pkg into dir/bootstrap for Lambda.
	builds := func(out, pkg, dir string) bool {
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) > 0 && f[len(f)-1] == pkg &&
				strings.Contains(line, "GOOS=linux") && strings.Contains(line, "GOARCH=arm64") &&
				strings.Contains(line, "CGO_ENABLED=0") && strings.Contains(line, "-tags lambda.norpc") &&
				strings.Contains(line, " -o "+dir+"/bootstrap ") {
				return true
			}
		}
		return false
	}
	all := makeN("build")
	for _, fn := range s.tpl.Functions {
		pkg := "./" + fn.CodeDir
		if out := makeN("build-"+fn.LogicalID, "ARTIFACTS_DIR=/sam/artifacts"); !builds(out, pkg, "/sam/artifacts") {
			t.Errorf("make build-%s does not build %s for linux/arm64 into $(ARTIFACTS_DIR)/bootstrap:\n%s", fn.LogicalID, pkg, out)
		}
		if !builds(all, pkg, "bin/"+path.Base(fn.CodeDir)) {
			t.Errorf("make build does not build %s into bin/%s/bootstrap (add it to FUNCTIONS)", pkg, path.Base(fn.CodeDir))
		}
	}
}

// The API is throttled: every route by default, and the routes without
// gateway auth that spend something (a login spends WeChat's jscode2session
// quota; a push is decrypted and written) more strictly, by parameters.
func TestThrottling(t *testing.T) {
	s := loadSource(t)
	var api *yaml.Node
	for id, typ := range s.types {
		if typ == "AWS::Serverless::HttpApi" {
			api = get(s.resources[id], "Properties")
		}
	}
	ref := func(n *yaml.Node) string {
		if f, arg, ok := intrinsic(n); ok && f == "Ref" {
			return arg.Value
		}
		return ""
	}
	def := get(api, "DefaultRouteSettings")
	if ref(get(def, "ThrottlingRateLimit")) == "" || ref(get(def, "ThrottlingBurstLimit")) == "" {
		t.Fatal("DefaultRouteSettings must set ThrottlingRateLimit and ThrottlingBurstLimit from parameters")
	}
	routes := map[string]Route{}
	for _, fn := range s.tpl.Functions {
		for _, r := range fn.Routes {
			routes[r.Key()] = r
		}
	}
	strict := map[string]bool{}
	for _, kv := range pairs(get(api, "RouteSettings")) {
		r, ok := routes[kv[0].Value]
		if !ok {
			t.Errorf("RouteSettings names %q, which is no route of the template", kv[0].Value)
			continue
		}
		if r.IAM {
			t.Errorf("RouteSettings throttles %s, an IAM route (the default applies)", r.Key())
		}
		rate, burst := ref(get(kv[1], "ThrottlingRateLimit")), ref(get(kv[1], "ThrottlingBurstLimit"))
		if rate == "" || burst == "" || rate == ref(get(def, "ThrottlingRateLimit")) {
			t.Errorf("%s: its own ThrottlingRateLimit and ThrottlingBurstLimit parameters", r.Key())
		}
		strict[r.Key()] = true
	}
	for _, k := range []string{"POST /v1/session", "POST /v1/wechat/events"} {
		if !strict[k] {
			t.Errorf("%s is not throttled more strictly than the default", k)
		}
	}
}
