package samtemplate

// The checks of this file render template.yaml's optional production parts
// (the refresher's static egress, the custom domain) for the parameter
// values an operator may choose, by evaluating its Conditions, and check
// that each rendering creates what it promises and refers to nothing it
// does not create.

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// rendering is the template under one set of parameter values.
type rendering struct {
	t      *testing.T
	s      *source
	values map[string]any // string, or []string for a CommaDelimitedList
	conds  map[string]bool
}

func renderWith(t *testing.T, s *source, set map[string]string) *rendering {
	t.Helper()
	r := &rendering{t: t, s: s, values: map[string]any{}, conds: map[string]bool{}}
	// The pseudo parameters a condition may read, set like parameters.
	r.values["AWS::Partition"] = "aws"
	if v, ok := set["AWS::Partition"]; ok {
		r.values["AWS::Partition"] = v
	}
	for name, p := range s.params {
		v, ok := set[name]
		if !ok {
			v, _ = literal(get(p, "Default"))
		}
		if typ, _ := literal(get(p, "Type")); typ == "CommaDelimitedList" {
			r.values[name] = strings.Split(v, ",")
		} else {
			r.values[name] = v
		}
	}
	for _, kv := range pairs(get(s.root, "Conditions")) {
		r.conds[kv[0].Value] = r.cond(kv[1])
	}
	return r
}

// value evaluates the intrinsic functions a condition may use.
func (r *rendering) value(n *yaml.Node) any {
	fn, arg, ok := intrinsic(n)
	if !ok {
		if n.Kind == yaml.SequenceNode {
			var out []string
			for _, c := range n.Content {
				out = append(out, fmt.Sprint(r.value(c)))
			}
			return out
		}
		v, _ := literal(n)
		return v
	}
	switch fn {
	case "Ref":
		v, ok := r.values[arg.Value]
		if !ok {
			r.t.Fatalf("a condition refers to %s, which is no parameter", arg.Value)
		}
		return v
	case "Fn::Join":
		sep, _ := literal(arg.Content[0])
		list, _ := r.value(arg.Content[1]).([]string)
		return strings.Join(list, sep)
	case "Fn::Equals":
		return fmt.Sprint(r.value(arg.Content[0])) == fmt.Sprint(r.value(arg.Content[1]))
	case "Fn::Not":
		return !r.cond(arg.Content[0])
	case "Fn::And", "Fn::Or":
		and := fn == "Fn::And"
		for _, c := range arg.Content {
			if r.cond(c) != and {
				return !and
			}
		}
		return and
	case "Condition":
		return r.conds[arg.Value]
	case "Fn::Select":
		i, _ := literal(arg.Content[0])
		list, _ := r.value(arg.Content[1]).([]string)
		var k int
		fmt.Sscan(i, &k)
		return list[k]
	case "Fn::Split":
		sep, _ := literal(arg.Content[0])
		return strings.Split(fmt.Sprint(r.value(arg.Content[1])), sep)
	}
	r.t.Fatalf("a condition uses %s, which this test cannot evaluate", fn)
	return nil
}

func (r *rendering) cond(n *yaml.Node) bool {
	b, ok := r.value(n).(bool)
	if !ok {
		r.t.Fatalf("line %d: a condition that is not a boolean", n.Line)
	}
	return b
}

// created reports whether a resource or output exists in this rendering.
func (r *rendering) created(n *yaml.Node) bool {
	c, ok := literal(get(n, "Condition"))
	return !ok || r.conds[c]
}

// chosen resolves the !If at n: the branch this rendering takes.
func (r *rendering) chosen(n *yaml.Node) *yaml.Node {
	for {
		fn, arg, ok := intrinsic(n)
		if !ok || fn != "Fn::If" {
			return n
		}
		name, _ := literal(arg.Content[0])
		if r.conds[name] {
			n = arg.Content[1]
		} else {
			n = arg.Content[2]
		}
	}
}

// refs lists the logical ids n refers to (Ref, GetAtt, DependsOn aside),
// following only the branches of !If this rendering takes.
func (r *rendering) refs(n *yaml.Node, out map[string]bool) {
	n = resolve(r.chosen(n))
	if n == nil {
		return
	}
	if fn, arg, ok := intrinsic(n); ok {
		switch fn {
		case "Ref":
			out[arg.Value] = true
			return
		case "Fn::GetAtt":
			id, _ := getAtt(n)
			out[id] = true
			return
		case "Fn::Sub":
			tmpl := arg.Value
			if arg.Kind == yaml.SequenceNode {
				tmpl = arg.Content[0].Value
			}
			for _, part := range strings.Split(tmpl, "${")[1:] {
				name, _, _ := strings.Cut(part, "}")
				id, _, _ := strings.Cut(name, ".")
				out[id] = true
			}
			return
		}
	}
	for _, c := range n.Content {
		r.refs(c, out)
	}
}

