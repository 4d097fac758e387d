package localdb_test

import (
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/wxsub/wxsub/dev/localdb"
)

const conditionMsg = "The conditional request failed"

// get returns item sk as it is now (nil if it does not exist).
func (f *fixture) get(sk string) map[string]types.AttributeValue {
	f.t.Helper()
	out, err := f.raw.GetItem(f.ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: key(sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		f.t.Fatal(err)
	}
	return out.Item
}

// v returns attribute v of item sk ("" if the item or v is missing).
func (f *fixture) v(sk string) string {
	f.t.Helper()
	if v, ok := f.get(sk)["v"].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// wantV checks attribute v of items: sort key → v ("" for no item).
func (f *fixture) wantV(want map[string]string) {
	f.t.Helper()
	for sk, w := range want {
		if got := f.v(sk); got != w {
			f.t.Errorf("item %s: v %q, want %q", sk, got, w)
		}
	}
}

// setIf sets v of item sk to to if v is now is.
func setIf(sk, to, is string) *types.Update {
	return &types.Update{
		TableName: aws.String("t"), Key: key(sk), UpdateExpression: aws.String("SET v = :to"),
		ConditionExpression:       aws.String("v = :is"),
		ExpressionAttributeValues: values(":to", to, ":is", is),
	}
}

// putIfAbsent puts item sk with v unless it exists.
func putIfAbsent(sk, v string) *types.Put {
	return &types.Put{
		TableName: aws.String("t"), Item: item(sk, "", v), ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}
}

func check(sk, cond string) *types.ConditionCheck {
	return &types.ConditionCheck{TableName: aws.String("t"), Key: key(sk), ConditionExpression: aws.String(cond)}
}

func del(sk string) *types.Delete {
	return &types.Delete{TableName: aws.String("t"), Key: key(sk)}
}

// reasons returns a cancelled transaction's reasons.
func reasons(t *testing.T, err error) []types.CancellationReason {
	t.Helper()
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		t.Fatalf("got %v, want a TransactionCanceledException", err)
	}
	return tce.CancellationReasons
}

// apiCode returns the error code of a DynamoDB error ("" if none).
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func sameItem(a, b map[string]types.AttributeValue) bool {
	return maps.EqualFunc(a, b, func(x, y types.AttributeValue) bool {
		xs, xok := x.(*types.AttributeValueMemberS)
		ys, yok := y.(*types.AttributeValueMemberS)
		return xok && yok && xs.Value == ys.Value
	})
}

func TestTransactionAppliesAllItems(t *testing.T) {
	for name, o := range realismSettings {
		t.Run("realism "+name, func(t *testing.T) {
			f := newFixture(t, o)
			f.put(item("b", "", "old"))
			f.put(item("c", "", "old"))
			if err := f.transact(f.raw,
				types.TransactWriteItem{Put: putIfAbsent("a", "new")},
				types.TransactWriteItem{Update: setIf("b", "new", "old")},
				types.TransactWriteItem{Delete: del("c")},
			); err != nil {
				t.Fatal(err)
			}
			f.wantV(map[string]string{"a": "new", "b": "new", "c": ""})
		})
	}
}

func TestTransactionConditionFailureAppliesNothing(t *testing.T) {
	for name, o := range realismSettings {
		t.Run("realism "+name, func(t *testing.T) {
			f := newFixture(t, o)
			f.put(item("b", "", "old"))
			f.put(item("c", "", "old"))
			before := f.get("b")

			// One failing condition: nothing applied; its reason carries
			// the item, as asked.
			failing := setIf("b", "new", "other")
			failing.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
			err := f.transact(f.raw,
				types.TransactWriteItem{Put: putIfAbsent("a", "new")},
				types.TransactWriteItem{Update: failing},
				types.TransactWriteItem{Delete: del("c")},
			)
			wantReasons(t, err, [2]string{"None", ""}, [2]string{"ConditionalCheckFailed", conditionMsg}, [2]string{"None", ""})
			rs := reasons(t, err)
			if !sameItem(rs[1].Item, before) {
				t.Errorf("reason's item %v, want %v", rs[1].Item, before)
			}
			if rs[0].Item != nil || rs[2].Item != nil {
				t.Errorf("items in the None reasons: %v, %v", rs[0].Item, rs[2].Item)
			}
			f.wantV(map[string]string{"a": "", "b": "old", "c": "old"})

			// Two failing conditions: both reported, without items (not
			// asked for; and item "a" does not exist).
			err = f.transact(f.raw,
				types.TransactWriteItem{Update: setIf("a", "new", "old")},
				types.TransactWriteItem{Put: putIfAbsent("d", "new")},
				types.TransactWriteItem{Delete: &types.Delete{
					TableName: aws.String("t"), Key: key("c"), ConditionExpression: aws.String("v = :x"),
					ExpressionAttributeValues: values(":x", "other"),
				}},
			)
			wantReasons(t, err, [2]string{"ConditionalCheckFailed", conditionMsg}, [2]string{"None", ""},
				[2]string{"ConditionalCheckFailed", conditionMsg})
			for i, r := range reasons(t, err) {
				if r.Item != nil {
					t.Errorf("reason %d: item %v, not asked for", i, r.Item)
				}
			}
			f.wantV(map[string]string{"a": "", "b": "old", "c": "old", "d": ""})
		})
	}
}

func TestConditionCheckChangesNothing(t *testing.T) {
	f := newFixture(t, realismOff)
	f.put(item("x", "G", "old"))
	before := f.get("x")
	for _, c := range []struct {
		sk, cond string
		pass     bool
	}{
		{"x", "attribute_exists(pk)", true},
		{"x", "attribute_not_exists(pk)", false},
		{"x", "v = :old", true},
		{"none", "attribute_not_exists(pk)", true},
		{"none", "attribute_exists(pk)", false},
	} {
		cc := check(c.sk, c.cond)
		if c.cond == "v = :old" {
			cc.ExpressionAttributeValues = values(":old", "old")
		}
		cc.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
		err := f.transact(f.raw, types.TransactWriteItem{ConditionCheck: cc},
			types.TransactWriteItem{Update: update("other-" + c.sk + c.cond)})
		switch {
		case c.pass && err != nil:
			t.Errorf("%s on %s: %v, want it to pass", c.cond, c.sk, err)
		case !c.pass:
			wantReasons(t, err, [2]string{"ConditionalCheckFailed", conditionMsg}, [2]string{"None", ""})
			got := reasons(t, err)[0].Item
			if want := f.get(c.sk); !sameItem(got, want) || (want == nil) != (got == nil) {
				t.Errorf("%s on %s: reason's item %v, want %v", c.cond, c.sk, got, want)
			}
		}
		if got := f.get("x"); !sameItem(got, before) {
			t.Errorf("%s on %s: item x %v, want it unchanged: %v", c.cond, c.sk, got, before)
		}
		if f.exists("none") {
			t.Errorf("%s on %s: item none exists", c.cond, c.sk)
		}
	}
}

func TestCancelledTransactionRemovesWhatItCreated(t *testing.T) {
	f := newFixture(t, localdb.Options{TxnLatency: -1}) // default IndexLag: 300ms
	clock := localdb.NewFakeClock()
	f.srv.UseClock(clock)
	f.put(item("b", "", "old"))

	// An Update creating an item in index partition G, and a Put of
	// another, then a failing condition.
	err := f.transact(f.raw,
		types.TransactWriteItem{Update: &types.Update{
			TableName: aws.String("t"), Key: key("created"),
			UpdateExpression:          aws.String("SET v = :v, gsi1pk = :g, gsi1sk = :s"),
			ExpressionAttributeValues: values(":v", "new", ":g", "G", ":s", "created"),
		}},
		types.TransactWriteItem{Put: &types.Put{TableName: aws.String("t"), Item: item("put", "G", "new")}},
		types.TransactWriteItem{Update: setIf("b", "new", "other")},
	)
	wantReasons(t, err, [2]string{"None", ""}, [2]string{"None", ""}, [2]string{"ConditionalCheckFailed", conditionMsg})
	if f.exists("created") || f.exists("put") {
		t.Fatal("the cancelled transaction's new items exist")
	}
	q, err := f.raw.Query(f.ctx, &dynamodb.QueryInput{
		TableName: aws.String("t"), KeyConditionExpression: aws.String("pk = :p"),
		ExpressionAttributeValues: values(":p", "p"),
	})
	if err != nil || q.Count != 1 {
		t.Fatalf("table query: %d items, %v; want 1 (item b)", q.Count, err)
	}
	f.wantIndexed("G", map[string]string{})
	clock.Advance(time.Second)
	f.wantIndexed("G", map[string]string{})
}

func TestTransactionReachesIndexWhole(t *testing.T) {
	f := newFixture(t, localdb.Options{TxnLatency: -1}) // default IndexLag: 300ms
	clock := localdb.NewFakeClock()
	f.srv.UseClock(clock)
	f.put(item("moved", "H", "old"))
	clock.Advance(time.Second)
	f.wantIndexed("H", map[string]string{"moved": "old"})

	if err := f.transact(f.raw,
		types.TransactWriteItem{Put: &types.Put{TableName: aws.String("t"), Item: item("put", "G", "new")}},
		types.TransactWriteItem{Update: &types.Update{
			TableName: aws.String("t"), Key: key("created"),
			UpdateExpression:          aws.String("SET v = :v, gsi1pk = :g, gsi1sk = :s"),
			ExpressionAttributeValues: values(":v", "new", ":g", "G", ":s", "created"),
		}},
		types.TransactWriteItem{Update: &types.Update{
			TableName: aws.String("t"), Key: key("moved"),
			UpdateExpression:          aws.String("SET v = :v, gsi1pk = :g"),
			ExpressionAttributeValues: values(":v", "new", ":g", "G"),
		}},
	); err != nil {
		t.Fatal(err)
	}
	// Until the lag passes the index shows the items as they were...
	f.wantIndexed("G", map[string]string{})
	f.wantIndexed("H", map[string]string{"moved": "old"})
	clock.Advance(300 * time.Millisecond)
	// ... then as the transaction left them.
	f.wantIndexed("G", map[string]string{"put": "new", "created": "new", "moved": "new"})
	f.wantIndexed("H", map[string]string{})
}

func TestTransactionRefusedForAnotherReasonAppliesNothing(t *testing.T) {
	f := newFixture(t, realismOff)
	f.put(item("b", "", "old"))
	f.srv.ResetCounts()
	updateKey := &types.Update{
		TableName: aws.String("t"), Key: key("c"), UpdateExpression: aws.String("SET sk = :v"),
		ExpressionAttributeValues: values(":v", "x"),
	}
	for _, items := range [][]types.TransactWriteItem{
		{{Put: putIfAbsent("a", "new")}, {Update: setIf("b", "new", "old")}, {Update: updateKey}},
		// A validation error wins over a failed condition met before it.
		{{Put: putIfAbsent("a", "new")}, {Update: setIf("b", "new", "other")}, {Update: updateKey}},
	} {
		err := f.transact(f.raw, items...)
		var tce *types.TransactionCanceledException
		if err == nil || errors.As(err, &tce) {
			t.Fatalf("update of a key attribute: %v, want a ValidationException", err)
		}
		if code := apiCode(err); code != "ValidationException" {
			t.Errorf("update of a key attribute: %v, want a ValidationException", err)
		}
		f.wantV(map[string]string{"a": "", "b": "old", "c": ""})
	}
	if st := f.srv.Stats(); st.WriteUnits != 0 {
		t.Errorf("refused transactions consumed %v write units, want 0", st.WriteUnits)
	}
}

func TestTransactionNamingAnItemTwiceIsRefused(t *testing.T) {
	f := newFixture(t, localdb.Options{})
	f.put(item("b", "", "old"))
	f.srv.ResetCounts()
	for _, items := range [][]types.TransactWriteItem{
		{{ConditionCheck: check("b", "attribute_exists(pk)")}, {Update: setIf("b", "new", "old")}},
		{{Put: putIfAbsent("a", "new")}, {Delete: del("a")}},
		{{Put: &types.Put{TableName: aws.String("t"), Item: item("b", "G", "new")}}, {Update: update("x")}, {Delete: del("b")}},
	} {
		err := f.transact(f.raw, items...)
		wantValidation(t, "the same item twice", err, "Transaction request cannot include multiple operations on one item")
	}
	f.wantV(map[string]string{"a": "", "b": "old", "x": ""})
	if st := f.srv.Stats(); st != (localdb.Stats{ReadUnits: st.ReadUnits}) {
		t.Errorf("stats %+v, want nothing consumed nor refused", st)
	}
	if n := f.srv.HeldItems(); n != 0 {
		t.Errorf("%d items held", n)
	}
}

func TestReadsDuringTheHoldSeeTheCommittedItems(t *testing.T) {
	f := newFixture(t, localdb.Options{TxnLatency: time.Hour})
	f.put(item("x", "", "old"))
	done := make(chan error, 1)
	go func() { done <- f.transact(f.raw, types.TransactWriteItem{Update: setIf("x", "new", "old")}) }()
	eventually(t, "the transaction holds x", func() bool { return f.srv.HeldItems() == 1 })
	f.wantV(map[string]string{"x": "old"})
	f.srv.SetOptions(localdb.Options{TxnLatency: time.Millisecond})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f.wantV(map[string]string{"x": "new"})
}

// TestReadersNeverSeeHalfATransaction has transactions write items a and b
// together, some of them cancelled after writing a, while readers check
// that a and b always agree and never show a cancelled write.
func TestReadersNeverSeeHalfATransaction(t *testing.T) {
	for name, o := range map[string]localdb.Options{
		"realism off": realismOff,
		"1ms latency": {TxnLatency: time.Millisecond, ItemWriteUnits: -1},
		"index lag":   {TxnLatency: -1, ItemWriteUnits: -1},
	} {
		t.Run(name, func(t *testing.T) { testReadersNeverSeeHalfATransaction(t, o) })
	}
}

func testReadersNeverSeeHalfATransaction(t *testing.T, o localdb.Options) {
	f := newFixture(t, o)
	f.put(item("a", "", "0"))
	f.put(item("b", "", "0"))
	const rounds = 50
	var writers sync.WaitGroup
	stop := make(chan struct{})
	// Each writer moves a and b from one value to the next, retrying on a
	// conflict (realism on) or a failed condition (the other writer moved
	// them first), and sends transactions that write a and are then
	// cancelled by b's condition.
	for w := range 2 {
		writers.Go(func() {
			for i := range rounds {
				got, err := f.raw.GetItem(f.ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: key("a")})
				if err != nil {
					t.Error(err)
					return
				}
				cur := got.Item["v"].(*types.AttributeValueMemberS).Value
				next := fmt.Sprintf("w%d-%d", w, i)
				f.transact(f.raw,
					types.TransactWriteItem{Update: setIf("a", next, cur)},
					types.TransactWriteItem{Update: setIf("b", next, cur)})
				err = f.transact(f.raw,
					types.TransactWriteItem{Update: setIf("a", "cancelled", cur)},
					types.TransactWriteItem{Update: setIf("b", "cancelled", "never")})
				if err == nil {
					t.Error("a transaction with a failing condition was applied")
				}
			}
		})
	}
	var readers sync.WaitGroup
	seen := func(how string, a, b map[string]types.AttributeValue) {
		av, _ := a["v"].(*types.AttributeValueMemberS)
		bv, _ := b["v"].(*types.AttributeValueMemberS)
		switch {
		case av == nil || bv == nil:
			t.Errorf("%s: a or b missing: %v, %v", how, a, b)
		case av.Value != bv.Value:
			t.Errorf("%s: half a transaction: a %q, b %q", how, av.Value, bv.Value)
		case av.Value == "cancelled":
			t.Errorf("%s: a cancelled transaction's write", how)
		}
	}
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			out, err := f.raw.TransactGetItems(f.ctx, &dynamodb.TransactGetItemsInput{TransactItems: []types.TransactGetItem{
				{Get: &types.Get{TableName: aws.String("t"), Key: key("a")}},
				{Get: &types.Get{TableName: aws.String("t"), Key: key("b")}},
			}})
			if err != nil {
				t.Error(err)
				return
			}
			seen("TransactGetItems", out.Responses[0].Item, out.Responses[1].Item)
		}
	})
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			out, err := f.raw.Query(f.ctx, &dynamodb.QueryInput{
				TableName: aws.String("t"), KeyConditionExpression: aws.String("pk = :p"), ConsistentRead: aws.Bool(true),
				ExpressionAttributeValues: values(":p", "p"),
			})
			if err != nil {
				t.Error(err)
				return
			}
			if len(out.Items) != 2 {
				t.Errorf("Query: %d items, want a and b", len(out.Items))
				return
			}
			seen("Query", out.Items[0], out.Items[1])
		}
	})
	writers.Wait()
	close(stop)
	readers.Wait()
	if a := f.v("a"); a == "0" || a != f.v("b") {
		t.Errorf("at the end a is %q, b %q", a, f.v("b"))
	}
}

