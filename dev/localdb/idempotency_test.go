package localdb_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxsub/wxsub/dev/localdb"
)

func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

// addOne adds 1 to the counter n of item sk.
func addOne(sk string) *types.Update {
	return &types.Update{
		TableName: aws.String("t"), Key: key(sk), UpdateExpression: aws.String("ADD n :one"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": n("1")},
	}
}

// putNew puts item sk unless it exists.
func putNew(sk string) *types.Put {
	return &types.Put{
		TableName: aws.String("t"), Item: item(sk, "", "new"),
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}
}

// counter returns the counter n of item sk ("" if it has none).
func (f *fixture) counter(sk string) string {
	f.t.Helper()
	out, err := f.raw.GetItem(f.ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: key(sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		f.t.Fatal(err)
	}
	if v, ok := out.Item["n"].(*types.AttributeValueMemberN); ok {
		return v.Value
	}
	return ""
}

// exists reports whether item sk exists.
func (f *fixture) exists(sk string) bool {
	f.t.Helper()
	out, err := f.raw.GetItem(f.ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: key(sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		f.t.Fatal(err)
	}
	return out.Item != nil
}

// transactToken runs a transaction with an explicit ClientRequestToken.
func (f *fixture) transactToken(db *dynamodb.Client, token string, items ...types.TransactWriteItem) error {
	_, err := db.TransactWriteItems(f.ctx, &dynamodb.TransactWriteItemsInput{
		ClientRequestToken: aws.String(token), TransactItems: items,
	})
	return err
}

// sent returns how many requests of op the server received since before.
func (f *fixture) sent(op string, before map[string]int64) int64 {
	_, after := f.srv.Requests()
	return after[op] - before[op]
}

// wantInternalError checks for an InternalServerError answered with HTTP 500.
func wantInternalError(t *testing.T, err error) {
	t.Helper()
	var ise *types.InternalServerError
	var re *awshttp.ResponseError
	if !errors.As(err, &ise) || !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusInternalServerError {
		t.Fatalf("got %v, want InternalServerError (HTTP 500)", err)
	}
}

func TestLostAnswerOfASingleWrite(t *testing.T) {
	f := newFixture(t, localdb.Options{TxnLatency: -1})
	add := func(db *dynamodb.Client) error {
		u := addOne("a")
		_, err := db.UpdateItem(f.ctx, &dynamodb.UpdateItemInput{
			TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression,
			ExpressionAttributeValues: u.ExpressionAttributeValues,
		})
		return err
	}

	// The write is applied; the client sees a 500.
	f.srv.LoseAnswerNext("UpdateItem", 1)
	wantInternalError(t, add(f.raw))
	if got := f.counter("a"); got != "1" {
		t.Fatalf("after a lost answer: n = %q, want 1 (applied)", got)
	}

	// The standard retryer sends it again: an UpdateItem has no token, so
	// it is applied twice, as DynamoDB would.
	_, before := f.srv.Requests()
	f.srv.LoseAnswerNext("UpdateItem", 1)
	if err := add(f.std); err != nil {
		t.Fatalf("standard retryer: %v", err)
	}
	if got := f.sent("UpdateItem", before); got != 2 {
		t.Errorf("%d UpdateItem sent, want 2", got)
	}
	if got := f.counter("a"); got != "3" {
		t.Fatalf("after a retried lost answer: n = %q, want 3 (applied twice)", got)
	}

	// FailNext refuses before applying, and does not spend a lost answer.
	f.srv.FailNext("UpdateItem", 1)
	f.srv.LoseAnswerNext("UpdateItem", 1)
	wantInternalError(t, add(f.raw))
	if got := f.counter("a"); got != "3" {
		t.Fatalf("after FailNext: n = %q, want 3 (not applied)", got)
	}
	wantInternalError(t, add(f.raw))
	if got := f.counter("a"); got != "4" {
		t.Fatalf("after the lost answer: n = %q, want 4", got)
	}
	if err := add(f.raw); err != nil {
		t.Fatalf("after the faults: %v", err)
	}
}

func TestLostTransactionAnswerIsReplayed(t *testing.T) {
	f := newFixture(t, localdb.Options{}) // transactions take 25ms and hold their items
	_, before := f.srv.Requests()
	f.srv.LoseAnswerNext("TransactWriteItems", 1)
	// The SDK gives the call a token and resends it with the same one: the
	// retry is answered success without applying the transaction again
	// (whose condition would now fail).
	if err := f.transact(f.std, types.TransactWriteItem{Put: putNew("new")}, types.TransactWriteItem{Update: addOne("c")}); err != nil {
		t.Fatalf("transaction with a lost answer, standard retryer: %v", err)
	}
	if got := f.sent("TransactWriteItems", before); got != 2 {
		t.Errorf("%d TransactWriteItems sent, want 2", got)
	}
	if got := f.counter("c"); got != "1" || !f.exists("new") {
		t.Fatalf("n = %q, new exists %v; want 1, true (applied once)", got, f.exists("new"))
	}
	if n := f.srv.HeldItems(); n != 0 {
		t.Errorf("%d items still held", n)
	}
}

func TestClientRequestToken(t *testing.T) {
	f := newFixture(t, localdb.Options{TxnLatency: -1})
	if err := f.transactToken(f.raw, "tok-1", types.TransactWriteItem{Update: addOne("c")}); err != nil {
		t.Fatal(err)
	}
	// Same token, same parameters: success, nothing applied.
	if err := f.transactToken(f.raw, "tok-1", types.TransactWriteItem{Update: addOne("c")}); err != nil {
		t.Fatalf("same token and parameters: %v", err)
	}
	if got := f.counter("c"); got != "1" {
		t.Fatalf("n = %q, want 1 (applied once)", got)
	}
	// Same token, other parameters: refused, nothing applied.
	err := f.transactToken(f.raw, "tok-1", types.TransactWriteItem{Update: addOne("c")}, types.TransactWriteItem{Put: putNew("other")})
	var mismatch *types.IdempotentParameterMismatchException
	if !errors.As(err, &mismatch) {
		t.Fatalf("same token, other parameters: %v, want IdempotentParameterMismatchException", err)
	}
	if f.exists("other") || f.counter("c") != "1" {
		t.Fatal("a mismatched request was applied")
	}
	// Another token is another transaction.
	if err := f.transactToken(f.raw, "tok-2", types.TransactWriteItem{Update: addOne("c")}); err != nil || f.counter("c") != "2" {
		t.Fatalf("another token: %v, n = %q; want applied, 2", err, f.counter("c"))
	}
}

func TestFailedTransactionTokenIsForgotten(t *testing.T) {
	f := newFixture(t, localdb.Options{TxnLatency: -1})
	f.put(item("taken", "", "x"))
	// Cancelled: the token can be used again, even with other parameters.
	err := f.transactToken(f.raw, "tok-c", types.TransactWriteItem{Put: putNew("taken")})
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		t.Fatalf("condition failed: %v, want TransactionCanceledException", err)
	}
	if err := f.transactToken(f.raw, "tok-c", types.TransactWriteItem{Update: addOne("c")}); err != nil {
		t.Fatalf("the token of a cancelled transaction, other parameters: %v", err)
	}
	if got := f.counter("c"); got != "1" {
		t.Fatalf("n = %q, want 1", got)
	}

	// Refused before applying (a 500): the same call again is applied.
	f.srv.FailNext("TransactWriteItems", 1)
	wantInternalError(t, f.transactToken(f.raw, "tok-f", types.TransactWriteItem{Update: addOne("c")}))
	if err := f.transactToken(f.raw, "tok-f", types.TransactWriteItem{Update: addOne("c")}); err != nil {
		t.Fatalf("after a 500 before applying: %v", err)
	}
	if got := f.counter("c"); got != "2" {
		t.Fatalf("n = %q, want 2", got)
	}
}

func TestClientRequestTokenWindow(t *testing.T) {
	f := newFixture(t, localdb.Options{TxnLatency: -1})
	clock := localdb.NewFakeClock()
	f.srv.UseClock(clock)
	if err := f.transactToken(f.raw, "tok-w", types.TransactWriteItem{Update: addOne("c")}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10*time.Minute - time.Millisecond)
	var mismatch *types.IdempotentParameterMismatchException
	if err := f.transactToken(f.raw, "tok-w", types.TransactWriteItem{Update: addOne("d")}); !errors.As(err, &mismatch) {
		t.Fatalf("within 10 minutes: %v, want IdempotentParameterMismatchException", err)
	}
	clock.Advance(time.Millisecond)
	if err := f.transactToken(f.raw, "tok-w", types.TransactWriteItem{Update: addOne("d")}); err != nil {
		t.Fatalf("after 10 minutes, the token is new: %v", err)
	}
	// Its success starts a new window.
	if err := f.transactToken(f.raw, "tok-w", types.TransactWriteItem{Update: addOne("c")}); !errors.As(err, &mismatch) {
		t.Fatalf("within 10 minutes of the new use: %v, want IdempotentParameterMismatchException", err)
	}
	if c, d := f.counter("c"), f.counter("d"); c != "1" || d != "1" {
		t.Fatalf("c = %q, d = %q; want 1, 1", c, d)
	}
}

func TestClientRequestTokenInProgress(t *testing.T) {
	f := newFixture(t, localdb.Options{TxnLatency: time.Hour})
	done := make(chan error, 1)
	go func() { done <- f.transactToken(f.raw, "tok-p", types.TransactWriteItem{Update: addOne("c")}) }()
	eventually(t, "the transaction holds its item", func() bool { return f.srv.HeldItems() == 1 })

	err := f.transactToken(f.raw, "tok-p", types.TransactWriteItem{Update: addOne("c")})
	var tip *types.TransactionInProgressException
	if !errors.As(err, &tip) || tip.ErrorMessage() != "Transaction from previous request is still in progress" {
		t.Fatalf("same token while running: %v, want TransactionInProgressException", err)
	}

	f.srv.SetOptions(localdb.Options{TxnLatency: time.Millisecond})
	if err := <-done; err != nil {
		t.Fatalf("the first call: %v", err)
	}
	if err := f.transactToken(f.raw, "tok-p", types.TransactWriteItem{Update: addOne("c")}); err != nil {
		t.Fatalf("same token once done: %v", err)
	}
	if got := f.counter("c"); got != "1" {
		t.Fatalf("n = %q, want 1", got)
	}
}

func TestReplayHoldsAndSpendsNothing(t *testing.T) {
	f := newFixture(t, localdb.Options{TxnLatency: -1, ItemWriteUnits: 2})
	f.srv.UseClock(localdb.NewFakeClock())
	if err := f.transactToken(f.raw, "tok-b", types.TransactWriteItem{Update: addOne("c")}); err != nil {
		t.Fatal(err) // spends c's whole budget
	}
	if err := f.transactToken(f.raw, "tok-b", types.TransactWriteItem{Update: addOne("c")}); err != nil {
		t.Fatalf("replay with the budget spent: %v", err)
	}
	err := f.transactToken(f.raw, "tok-other", types.TransactWriteItem{Update: addOne("c")})
	wantReasons(t, err, [2]string{"ThrottlingError", hotKeyMsg})
	if st := refusals(f.srv); st != (localdb.Stats{Throttles: 1}) {
		t.Errorf("stats %+v, want 1 throttle", st)
	}
}