// check fails the test when a created resource or output refers to a
// resource this rendering does not create.
func (r *rendering) check(name string) {
	known := map[string]bool{}
	for id, res := range r.s.resources {
		if r.created(res) {
			known[id] = true
		}
	}
	for p := range r.values {
		known[p] = true
	}
	for _, p := range pseudoParameters {
		known[p] = true
	}
	// SAM creates these for the HTTP API and its default stage.
	known["ApiApiGatewayDefaultStage"] = true
	var problems []string
	visit := func(kind, id string, n *yaml.Node) {
		out := map[string]bool{}
		r.refs(n, out)
		for ref := range out {
			if !known[ref] {
				problems = append(problems, fmt.Sprintf("%s %s refers to %s, which is not created", kind, id, ref))
			}
		}
	}
	for id, res := range r.s.resources {
		if r.created(res) {
			visit("resource", id, get(res, "Properties"))
		}
	}
	for _, kv := range pairs(get(r.s.root, "Outputs")) {
		if r.created(kv[1]) {
			visit("output", kv[0].Value, get(kv[1], "Value"))
		}
	}
	slices.Sort(problems)
	for _, p := range problems {
		r.t.Errorf("%s: %s", name, p)
	}
}

func (r *rendering) hasOutput(name string) bool {
	for _, kv := range pairs(get(r.s.root, "Outputs")) {
		if kv[0].Value == name {
			return r.created(kv[1])
		}
	}
	return false
}

// vpc returns the refresher's VpcConfig in this rendering: its subnets and
// security groups as written (nil when it runs outside a VPC).
func (r *rendering) vpc() (subnets, groups string, ok bool) {
	n := r.chosen(get(r.s.resources["RefreshTokenFunction"], "Properties", "VpcConfig"))
	if fn, arg, isRef := intrinsic(n); n == nil || isRef && fn == "Ref" && arg.Value == "AWS::NoValue" {
		return "", "", false
	}
	return render(r.chosen(get(n, "SubnetIds"))), render(r.chosen(get(n, "SecurityGroupIds"))), true
}

func TestProductionPartsRenderForEveryChoice(t *testing.T) {
	s := loadSource(t)
	egress := []string{}
	for id, res := range s.resources {
		if c, _ := literal(get(res, "Condition")); c == "CreateEgress" {
			egress = append(egress, id)
		}
	}
	for _, want := range []string{"EgressVpc", "EgressNat", "EgressIp", "EgressPrivateSubnet", "EgressSecurityGroup"} {
		if !slices.Contains(egress, want) {
			t.Errorf("RefresherEgress create does not create %s", want)
		}
	}
	const cert = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-0000-4000-8000-000000000000"
	for _, c := range []struct {
		name       string
		set        map[string]string
		vpc        string // "", "created" or "existing"
		domain     bool
		functionID string
	}{
		{name: "defaults", set: map[string]string{}},
		{name: "create and a domain", set: map[string]string{"RefresherEgress": "create", "DomainName": "api.example.com", "CertificateArn": cert},
			vpc: "created", domain: true},
		{name: "existing network", set: map[string]string{"RefresherEgress": "existing",
			"RefresherSubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1", "RefresherSecurityGroupIds": "sg-0123456789abcdef0"},
			vpc: "existing"},
	} {
		r := renderWith(t, s, c.set)
		r.check(c.name)
		subnets, groups, inVPC := r.vpc()
		switch c.vpc {
		case "":
			if inVPC {
				t.Errorf("%s: the refresher runs in a VPC (%s)", c.name, subnets)
			}
		case "created":
			if subnets != "[!Ref EgressPrivateSubnet]" || groups != "[!Ref EgressSecurityGroup]" {
				t.Errorf("%s: the refresher's VpcConfig is %s %s, want the created private subnet and group", c.name, subnets, groups)
			}
		case "existing":
			if subnets != "!Ref RefresherSubnetIds" || groups != "!Ref RefresherSecurityGroupIds" {
				t.Errorf("%s: the refresher's VpcConfig is %s %s, want the parameters", c.name, subnets, groups)
			}
		}
		for _, id := range egress {
			if got := r.created(s.resources[id]); got != (c.vpc == "created") {
				t.Errorf("%s: %s created = %v", c.name, id, got)
			}
		}
		if r.hasOutput("EgressIp") != (c.vpc == "created") || r.hasOutput("DomainTarget") != c.domain {
			t.Errorf("%s: outputs EgressIp %v, DomainTarget %v", c.name, r.hasOutput("EgressIp"), r.hasOutput("DomainTarget"))
		}
		// Only the refresher moves into a VPC.
		for _, fn := range s.tpl.Functions {
			if fn.LogicalID != "RefreshTokenFunction" && get(s.resources[fn.LogicalID], "Properties", "VpcConfig") != nil {
				t.Errorf("%s has a VpcConfig: only the refresher may move into a VPC", fn.LogicalID)
			}
		}
	}
}
