package localdb_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxsub/wxsub/dev/localdb"
)

// sized is item sk of partition "p" whose size, as DynamoDB counts it
// (attribute names plus values), is n bytes: pk "p" (3), sk (2 + len(sk)),
// and d (1 + the padding).
func sized(sk string, n int) map[string]types.AttributeValue {
	it := key(sk)
	it["d"] = s(strings.Repeat("x", n-3-2-len(sk)-1))
	return it
}

// wantUnits checks the units consumed since the last ResetCounts, and
// resets the counts.
func (f *fixture) wantUnits(what string, write, read float64) {
	f.t.Helper()
	st := f.srv.Stats()
	if st.WriteUnits != write || st.ReadUnits != read {
		f.t.Errorf("%s: %v write units, %v read units; want %v, %v", what, st.WriteUnits, st.ReadUnits, write, read)
	}
	f.srv.ResetCounts()
}

func (f *fixture) putItem(in *dynamodb.PutItemInput) error {
	in.TableName = aws.String("t")
	_, err := f.raw.PutItem(f.ctx, in)
	return err
}

// refusals returns the server's Stats without the capacity consumed: what
// the realism settings refused.
func refusals(srv *localdb.Server) localdb.Stats {
	st := srv.Stats()
	st.WriteUnits, st.ReadUnits = 0, 0
	return st
}

// realismSettings are the server's settings with the realism on (the
// defaults, transactions taking no time) and off.
var realismSettings = map[string]localdb.Options{
	"on":  {TxnLatency: time.Millisecond},
	"off": {TxnLatency: -1, ItemWriteUnits: -1, IndexLag: -1},
}

func TestWriteUnits(t *testing.T) {
	for name, o := range realismSettings {
		t.Run("realism "+name, func(t *testing.T) {
			f := newFixture(t, o)
			f.srv.ResetCounts()
			f.put(sized("half", 512))
			f.wantUnits("0.5 KB PutItem", 1, 0)
			f.put(sized("big", 1536))
			f.wantUnits("1.5 KB PutItem", 2, 0)
			f.put(sized("big", 100))
			f.wantUnits("PutItem of 100 bytes over 1.5 KB (the larger of the two)", 2, 0)
			f.put(sized("big", 2049))
			if err := f.update(f.raw, "big"); err != nil {
				t.Fatal(err)
			}
			f.srv.ResetCounts()
			setD := func(n int) {
				t.Helper()
				if _, err := f.raw.UpdateItem(f.ctx, &dynamodb.UpdateItemInput{
					TableName: aws.String("t"), Key: key("big"), UpdateExpression: aws.String("SET d = :d"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":d": s(strings.Repeat("x", n))},
				}); err != nil {
					t.Fatal(err)
				}
			}
			setD(1) // (minidyn does not apply REMOVE)
			f.wantUnits("UpdateItem shrinking a 2 KB item (its size before)", 3, 0)
			setD(3000)
			f.wantUnits("UpdateItem growing an item to 3 KB (its size after)", 3, 0)
			if _, err := f.raw.DeleteItem(f.ctx, &dynamodb.DeleteItemInput{TableName: aws.String("t"), Key: key("big")}); err != nil {
				t.Fatal(err)
			}
			f.wantUnits("DeleteItem of a 3 KB item", 3, 0)
			if _, err := f.raw.DeleteItem(f.ctx, &dynamodb.DeleteItemInput{TableName: aws.String("t"), Key: key("none")}); err != nil {
				t.Fatal(err)
			}
			f.wantUnits("DeleteItem of no item", 1, 0)

			// A failed condition consumes as much.
			f.put(sized("big", 1536))
			f.srv.ResetCounts()
			err := f.putItem(&dynamodb.PutItemInput{Item: sized("big", 10), ConditionExpression: aws.String("attribute_not_exists(pk)")})
			var ccf *types.ConditionalCheckFailedException
			if !errors.As(err, &ccf) {
				t.Fatalf("conditional put: %v, want ConditionalCheckFailedException", err)
			}
			f.wantUnits("failed conditional PutItem over a 1.5 KB item", 2, 0)
			if _, err := f.raw.UpdateItem(f.ctx, &dynamodb.UpdateItemInput{
				TableName: aws.String("t"), Key: key("none"), UpdateExpression: aws.String("SET v = :v"),
				ConditionExpression:       aws.String("attribute_exists(pk)"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":v": s("1")},
			}); !errors.As(err, &ccf) {
				t.Fatalf("conditional update: %v, want ConditionalCheckFailedException", err)
			}
			f.wantUnits("failed conditional UpdateItem of no item", 1, 0)

			// A request refused before it is served consumes nothing.
			if err := f.putItem(&dynamodb.PutItemInput{Item: sized("x", 100),
				ExpressionAttributeValues: map[string]types.AttributeValue{":v": s("1")}}); err == nil {
				t.Fatal("a PutItem with a stray placeholder passed")
			}
			f.srv.Throttle(1)
			if err := f.putItem(&dynamodb.PutItemInput{Item: sized("x", 100)}); err == nil {
				t.Fatal("a throttled PutItem passed")
			}
			f.srv.FailNext("PutItem", 1)
			if err := f.putItem(&dynamodb.PutItemInput{Item: sized("x", 100)}); err == nil {
				t.Fatal("a failing PutItem passed")
			}
			f.wantUnits("refused requests", 0, 0)

			// BatchWriteItem: each item as its own write.
			if _, err := f.raw.BatchWriteItem(f.ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{
				"t": {
					{PutRequest: &types.PutRequest{Item: sized("b1", 500)}},
					{PutRequest: &types.PutRequest{Item: sized("b2", 3500)}},
					{DeleteRequest: &types.DeleteRequest{Key: key("big")}},
				},
			}}); err != nil {
				t.Fatal(err)
			}
			f.wantUnits("BatchWriteItem of 500 bytes, 3.5 KB and a 1.5 KB delete", 1+4+2, 0)
		})
	}
}

