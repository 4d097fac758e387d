package samtemplate

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// pairs returns the key/value pairs of a mapping node (nil for anything else).
func pairs(n *yaml.Node) [][2]*yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	out := make([][2]*yaml.Node, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, [2]*yaml.Node{n.Content[i], resolve(n.Content[i+1])})
	}
	return out
}

// get walks down a chain of mapping keys; it returns nil when one is missing.
func get(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		var next *yaml.Node
		for _, kv := range pairs(n) {
			if kv[0].Value == k {
				next = kv[1]
				break
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return resolve(n)
}

// literal returns the value of a plain scalar: a string, number or boolean
// written as such, not an intrinsic function.
func literal(n *yaml.Node) (string, bool) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return "", false
	}
	switch n.Tag {
	case "", "!!str", "!!int", "!!float", "!!bool", "!":
		return n.Value, true
	}
	return "", false
}

// intrinsic returns the CloudFormation intrinsic function that n applies, in
// long form ("Ref", "Condition", "Fn::Sub", ...), and its argument. It accepts
// the short form (!Sub x) and the long form ({"Fn::Sub": x}).
func intrinsic(n *yaml.Node) (fn string, arg *yaml.Node, ok bool) {
	n = resolve(n)
	if n == nil {
		return "", nil, false
	}
	if tag, short := strings.CutPrefix(n.Tag, "!"); short && !strings.HasPrefix(tag, "!") && tag != "" {
		a := *n
		a.Tag = "" // the argument itself, untagged
		if tag != "Ref" && tag != "Condition" {
			tag = "Fn::" + tag
		}
		return tag, &a, true
	}
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 {
		k := n.Content[0].Value
		if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
			return k, resolve(n.Content[1]), true
		}
	}
	return "", nil, false
}

// render writes a value as text: a literal as itself, an intrinsic function
// in short form ("!Ref Table", "!GetAtt Table.Arn", "!Sub ..."), anything
// else as flow-style YAML.
func render(n *yaml.Node) string {
	if s, ok := literal(n); ok {
		return s
	}
	if fn, arg, ok := intrinsic(n); ok {
		short := "!" + strings.TrimPrefix(fn, "Fn::")
		if s, ok := literal(arg); ok {
			return short + " " + s
		}
		if fn == "Fn::GetAtt" && arg.Kind == yaml.SequenceNode && len(arg.Content) == 2 {
			a, okA := literal(arg.Content[0])
			b, okB := literal(arg.Content[1])
			if okA && okB {
				return short + " " + a + "." + b
			}
		}
		return short + " " + flow(arg)
	}
	return flow(n)
}

// flow writes n as one line of flow-style YAML.
func flow(n *yaml.Node) string {
	c := deepCopy(n)
	setFlow(c)
	b, err := yaml.Marshal(c)
	if err != nil {
		return "<unprintable>"
	}
	return strings.TrimSpace(string(b))
}

func deepCopy(n *yaml.Node) *yaml.Node {
	n = resolve(n)
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, k := range n.Content {
		c.Content[i] = deepCopy(k)
	}
	return &c
}

func setFlow(n *yaml.Node) {
	if n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode {
		n.Style |= yaml.FlowStyle
	}
	n.HeadComment, n.LineComment, n.FootComment = "", "", ""
	for _, k := range n.Content {
		setFlow(k)
	}
}
