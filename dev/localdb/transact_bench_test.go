package localdb_test

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxsub/wxsub/dev/localdb"
)

// realismOff turns every realism setting off: transactions take no time.
var realismOff = localdb.Options{TxnLatency: -1, ItemWriteUnits: -1, IndexLag: -1}

// fill puts n items "fill-0", "fill-1", ... into partition "p", 25 to a
// BatchWriteItem.
func (f *fixture) fill(n int) {
	f.t.Helper()
	for start := 0; start < n; start += 25 {
		var reqs []types.WriteRequest
		for i := start; i < min(start+25, n); i++ {
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item(fmt.Sprintf("fill-%d", i), "", "x")}})
		}
		if _, err := f.raw.BatchWriteItem(f.ctx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{"t": reqs},
		}); err != nil {
			f.t.Fatal(err)
		}
	}
}

// threeItems is a transaction of three actions: add one to counter "c",
// put a new item sk, and check that item "cc" exists.
func threeItems(sk string) []types.TransactWriteItem {
	return []types.TransactWriteItem{
		{Update: addOne("c")},
		{Put: putNew(sk)},
		{ConditionCheck: &types.ConditionCheck{
			TableName: aws.String("t"), Key: key("cc"), ConditionExpression: aws.String("attribute_exists(pk)"),
		}},
	}
}

// BenchmarkTransactWithLargeTable measures a three-item TransactWriteItems
// (realism off, so nothing but the apply is timed) on tables of growing
// size. The time per transaction should not grow with the table: compare
// the sub-benchmarks' ns/op.
func BenchmarkTransactWithLargeTable(b *testing.B) {
	for _, size := range []int{0, 1000, 5000, 10000} {
		b.Run(fmt.Sprintf("items=%d", size), func(b *testing.B) {
			f := newFixture(b, realismOff)
			f.fill(size)
			f.put(item("cc", "", "x"))
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if err := f.transact(f.raw, threeItems(fmt.Sprintf("new-%d", i))...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