func TestTransactionWriteUnits(t *testing.T) {
	for name, o := range realismSettings {
		t.Run("realism "+name, func(t *testing.T) {
			f := newFixture(t, o)
			f.srv.ResetCounts()
			put := func(it map[string]types.AttributeValue) types.TransactWriteItem {
				return types.TransactWriteItem{Put: &types.Put{TableName: aws.String("t"), Item: it}}
			}
			if err := f.transact(f.raw, put(sized("a", 100)), put(sized("b", 200))); err != nil {
				t.Fatal(err)
			}
			f.wantUnits("2-item transaction of small items", 4, 0)
			if err := f.transact(f.raw, put(sized("c", 1500)),
				types.TransactWriteItem{Update: update("a")},
				types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
					TableName: aws.String("t"), Key: key("b"), ConditionExpression: aws.String("attribute_exists(pk)")}},
				types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String("t"), Key: key("none")}},
			); err != nil {
				t.Fatal(err)
			}
			f.wantUnits("1.5 KB put, small update, condition check and delete of no item", 4+2+2+2, 0)

			// Cancelled for a failed condition: charged as if written.
			err := f.transact(f.raw, put(sized("c", 100)),
				types.TransactWriteItem{Put: putNew("a")})
			var tce *types.TransactionCanceledException
			if !errors.As(err, &tce) {
				t.Fatalf("transaction with a failing condition: %v, want TransactionCanceledException", err)
			}
			f.wantUnits("transaction cancelled for a condition", 4+2, 0)
		})
	}
}

func TestCancelledTransactionUnits(t *testing.T) {
	f := newFixture(t, localdb.Options{TxnLatency: time.Hour})
	f.put(sized("x", 1536))
	done := make(chan error, 1)
	go func() { done <- f.transact(f.raw, types.TransactWriteItem{Update: update("x")}) }()
	eventually(t, "the transaction holds x", func() bool { return f.srv.HeldItems() == 1 })
	f.srv.ResetCounts()

	err := f.transact(f.raw, types.TransactWriteItem{Update: update("x")}, types.TransactWriteItem{Update: update("y")})
	wantReasons(t, err, [2]string{"TransactionConflict", conflictMsg}, [2]string{"None", ""})
	f.wantUnits("transaction cancelled for a conflict (1.5 KB and no item)", 4+2, 0)
	var tce *types.TransactionConflictException
	if err := f.update(f.raw, "x"); !errors.As(err, &tce) {
		t.Fatalf("single write of a held item: %v, want TransactionConflictException", err)
	}
	f.wantUnits("single write refused for a conflict", 2, 0)

	f.srv.SetOptions(localdb.Options{TxnLatency: time.Millisecond})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f.wantUnits("the holding transaction", 4, 0)
}

