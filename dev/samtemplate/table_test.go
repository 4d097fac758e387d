package samtemplate

import (
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/truora/minidyn/server"
)

func TestCreateTableInput(t *testing.T) {
	tb := Table{
		PartitionKey: "pk", TTLAttribute: "ttl",
		GSIs: []GSI{
			{Name: "all", PartitionKey: "a", SortKey: "b"},
			{Name: "some", PartitionKey: "b", Projection: "INCLUDE", NonKeyAttributes: []string{"x"}},
		},
		AttributeDefinitions: map[string]string{"pk": "S", "b": "N", "a": "S"},
	}
	in := tb.CreateTableInput("t1")
	if aws.ToString(in.TableName) != "t1" || in.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("name %q, billing %q", aws.ToString(in.TableName), in.BillingMode)
	}
	if len(in.KeySchema) != 1 || aws.ToString(in.KeySchema[0].AttributeName) != "pk" || in.KeySchema[0].KeyType != types.KeyTypeHash {
		t.Errorf("a table without a sort key has key schema %+v", in.KeySchema)
	}
	var defs []string
	for _, d := range in.AttributeDefinitions {
		defs = append(defs, aws.ToString(d.AttributeName)+":"+string(d.AttributeType))
	}
	if got := len(defs); got != 3 || defs[0] != "a:S" || defs[1] != "b:N" || defs[2] != "pk:S" {
		t.Errorf("attribute definitions %v, want a:S b:N pk:S", defs)
	}
	if p := in.GlobalSecondaryIndexes[0].Projection; p.ProjectionType != types.ProjectionTypeAll {
		t.Errorf("an index without a projection type gets %q, want ALL", p.ProjectionType)
	}
	if p := in.GlobalSecondaryIndexes[1].Projection; p.ProjectionType != types.ProjectionTypeInclude || len(p.NonKeyAttributes) != 1 {
		t.Errorf("INCLUDE projection %+v", p)
	}
}

// The template's table, created on an in-process DynamoDB-compatible server
// with the real SDK, answers queries on its keys and on every index.
func TestTemplateTableWorksOnALocalServer(t *testing.T) {
	p, err := Find(".")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.NewServer())
	t.Cleanup(srv.Close)
	db := dynamodb.New(dynamodb.Options{
		Region:                          "us-east-1",
		BaseEndpoint:                    aws.String(srv.URL),
		Credentials:                     credentials.NewStaticCredentialsProvider("local", "local", ""),
		DisableValidateResponseChecksum: true, // minidyn sends no CRC32 header
	})
	ctx := t.Context()
	tb := tpl.Table
	if _, err := db.CreateTable(ctx, tb.CreateTableInput("wxsub-test")); err != nil {
		t.Fatal(err)
	}
	desc, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("wxsub-test")})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(desc.Table.GlobalSecondaryIndexes); got != len(tb.GSIs) {
		t.Fatalf("the created table has %d indexes, the template %d", got, len(tb.GSIs))
	}

	// One item that carries every key of the table and its indexes.
	item := map[string]types.AttributeValue{}
	value := func(attr, v string) types.AttributeValue {
		switch tb.AttributeDefinitions[attr] {
		case "N":
			return &types.AttributeValueMemberN{Value: "7"}
		case "B":
			return &types.AttributeValueMemberB{Value: []byte(v)}
		}
		return &types.AttributeValueMemberS{Value: v}
	}
	for attr := range tb.AttributeDefinitions {
		item[attr] = value(attr, "v-"+attr)
	}
	item["payload"] = &types.AttributeValueMemberS{Value: "hello"}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("wxsub-test"), Item: item}); err != nil {
		t.Fatal(err)
	}

	query := func(index *string, hash string, projectsAll bool) {
		t.Helper()
		out, err := db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String("wxsub-test"),
			IndexName:                 index,
			KeyConditionExpression:    aws.String("#h = :h"),
			ExpressionAttributeNames:  map[string]string{"#h": hash},
			ExpressionAttributeValues: map[string]types.AttributeValue{":h": item[hash]},
		})
		if err != nil {
			t.Fatalf("query %s on %s: %v", aws.ToString(index), hash, err)
		}
		if len(out.Items) != 1 || (projectsAll && out.Items[0]["payload"] == nil) {
			t.Errorf("query %s on %s found %d items, want the one put", aws.ToString(index), hash, len(out.Items))
		}
	}
	query(nil, tb.PartitionKey, true)
	for _, g := range tb.GSIs {
		query(aws.String(g.Name), g.PartitionKey, g.Projection == "ALL")
	}
}