func TestConcurrentTransactionsWithoutLatencyTakeTurns(t *testing.T) {
	f := newFixture(t, realismOff)
	const n = 20
	errs := make(chan error, n)
	for range n {
		go func() {
			errs <- f.transact(f.raw, types.TransactWriteItem{Update: addOne("c")}, types.TransactWriteItem{Update: addOne("d")})
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if c, d := f.counter("c"), f.counter("d"); c != fmt.Sprint(n) || d != c {
		t.Errorf("counters c %s, d %s; want %d", c, d, n)
	}
}

func TestTransactionsOnALargeTable(t *testing.T) {
	f := newFixture(t, realismOff)
	size := 5000
	if testing.Short() {
		size = 500
	}
	f.fill(size)
	f.put(item("cc", "", "x"))
	const txns = 200
	for i := range txns {
		if err := f.transact(f.raw, threeItems(fmt.Sprintf("new-%d", i))...); err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
	if c := f.counter("c"); c != fmt.Sprint(txns) {
		t.Errorf("counter %s, want %d", c, txns)
	}
	// One more, cancelled by its condition check, changes nothing.
	err := f.transact(f.raw, types.TransactWriteItem{Update: addOne("c")}, types.TransactWriteItem{Put: putNew("new-last")},
		types.TransactWriteItem{ConditionCheck: check("cc", "attribute_not_exists(pk)")})
	wantReasons(t, err, [2]string{"None", ""}, [2]string{"None", ""}, [2]string{"ConditionalCheckFailed", conditionMsg})
	if c := f.counter("c"); c != fmt.Sprint(txns) {
		t.Errorf("counter %s after a cancelled transaction, want %d", c, txns)
	}
	var count int32
	p := dynamodb.NewScanPaginator(f.raw, &dynamodb.ScanInput{TableName: aws.String("t"), Select: types.SelectCount})
	for p.HasMorePages() {
		out, err := p.NextPage(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		count += out.Count
	}
	if want := int32(size + 2 + txns); count != want { // the fill, c and cc, the new items
		t.Errorf("%d items, want %d", count, want)
	}
	f.wantV(map[string]string{"fill-0": "x", fmt.Sprintf("fill-%d", size-1): "x", "new-0": "new", "new-last": ""})
}