func TestThrottledWritesConsumeNothing(t *testing.T) {
	f := newFixture(t, localdb.Options{ItemWriteUnits: 2, TxnLatency: -1})
	f.srv.UseClock(localdb.NewFakeClock())
	for range 2 {
		if err := f.update(f.raw, "x"); err != nil {
			t.Fatal(err)
		}
	}
	f.srv.ResetCounts()
	var te *types.ThrottlingException
	if err := f.update(f.raw, "x"); !errors.As(err, &te) {
		t.Fatalf("write over budget: %v, want ThrottlingException", err)
	}
	err := f.transact(f.raw, types.TransactWriteItem{Update: update("x")})
	wantReasons(t, err, [2]string{"ThrottlingError", hotKeyMsg})
	if st := f.srv.Stats(); st.Throttles != 2 {
		t.Errorf("%d throttles, want 2", st.Throttles)
	}
	f.wantUnits("throttled requests", 0, 0)
}

func TestReadUnits(t *testing.T) {
	for name, o := range realismSettings {
		t.Run("realism "+name, func(t *testing.T) {
			f := newFixture(t, o)
			f.srv.UseClock(localdb.NewFakeClock()) // the index lag never passes
			for _, sk := range []string{"q1", "q2", "q3"} {
				f.put(sized(sk, 1000))
			}
			f.put(sized("big", 5000))
			f.srv.ResetCounts()
			get := func(sk string, consistent bool) {
				t.Helper()
				// Now and then the client finds its connection closed as it
				// reads a large answer (aws/aws-sdk-go-v2#2737; the SDK's
				// standard retryer retries it, this client has none): that
				// read is not counted, it is read again.
				for attempt := 0; ; attempt++ {
					_, err := f.raw.GetItem(f.ctx, &dynamodb.GetItemInput{
						TableName: aws.String("t"), Key: key(sk), ConsistentRead: aws.Bool(consistent),
					})
					if err == nil {
						return
					}
					if attempt == 2 || !strings.Contains(err.Error(), "use of closed network connection") {
						t.Fatal(err)
					}
					f.srv.ResetCounts()
				}
			}
			get("q1", true)
			f.wantUnits("consistent GetItem of a small item", 0, 1)
			get("q1", false)
			f.wantUnits("eventually consistent GetItem of a small item", 0, 0.5)
			get("none", true)
			f.wantUnits("consistent GetItem of no item", 0, 1)
			get("big", false)
			f.wantUnits("eventually consistent GetItem of a 5 KB item", 0, 1)
			if _, err := f.raw.GetItem(f.ctx, &dynamodb.GetItemInput{
				TableName: aws.String("t"), Key: key("big"), ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("pk"),
			}); err != nil {
				t.Fatal(err)
			}
			f.wantUnits("consistent GetItem of one attribute of a 5 KB item", 0, 2)

			query := func(in dynamodb.QueryInput) int {
				t.Helper()
				in.TableName = aws.String("t")
				in.KeyConditionExpression = aws.String("pk = :p AND begins_with(sk, :q)")
				in.ExpressionAttributeValues = map[string]types.AttributeValue{":p": s("p"), ":q": s("q")}
				out, err := f.raw.Query(f.ctx, &in)
				if err != nil {
					t.Fatal(err)
				}
				return len(out.Items)
			}
			if got := query(dynamodb.QueryInput{ConsistentRead: aws.Bool(true)}); got != 3 {
				t.Fatalf("query: %d items, want 3", got)
			}
			f.wantUnits("consistent Query of 3 small items (3 KB)", 0, 1)
			query(dynamodb.QueryInput{})
			f.wantUnits("eventually consistent Query of 3 small items", 0, 0.5)
			out, err := f.raw.Query(f.ctx, &dynamodb.QueryInput{
				TableName: aws.String("t"), ConsistentRead: aws.Bool(true),
				KeyConditionExpression: aws.String("pk = :p"), FilterExpression: aws.String("#v = :v"),
				ExpressionAttributeNames:  map[string]string{"#v": "v"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":p": s("p"), ":v": s("none")},
			})
			if err != nil || len(out.Items) != 0 {
				t.Fatalf("filtered query: %v, %d items", err, len(out.Items))
			}
			f.wantUnits("consistent Query reading 8 KB, filtered down to nothing", 0, 2)
			if _, err := f.raw.Query(f.ctx, &dynamodb.QueryInput{
				TableName: aws.String("t"), KeyConditionExpression: aws.String("pk = :p"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":p": s("none")},
			}); err != nil {
				t.Fatal(err)
			}
			f.wantUnits("Query of nothing", 0, 0.5)
			if _, err := f.raw.Scan(f.ctx, &dynamodb.ScanInput{TableName: aws.String("t"), Select: types.SelectCount}); err != nil {
				t.Fatal(err)
			}
			f.wantUnits("eventually consistent Scan counting 8 KB", 0, 1)

			// A global secondary index is eventually consistent.
			f.put(item("g1", "G", "1"))
			f.srv.ResetCounts()
			f.indexed("G")
			f.wantUnits("Query of a global secondary index", 0, 0.5)

			if _, err := f.raw.BatchGetItem(f.ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
				"t": {Keys: []map[string]types.AttributeValue{key("q1"), key("big"), key("none")}, ConsistentRead: aws.Bool(true)},
			}}); err != nil {
				t.Fatal(err)
			}
			f.wantUnits("consistent BatchGetItem of a small item, a 5 KB item and no item", 0, 1+2+1)
			if _, err := f.raw.TransactGetItems(f.ctx, &dynamodb.TransactGetItemsInput{TransactItems: []types.TransactGetItem{
				{Get: &types.Get{TableName: aws.String("t"), Key: key("q1")}},
				{Get: &types.Get{TableName: aws.String("t"), Key: key("big")}},
			}}); err != nil {
				t.Fatal(err)
			}
			f.wantUnits("TransactGetItems of a small and a 5 KB item", 0, 2+4)
		})
	}
}

