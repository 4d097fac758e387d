package localdb_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/wxsub/wxsub/dev/localdb"
)

const (
	conflictMsg = "Transaction is ongoing for the item"
	hotKeyMsg   = "Throughput exceeds the current capacity of your table or index. " +
		"DynamoDB is automatically scaling your table or index so please try again shortly. " +
		"If exceptions persist, check if you have a hot key: " +
		"https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html"
)

// fixture is a server with table "t" (pk, sk; index gsi1 on gsi1pk, gsi1sk)
// and two clients: raw, which never retries, and std, the server's own
// with the SDK's standard retryer.
type fixture struct {
	t   testing.TB
	ctx context.Context
	srv *localdb.Server
	raw *dynamodb.Client
	std *dynamodb.Client
}

func newFixture(t testing.TB, o localdb.Options) *fixture {
	t.Helper()
	srv, err := localdb.StartWith("", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	std := srv.Client()
	// raw sees every answer as it comes (no retries). A fresh connection per
	// request: without a retryer, a pooled connection that the client finds
	// closed as it reads an answer ("use of closed network connection",
	// aws/aws-sdk-go-v2#2737) would fail a test that counts what one
	// request cost.
	raw := dynamodb.New(std.Options(), func(o *dynamodb.Options) {
		o.Retryer = aws.NopRetryer{}
		o.HTTPClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	})
	f := &fixture{t: t, ctx: context.Background(), srv: srv, raw: raw, std: std}
	str := func(n string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: types.ScalarAttributeTypeS}
	}
	keys := func(hash, rng string) []types.KeySchemaElement {
		return []types.KeySchemaElement{
			{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(rng), KeyType: types.KeyTypeRange},
		}
	}
	if err := localdb.EnsureTable(f.ctx, std, &dynamodb.CreateTableInput{
		TableName:            aws.String("t"),
		AttributeDefinitions: []types.AttributeDefinition{str("pk"), str("sk"), str("gsi1pk"), str("gsi1sk")},
		KeySchema:            keys("pk", "sk"),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName:  aws.String("gsi1"),
			KeySchema:  keys("gsi1pk", "gsi1sk"),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
		BillingMode: types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatal(err)
	}
	return f
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func key(sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": s("p"), "sk": s(sk)}
}

// item is an item of partition "p", in index partition g (none if "").
func item(sk, g, v string) map[string]types.AttributeValue {
	it := key(sk)
	it["v"] = s(v)
	if g != "" {
		it["gsi1pk"], it["gsi1sk"] = s(g), s(sk)
	}
	return it
}

func update(sk string) *types.Update {
	return &types.Update{
		TableName: aws.String("t"), Key: key(sk), UpdateExpression: aws.String("SET v = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": s("u")},
	}
}

func (f *fixture) update(db *dynamodb.Client, sk string) error {
	u := update(sk)
	_, err := db.UpdateItem(f.ctx, &dynamodb.UpdateItemInput{
		TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression,
		ExpressionAttributeValues: u.ExpressionAttributeValues,
	})
	return err
}

func (f *fixture) put(it map[string]types.AttributeValue) {
	f.t.Helper()
	if _, err := f.raw.PutItem(f.ctx, &dynamodb.PutItemInput{TableName: aws.String("t"), Item: it}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) transact(db *dynamodb.Client, items ...types.TransactWriteItem) error {
	_, err := db.TransactWriteItems(f.ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	return err
}

// indexed returns the items of index partition g: sort key → v.
func (f *fixture) indexed(g string) map[string]string {
	f.t.Helper()
	out, err := f.raw.Query(f.ctx, &dynamodb.QueryInput{
		TableName: aws.String("t"), IndexName: aws.String("gsi1"),
		KeyConditionExpression:    aws.String("gsi1pk = :g"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":g": s(g)},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if int(out.Count) != len(out.Items) {
		f.t.Fatalf("Count %d, %d items", out.Count, len(out.Items))
	}
	got := map[string]string{}
	for _, it := range out.Items {
		got[it["sk"].(*types.AttributeValueMemberS).Value] = it["v"].(*types.AttributeValueMemberS).Value
	}
	return got
}

func (f *fixture) wantIndexed(g string, want map[string]string) {
	f.t.Helper()
	if got := f.indexed(g); !equal(got, want) {
		f.t.Fatalf("index partition %s: %v, want %v", g, got, want)
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// eventually polls cond for up to 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// wantReasons checks a cancelled transaction's reasons (code and message;
// "" for none).
func wantReasons(t *testing.T, err error, want ...[2]string) {
	t.Helper()
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		t.Fatalf("got %v, want a TransactionCanceledException", err)
	}
	codes := make([]string, len(want))
	for i, w := range want {
		codes[i] = w[0]
	}
	msg := "Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]"
	if tce.ErrorMessage() != msg {
		t.Errorf("message %q, want %q", tce.ErrorMessage(), msg)
	}
	if len(tce.CancellationReasons) != len(want) {
		t.Fatalf("%d reasons, want %d", len(tce.CancellationReasons), len(want))
	}
	for i, r := range tce.CancellationReasons {
		if got := [2]string{aws.ToString(r.Code), aws.ToString(r.Message)}; got != want[i] {
			t.Errorf("reason %d: %q, want %q", i, got, want[i])
		}
	}
}

func TestTransactionConflicts(t *testing.T) {
	f := newFixture(t, localdb.Options{TxnLatency: time.Hour})
	// A holds x and y until the latency is lowered.
	done := make(chan error, 1)
	go func() {
		done <- f.transact(f.raw,
			types.TransactWriteItem{Update: update("x")},
			types.TransactWriteItem{Put: &types.Put{TableName: aws.String("t"), Item: item("y", "", "1")}})
	}()
	eventually(t, "the first transaction holds its items", func() bool { return f.srv.HeldItems() == 2 })

	// Another transaction naming x is cancelled at once.
	err := f.transact(f.raw,
		types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
			TableName: aws.String("t"), Key: key("z"), ConditionExpression: aws.String("attribute_not_exists(pk)"),
		}},
		types.TransactWriteItem{Update: update("x")},
		types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String("t"), Key: key("w")}})
	wantReasons(t, err, [2]string{"None", ""}, [2]string{"TransactionConflict", conflictMsg}, [2]string{"None", ""})

	// A single write to y fails with TransactionConflictException...
	var tc *types.TransactionConflictException
	if err := f.update(f.raw, "y"); !errors.As(err, &tc) || tc.ErrorMessage() != conflictMsg {
		t.Fatalf("UpdateItem of a held item: %v, want TransactionConflictException: %s", err, conflictMsg)
	}
	// ... also through the standard retryer, which does not retry it.
	_, before := f.srv.Requests()
	if err := f.update(f.std, "y"); !errors.As(err, &tc) {
		t.Fatalf("UpdateItem of a held item, standard retryer: %v, want TransactionConflictException", err)
	}
	if _, after := f.srv.Requests(); after["UpdateItem"]-before["UpdateItem"] != 1 {
		t.Errorf("the standard retryer sent %d UpdateItem, want 1", after["UpdateItem"]-before["UpdateItem"])
	}
	// Reads are not blocked.
	if _, err := f.raw.GetItem(f.ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: key("x")}); err != nil {
		t.Fatalf("GetItem of a held item: %v", err)
	}
	if st := refusals(f.srv); st != (localdb.Stats{TxnConflicts: 1, WriteConflicts: 2}) {
		t.Errorf("stats %+v, want 1 transaction conflict, 2 write conflicts", st)
	}

	f.srv.SetOptions(localdb.Options{TxnLatency: time.Millisecond})
	if err := <-done; err != nil {
		t.Fatalf("the holding transaction: %v", err)
	}
	if n := f.srv.HeldItems(); n != 0 {
		t.Fatalf("%d items still held", n)
	}
	if err := f.update(f.raw, "y"); err != nil {
		t.Fatalf("UpdateItem after the transaction: %v", err)
	}
	f.srv.ResetCounts()
	if st := f.srv.Stats(); st != (localdb.Stats{}) {
		t.Errorf("stats after ResetCounts: %+v", st)
	}
}

func TestTransactionsOnOtherItemsRunSideBySide(t *testing.T) {
	f := newFixture(t, localdb.Options{TxnLatency: time.Hour})
	done := make(chan error, 2)
	for _, sk := range []string{"a", "b"} {
		go func() { done <- f.transact(f.raw, types.TransactWriteItem{Update: update(sk)}) }()
	}
	eventually(t, "both transactions hold their items", func() bool { return f.srv.HeldItems() == 2 })
	f.srv.SetOptions(localdb.Options{TxnLatency: time.Millisecond})
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestItemWriteBudget(t *testing.T) {
	f := newFixture(t, localdb.Options{ItemWriteUnits: 10, TxnLatency: -1})
	clock := localdb.NewFakeClock()
	f.srv.UseClock(clock)
	for i := range 10 {
		if err := f.update(f.raw, "x"); err != nil {
			t.Fatalf("write %d: %v", i+1, err)
		}
	}
	err := f.update(f.raw, "x")
	var te *types.ThrottlingException
	if !errors.As(err, &te) || te.ErrorMessage() != hotKeyMsg {
		t.Fatalf("write 11: %v, want ThrottlingException: %s", err, hotKeyMsg)
	}
	if len(te.ThrottlingReasons) != 1 || aws.ToString(te.ThrottlingReasons[0].Reason) != "TableWriteKeyRangeThroughputExceeded" ||
		!strings.HasSuffix(aws.ToString(te.ThrottlingReasons[0].Resource), ":table/t") {
		t.Errorf("throttling reasons %+v", te.ThrottlingReasons)
	}
	if err := f.update(f.raw, "y"); err != nil {
		t.Fatalf("another item: %v", err)
	}
	clock.Advance(100 * time.Millisecond) // one unit back
	if err := f.update(f.raw, "x"); err != nil {
		t.Fatalf("after 100ms: %v", err)
	}
	if err := f.update(f.raw, "x"); !errors.As(err, &te) {
		t.Fatalf("the unit was spent: %v, want ThrottlingException", err)
	}
	if got := f.srv.Stats().Throttles; got != 2 {
		t.Errorf("%d throttles, want 2", got)
	}

	// The standard retryer retries a throttled write (after about a
	// second at most): it passes once the budget is back.
	_, before := f.srv.Requests()
	go func() {
		for deadline := time.Now().Add(10 * time.Second); f.srv.Stats().Throttles < 3 && time.Now().Before(deadline); {
			time.Sleep(2 * time.Millisecond)
		}
		clock.Advance(time.Second)
	}()
	if err := f.update(f.std, "x"); err != nil {
		t.Fatalf("standard retryer: %v", err)
	}
	if _, after := f.srv.Requests(); after["UpdateItem"]-before["UpdateItem"] != 2 {
		t.Errorf("the standard retryer sent %d UpdateItem, want 2", after["UpdateItem"]-before["UpdateItem"])
	}
}

func TestTransactionOverBudgetIsCancelled(t *testing.T) {
	f := newFixture(t, localdb.Options{ItemWriteUnits: 10, TxnLatency: -1})
	f.srv.UseClock(localdb.NewFakeClock())
	for range 9 { // y keeps 1 unit; a transaction needs 2
		if err := f.update(f.raw, "y"); err != nil {
			t.Fatal(err)
		}
	}
	err := f.transact(f.raw, types.TransactWriteItem{Update: update("x")}, types.TransactWriteItem{Update: update("y")})
	wantReasons(t, err, [2]string{"None", ""}, [2]string{"ThrottlingError", hotKeyMsg})
	if st := refusals(f.srv); st != (localdb.Stats{Throttles: 1}) {
		t.Errorf("stats %+v, want 1 throttle", st)
	}
	// The cancelled transaction consumed nothing: x has its 10 units, y 1.
	for i := range 10 {
		if err := f.update(f.raw, "x"); err != nil {
			t.Fatalf("x, write %d: %v", i+1, err)
		}
	}
	if err := f.update(f.raw, "y"); err != nil {
		t.Fatalf("y's last unit: %v", err)
	}
}

func TestIndexLag(t *testing.T) {
	f := newFixture(t, localdb.Options{TxnLatency: -1}) // default IndexLag: 300ms
	clock := localdb.NewFakeClock()
	f.srv.UseClock(clock)

	// A new item reaches the index after the lag; the table has it at once.
	f.put(item("1", "G", "a"))
	f.wantIndexed("G", map[string]string{})
	got, err := f.raw.GetItem(f.ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: key("1")})
	if err != nil || got.Item == nil {
		t.Fatalf("GetItem: %v, %v", got, err)
	}
	clock.Advance(299 * time.Millisecond)
	f.wantIndexed("G", map[string]string{})
	clock.Advance(time.Millisecond)
	f.wantIndexed("G", map[string]string{"1": "a"})

	// An updated item shows its old image until the lag passes, in its
	// old index partition when it moved.
	f.put(item("1", "G", "b"))
	f.wantIndexed("G", map[string]string{"1": "a"})
	clock.Advance(300 * time.Millisecond)
	f.wantIndexed("G", map[string]string{"1": "b"})
	f.put(item("1", "H", "c"))
	f.wantIndexed("G", map[string]string{"1": "b"})
	f.wantIndexed("H", map[string]string{})
	clock.Advance(300 * time.Millisecond)
	f.wantIndexed("G", map[string]string{})
	f.wantIndexed("H", map[string]string{"1": "c"})

	// A later write pushes the lag back.
	f.put(item("2", "H", "d"))
	clock.Advance(200 * time.Millisecond)
	f.put(item("2", "H", "e"))
	clock.Advance(200 * time.Millisecond)
	f.wantIndexed("H", map[string]string{"1": "c"})
	clock.Advance(100 * time.Millisecond)
	f.wantIndexed("H", map[string]string{"1": "c", "2": "e"})

	// A deleted item stays in the index until the lag passes; a
	// transaction's writes lag too.
	if _, err := f.raw.DeleteItem(f.ctx, &dynamodb.DeleteItemInput{TableName: aws.String("t"), Key: key("1")}); err != nil {
		t.Fatal(err)
	}
	if err := f.transact(f.raw, types.TransactWriteItem{Put: &types.Put{TableName: aws.String("t"), Item: item("3", "H", "f")}}); err != nil {
		t.Fatal(err)
	}
	f.wantIndexed("H", map[string]string{"1": "c", "2": "e"})
	clock.Advance(300 * time.Millisecond)
	f.wantIndexed("H", map[string]string{"2": "e", "3": "f"})

	// Pages are filled from what the index shows: an item not there yet
	// takes no place in a page.
	f.put(item("0", "H", "g"))
	out, err := f.raw.Query(f.ctx, &dynamodb.QueryInput{
		TableName: aws.String("t"), IndexName: aws.String("gsi1"), Limit: aws.Int32(1),
		KeyConditionExpression:    aws.String("gsi1pk = :g"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":g": s("H")},
	})
	if err != nil || len(out.Items) != 1 || out.Items[0]["sk"].(*types.AttributeValueMemberS).Value != "2" {
		t.Fatalf("first page of 1: %v, %v; want item 2", out, err)
	}

	// The table's own Query is strongly consistent.
	q, err := f.raw.Query(f.ctx, &dynamodb.QueryInput{
		TableName: aws.String("t"), KeyConditionExpression: aws.String("pk = :p"), ConsistentRead: aws.Bool(true),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": s("p")},
	})
	if err != nil || q.Count != 3 {
		t.Fatalf("table query: %d items, %v; want 3 (items 0, 2, 3)", q.Count, err)
	}
}

func TestIndexLagOnTheRealClock(t *testing.T) {
	f := newFixture(t, localdb.Options{})
	f.put(item("1", "G", "a"))
	eventually(t, "the index has the new item", func() bool { return len(f.indexed("G")) == 1 })
}

func TestConsistentReadOnGlobalIndexRefused(t *testing.T) {
	f := newFixture(t, localdb.Options{})
	_, qerr := f.std.Query(f.ctx, &dynamodb.QueryInput{
		TableName: aws.String("t"), IndexName: aws.String("gsi1"), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("gsi1pk = :g"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":g": s("G")},
	})
	_, serr := f.std.Scan(f.ctx, &dynamodb.ScanInput{
		TableName: aws.String("t"), IndexName: aws.String("gsi1"), ConsistentRead: aws.Bool(true),
	})
	for _, err := range []error{qerr, serr} {
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" ||
			ae.ErrorMessage() != "Consistent reads are not supported on global secondary indexes" {
			t.Errorf("ConsistentRead on a global index: %v, want ValidationException", err)
		}
	}
}

func TestRealismOff(t *testing.T) {
	for name, o := range map[string]localdb.Options{
		"negative options": {TxnLatency: -1, ItemWriteUnits: -1, IndexLag: -1},
		"env off":          localdb.OptionsFromEnv(func(string) string { return "off" }),
		"env 0":            localdb.OptionsFromEnv(func(string) string { return "0" }),
	} {
		t.Run(name, func(t *testing.T) { testRealismOff(t, o) })
	}
}

func testRealismOff(t *testing.T, o localdb.Options) {
	f := newFixture(t, o)
	f.srv.UseClock(localdb.NewFakeClock())

	// Without holds, concurrent transactions on one item all pass.
	done := make(chan error, 8)
	for range cap(done) {
		go func() { done <- f.transact(f.raw, types.TransactWriteItem{Update: update("x")}) }()
	}
	for range cap(done) {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}

	// Without a budget, a frozen clock does not throttle: an item spent
	// under a budget of 2 takes a write again once the budget is off.
	f.srv.SetOptions(localdb.Options{TxnLatency: -1, ItemWriteUnits: 2, IndexLag: -1})
	for range 2 {
		if err := f.update(f.raw, "z"); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.update(f.raw, "z"); err == nil {
		t.Fatal("over a budget of 2: not throttled")
	}
	f.srv.SetOptions(o)
	if err := f.update(f.raw, "z"); err != nil {
		t.Fatalf("budget off again: %v", err)
	}

	// Without lag, the index has a write at once and reads consistently.
	f.put(item("1", "G", "a"))
	f.wantIndexed("G", map[string]string{"1": "a"})
	if _, err := f.raw.Query(f.ctx, &dynamodb.QueryInput{
		TableName: aws.String("t"), IndexName: aws.String("gsi1"), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("gsi1pk = :g"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":g": s("G")},
	}); err != nil {
		t.Fatalf("ConsistentRead with the lag off: %v", err)
	}
	// Turned on again, the index follows the writes made while it was off.
	f.srv.SetOptions(localdb.Options{TxnLatency: -1, ItemWriteUnits: -1})
	f.wantIndexed("G", map[string]string{"1": "a"})

	// Injected throttling still answers ProvisionedThroughputExceededException.
	f.srv.Throttle(1)
	var pe *types.ProvisionedThroughputExceededException
	if err := f.update(f.raw, "z"); !errors.As(err, &pe) {
		t.Fatalf("Throttle(1): %v, want ProvisionedThroughputExceededException", err)
	}
	if st := refusals(f.srv); st != (localdb.Stats{Throttles: 1}) {
		t.Errorf("stats %+v, want only the throttle of the budget of 2", st)
	}
}

func TestOptionsFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, c := range []struct {
		env  map[string]string
		want localdb.Options
	}{
		{nil, localdb.Options{}},
		{map[string]string{localdb.EnvTxnLatency: "50ms", localdb.EnvItemWriteUnits: "2000", localdb.EnvIndexLag: "1s"},
			localdb.Options{TxnLatency: 50 * time.Millisecond, ItemWriteUnits: 2000, IndexLag: time.Second}},
		{map[string]string{localdb.EnvTxnLatency: "off", localdb.EnvItemWriteUnits: "0", localdb.EnvIndexLag: "OFF"},
			localdb.Options{TxnLatency: -1, ItemWriteUnits: -1, IndexLag: -1}},
		{map[string]string{localdb.EnvTxnLatency: "0", localdb.EnvItemWriteUnits: "off", localdb.EnvIndexLag: "0s"},
			localdb.Options{TxnLatency: -1, ItemWriteUnits: -1, IndexLag: -1}},
		{map[string]string{localdb.EnvTxnLatency: "soon", localdb.EnvItemWriteUnits: "many"}, localdb.Options{}},
	} {
		if got := localdb.OptionsFromEnv(env(c.env)); got != c.want {
			t.Errorf("%v: %+v, want %+v", c.env, got, c.want)
		}
	}

	t.Setenv(localdb.EnvIndexLag, "soon")
	if srv, err := localdb.Start(""); err == nil || !strings.Contains(err.Error(), localdb.EnvIndexLag) {
		if srv != nil {
			srv.Close()
		}
		t.Fatalf("Start with %s=soon: %v, want an error naming it", localdb.EnvIndexLag, err)
	}
}
