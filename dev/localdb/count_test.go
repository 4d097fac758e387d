package localdb_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxsub/wxsub/dev/localdb"
)

func TestCountsRequestsByOperationAndItem(t *testing.T) {
	srv, err := localdb.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ctx := context.Background()
	db := srv.Client()
	if err := localdb.EnsureTable(ctx, db, &dynamodb.CreateTableInput{
		TableName: aws.String("t"),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatal(err)
	}
	key := func(pk, sk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: sk},
		}
	}
	get := func(pk, sk string) {
		if _, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: key(pk, sk)}); err != nil {
			t.Fatal(err)
		}
	}
	update := func(pk, sk string) {
		if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String("t"), Key: key(pk, sk), UpdateExpression: aws.String("SET n = :n"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberN{Value: "1"}},
		}); err != nil {
			t.Fatal(err)
		}
	}

	get("A", "one") // before counting items: counted by operation only
	srv.ResetCounts()
	srv.CountItems(true)
	get("A", "one")
	get("A", "one")
	update("A", "one")
	get("A", "two")

	total, byOp := srv.Requests()
	if total != 4 || byOp["GetItem"] != 3 || byOp["UpdateItem"] != 1 {
		t.Fatalf("requests: total %d, by operation %v; want 4: GetItem 3, UpdateItem 1", total, byOp)
	}
	got := map[string]map[string]int64{}
	for _, c := range srv.ItemRequests() {
		got[c.Key["pk"]+"/"+c.Key["sk"]] = c.Ops
	}
	if len(got) != 2 || got["A/one"]["GetItem"] != 2 || got["A/one"]["UpdateItem"] != 1 || got["A/two"]["GetItem"] != 1 {
		t.Fatalf("per item: %v; want A/one: GetItem 2, UpdateItem 1; A/two: GetItem 1", got)
	}

	srv.CountItems(false)
	get("A", "three")
	for _, c := range srv.ItemRequests() {
		if c.Key["sk"] == "three" {
			t.Fatal("an item was counted while CountItems was off")
		}
	}
	srv.ResetCounts()
	if n, _ := srv.Requests(); n != 0 || len(srv.ItemRequests()) != 0 {
		t.Fatalf("after ResetCounts: %d requests, %d items", n, len(srv.ItemRequests()))
	}
}