func TestReplayedTokenConsumesReadUnits(t *testing.T) {
	f := newFixture(t, localdb.Options{TxnLatency: -1})
	f.srv.ResetCounts()
	if err := f.transactToken(f.raw, "tok-c", types.TransactWriteItem{Update: addOne("c")}); err != nil {
		t.Fatal(err)
	}
	f.wantUnits("the first call", 2, 0)
	if err := f.transactToken(f.raw, "tok-c", types.TransactWriteItem{Update: addOne("c")}); err != nil {
		t.Fatal(err)
	}
	f.wantUnits("its replay", 0, 2)

	f.srv.SetOptions(localdb.Options{TxnLatency: time.Hour})
	done := make(chan error, 1)
	go func() { done <- f.transactToken(f.raw, "tok-d", types.TransactWriteItem{Update: addOne("d")}) }()
	eventually(t, "the transaction holds its item", func() bool { return f.srv.HeldItems() == 1 })
	var tip *types.TransactionInProgressException
	if err := f.transactToken(f.raw, "tok-d", types.TransactWriteItem{Update: addOne("d")}); !errors.As(err, &tip) {
		t.Fatalf("same token while running: %v, want TransactionInProgressException", err)
	}
	f.wantUnits("the same token while it runs", 0, 2)
	f.srv.SetOptions(localdb.Options{TxnLatency: -1})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestLostAnswerIsCharged(t *testing.T) {
	f := newFixture(t, localdb.Options{})
	f.srv.ResetCounts()
	f.srv.LoseAnswerNext("PutItem", 1)
	if err := f.putItem(&dynamodb.PutItemInput{Item: sized("x", 100)}); err == nil {
		t.Fatal("the lost answer arrived")
	}
	f.wantUnits("a PutItem whose answer was lost", 1, 0)
}

func TestResetCountsZeroesUnits(t *testing.T) {
	f := newFixture(t, localdb.Options{})
	f.put(sized("x", 100))
	if _, err := f.raw.GetItem(f.ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: key("x")}); err != nil {
		t.Fatal(err)
	}
	if st := f.srv.Stats(); st.WriteUnits == 0 || st.ReadUnits == 0 {
		t.Fatalf("stats %+v: nothing counted", st)
	}
	f.srv.ResetCounts()
	if st := f.srv.Stats(); st != (localdb.Stats{}) {
		t.Fatalf("stats %+v after ResetCounts, want zero", st)
	}
}
