package localdb_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	stypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/wxsub/wxsub/dev/localdb"
)

// streamed is a fixture whose table "t" has a NEW_AND_OLD_IMAGES stream.
func streamed(t *testing.T) *fixture {
	f := newFixture(t, localdb.Options{})
	_, err := f.std.UpdateTable(f.ctx, &dynamodb.UpdateTableInput{
		TableName: aws.String("t"),
		StreamSpecification: &types.StreamSpecification{
			StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// readStream reads every record of table t's stream, shard by shard, with
// the real Streams client.
func readStream(t *testing.T, ctx context.Context, c *dynamodbstreams.Client) map[string][]stypes.Record {
	t.Helper()
	list, err := c.ListStreams(ctx, &dynamodbstreams.ListStreamsInput{TableName: aws.String("t")})
	if err != nil || len(list.Streams) != 1 {
		t.Fatalf("ListStreams: %v, %+v", err, list)
	}
	desc, err := c.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: list.Streams[0].StreamArn})
	if err != nil {
		t.Fatal(err)
	}
	if d := desc.StreamDescription; d.StreamStatus != stypes.StreamStatusEnabled || len(d.Shards) != localdb.StreamShards ||
		d.StreamViewType != stypes.StreamViewTypeNewAndOldImages || aws.ToString(d.TableName) != "t" {
		t.Fatalf("DescribeStream: %+v", d)
	}
	out := map[string][]stypes.Record{}
	for _, sh := range desc.StreamDescription.Shards {
		it, err := c.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
			StreamArn: list.Streams[0].StreamArn, ShardId: sh.ShardId, ShardIteratorType: stypes.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for {
			got, err := c.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(2)})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Records) == 0 {
				break
			}
			for _, r := range got.Records {
				sk := r.Dynamodb.Keys["sk"].(*stypes.AttributeValueMemberS).Value
				out[sk] = append(out[sk], r)
			}
			iter = got.NextShardIterator
		}
	}
	return out
}

func image(img map[string]stypes.AttributeValue) string {
	if img == nil {
		return "-"
	}
	v, ok := img["v"].(*stypes.AttributeValueMemberS)
	if !ok {
		return "?"
	}
	return v.Value
}

// Every write that changes an item leaves one record, with the item before
// and after, in the order the writes were applied; a write that changes
// nothing, and a cancelled transaction, leave none.
func TestStreamRecordsEveryChange(t *testing.T) {
	f := streamed(t)
	put := func(sk, v string) {
		if _, err := f.std.PutItem(f.ctx, &dynamodb.PutItemInput{TableName: aws.String("t"), Item: item(sk, "", v)}); err != nil {
			t.Fatal(err)
		}
	}
	put("a", "1")
	put("a", "1") // no change: no record
	if err := f.update(f.std, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.std.DeleteItem(f.ctx, &dynamodb.DeleteItemInput{TableName: aws.String("t"), Key: key("a")}); err != nil {
		t.Fatal(err)
	}
	_, err := f.std.TransactWriteItems(f.ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String("t"), Item: item("b", "", "1")}},
		{Put: &types.Put{TableName: aws.String("t"), Item: item("c", "", "1")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.std.TransactWriteItems(f.ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String("t"), Item: item("b", "", "2")}},
		{Put: &types.Put{TableName: aws.String("t"), Item: item("c", "", "2"), ConditionExpression: aws.String("attribute_not_exists(pk)")}},
	}})
	if err == nil {
		t.Fatal("the conditional transaction succeeded")
	}
	got := readStream(t, f.ctx, f.srv.StreamsClient())
	describe := func(rs []stypes.Record) (out []string) {
		for _, r := range rs {
			out = append(out, string(r.EventName)+" "+image(r.Dynamodb.OldImage)+">"+image(r.Dynamodb.NewImage))
		}
		return out
	}
	want := map[string][]string{
		"a": {"INSERT ->1", "MODIFY 1>u", "REMOVE u>-"},
		"b": {"INSERT ->1"},
		"c": {"INSERT ->1"},
	}
	for sk, w := range want {
		if g := describe(got[sk]); len(g) != len(w) || func() bool {
			for i := range g {
				if g[i] != w[i] {
					return true
				}
			}
			return false
		}() {
			t.Errorf("records of %s: %q, want %q", sk, g, w)
		}
	}
	for sk, rs := range got {
		for i := 1; i < len(rs); i++ {
			if aws.ToString(rs[i-1].Dynamodb.SequenceNumber) >= aws.ToString(rs[i].Dynamodb.SequenceNumber) {
				t.Errorf("records of %s out of order", sk)
			}
		}
	}
}

// A table created without a StreamSpecification has no stream.
func TestNoStreamWithoutSpecification(t *testing.T) {
	f := newFixture(t, localdb.Options{})
	list, err := f.srv.StreamsClient().ListStreams(f.ctx, &dynamodbstreams.ListStreamsInput{})
	if err != nil || len(list.Streams) != 0 {
		t.Fatalf("ListStreams: %v %+v", err, list)
	}
}
