package eventsource_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxsub/wxsub/dev/eventsource"
	"github.com/wxsub/wxsub/dev/localdb"
)

// A batch the function fails is handed again from its first record, with
// nothing skipped, and each shard's records come in order.
func TestAFailedBatchComesAgainFromItsFirstRecord(t *testing.T) {
	tb := localdb.NewTestTable(t)
	ctx := context.Background()
	put := func(pk string, v int) {
		t.Helper()
		_, err := tb.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tb.Name), Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: "x"},
			"v": &types.AttributeValueMemberN{Value: fmt.Sprint(v)},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 6 {
		put(fmt.Sprintf("item%d", i%3), i)
	}
	var (
		mu    sync.Mutex
		fail  = true
		seen  = map[string][]string{} // sequence numbers handed over, by first record's shard key
		first []string
	)
	src := &eventsource.Source{Streams: tb.Streams, Table: tb.Name, BatchSize: 100,
		Handle: func(_ context.Context, ev events.DynamoDBEvent) error {
			mu.Lock()
			defer mu.Unlock()
			first = append(first, ev.Records[0].Change.SequenceNumber)
			if fail {
				return errors.New("the function failed")
			}
			for _, r := range ev.Records {
				pk := r.Change.Keys["pk"].String()
				seen[pk] = append(seen[pk], r.Change.NewImage["v"].Number())
			}
			return nil
		}}
	if err := src.Drain(ctx); err == nil {
		t.Fatal("Drain did not report the failed batch")
	}
	failedFirst := append([]string(nil), first...)
	fail = false
	if err := src.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	for _, f := range failedFirst {
		again := 0
		for _, g := range first[len(failedFirst):] {
			if g == f {
				again++
			}
		}
		if again != 1 {
			t.Errorf("the failed batch starting at %s came again %d times, want once", f, again)
		}
	}
	want := map[string][]string{"item0": {"0", "3"}, "item1": {"1", "4"}, "item2": {"2", "5"}}
	for pk, w := range want {
		if fmt.Sprint(seen[pk]) != fmt.Sprint(w) {
			t.Errorf("records of %s handed over as %v, want %v in order", pk, seen[pk], w)
		}
	}
}
