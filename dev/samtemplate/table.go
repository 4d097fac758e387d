package samtemplate

import (
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"gopkg.in/yaml.v3"
)

// Table is the template's DynamoDB table.
type Table struct {
	// PartitionKey and SortKey name the key attributes (SortKey "" for none).
	PartitionKey, SortKey string
	// TTLAttribute names the attribute holding the expiry time in epoch
	// seconds; "" when time to live is not enabled.
	TTLAttribute string
	// GSIs are the global secondary indexes, in template order.
	GSIs []GSI
	// AttributeDefinitions maps each key attribute to its type: "S", "N" or "B".
	AttributeDefinitions map[string]string
	// StreamViewType is what the table's stream records hold
	// (NEW_AND_OLD_IMAGES, ...); "" when the table has no stream.
	StreamViewType string
}

// GSI is a global secondary index.
type GSI struct {
	Name                  string
	PartitionKey, SortKey string
	// Projection is ALL, KEYS_ONLY or INCLUDE.
	Projection string
	// NonKeyAttributes are the attributes an INCLUDE projection copies.
	NonKeyAttributes []string
}

// CreateTableInput describes the table for CreateTable under the given name,
// billed per request, with its indexes and its stream: the local stack and the tests create
// it on an in-process server or DynamoDB Local. Time to live is not part of
// CreateTable; callers that need expiry filter on TTLAttribute.
func (t Table) CreateTableInput(name string) *dynamodb.CreateTableInput {
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		KeySchema:   keySchema(t.PartitionKey, t.SortKey),
	}
	names := make([]string, 0, len(t.AttributeDefinitions))
	for n := range t.AttributeDefinitions {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(n),
			AttributeType: types.ScalarAttributeType(t.AttributeDefinitions[n]),
		})
	}
	if t.StreamViewType != "" {
		in.StreamSpecification = &types.StreamSpecification{
			StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewType(t.StreamViewType),
		}
	}
	for _, g := range t.GSIs {
		p := &types.Projection{ProjectionType: types.ProjectionType(g.Projection)}
		if g.Projection == "" {
			p.ProjectionType = types.ProjectionTypeAll
		}
		if len(g.NonKeyAttributes) > 0 {
			p.NonKeyAttributes = slices.Clone(g.NonKeyAttributes)
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName:  aws.String(g.Name),
			KeySchema:  keySchema(g.PartitionKey, g.SortKey),
			Projection: p,
		})
	}
	return in
}

func keySchema(hash, rng string) []types.KeySchemaElement {
	ks := []types.KeySchemaElement{{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash}}
	if rng != "" {
		ks = append(ks, types.KeySchemaElement{AttributeName: aws.String(rng), KeyType: types.KeyTypeRange})
	}
	return ks
}

func parseTable(props *yaml.Node) (Table, error) {
	t := Table{AttributeDefinitions: map[string]string{}}
	for _, d := range items(get(props, "AttributeDefinitions")) {
		name, ok1 := literal(get(d, "AttributeName"))
		typ, ok2 := literal(get(d, "AttributeType"))
		if !ok1 || !ok2 || name == "" || (typ != "S" && typ != "N" && typ != "B") {
			return t, fmt.Errorf("line %d: an attribute definition needs a literal AttributeName and an AttributeType of S, N or B", d.Line)
		}
		t.AttributeDefinitions[name] = typ
	}
	var err error
	t.PartitionKey, t.SortKey, err = parseKeySchema(get(props, "KeySchema"))
	if err != nil {
		return t, fmt.Errorf("KeySchema: %w", err)
	}
	used := map[string]bool{t.PartitionKey: true, t.SortKey: t.SortKey != ""}
	for _, g := range items(get(props, "GlobalSecondaryIndexes")) {
		var gsi GSI
		var ok bool
		if gsi.Name, ok = literal(get(g, "IndexName")); !ok || gsi.Name == "" {
			return t, fmt.Errorf("line %d: a global secondary index needs a literal IndexName", g.Line)
		}
		if gsi.PartitionKey, gsi.SortKey, err = parseKeySchema(get(g, "KeySchema")); err != nil {
			return t, fmt.Errorf("index %s: KeySchema: %w", gsi.Name, err)
		}
		gsi.Projection, _ = literal(get(g, "Projection", "ProjectionType"))
		switch gsi.Projection {
		case "ALL", "KEYS_ONLY", "INCLUDE":
		default:
			return t, fmt.Errorf("index %s: Projection.ProjectionType must be ALL, KEYS_ONLY or INCLUDE", gsi.Name)
		}
		for _, a := range items(get(g, "Projection", "NonKeyAttributes")) {
			s, ok := literal(a)
			if !ok {
				return t, fmt.Errorf("index %s: line %d: NonKeyAttributes must be literals", gsi.Name, a.Line)
			}
			gsi.NonKeyAttributes = append(gsi.NonKeyAttributes, s)
		}
		used[gsi.PartitionKey] = true
		if gsi.SortKey != "" {
			used[gsi.SortKey] = true
		}
		t.GSIs = append(t.GSIs, gsi)
	}
	// CloudFormation refuses a definition that no key uses, and a key
	// attribute without a definition.
	for name := range used {
		if name != "" && t.AttributeDefinitions[name] == "" {
			return t, fmt.Errorf("key attribute %q has no AttributeDefinitions entry", name)
		}
	}
	for name := range t.AttributeDefinitions {
		if !used[name] {
			return t, fmt.Errorf("attribute %q is defined but is not a key of the table or an index", name)
		}
	}
	if n := get(props, "StreamSpecification", "StreamViewType"); n != nil {
		v, _ := literal(n)
		switch v {
		case "KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES":
			t.StreamViewType = v
		default:
			return t, fmt.Errorf("line %d: StreamSpecification.StreamViewType must be KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES", n.Line)
		}
	}
	if ttl := get(props, "TimeToLiveSpecification"); ttl != nil {
		enabled, _ := literal(get(ttl, "Enabled"))
		name, ok := literal(get(ttl, "AttributeName"))
		if enabled == "true" {
			if !ok || name == "" {
				return t, errors.New("TimeToLiveSpecification needs a literal AttributeName")
			}
			t.TTLAttribute = name
		}
	}
	return t, nil
}

func parseKeySchema(n *yaml.Node) (hash, rng string, err error) {
	for _, k := range items(n) {
		name, ok1 := literal(get(k, "AttributeName"))
		typ, ok2 := literal(get(k, "KeyType"))
		if !ok1 || !ok2 || name == "" {
			return "", "", fmt.Errorf("line %d: a key needs a literal AttributeName and KeyType", k.Line)
		}
		switch {
		case typ == "HASH" && hash == "":
			hash = name
		case typ == "RANGE" && rng == "":
			rng = name
		default:
			return "", "", fmt.Errorf("line %d: at most one HASH and one RANGE key, got another %q", k.Line, typ)
		}
	}
	if hash == "" {
		return "", "", errors.New("no HASH key")
	}
	return hash, rng, nil
}

// items returns the elements of a sequence node (nil for anything else).
func items(n *yaml.Node) []*yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = resolve(c)
	}
	return out
}
