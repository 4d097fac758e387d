package localdb

import (
	"sync"
	"time"
)

// Write units, as DynamoDB charges them for items of up to 1 KB: one for a
// standard write, two for each item of a transaction ("Capacity management
// for transactions",
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-capacity-handling).
const (
	singleWriteUnits = 1
	txnWriteUnits    = 2
)

// verdict is what admission decides for one item of a write.
type verdict int

const (
	admitted   verdict = iota
	conflicted         // a transaction holds the item
	throttled          // the item is over its write budget
)

// admission decides whether DynamoDB would take a write: an item that a
// transaction holds refuses other writes, and each item has a budget of
// write units a second.
//
// The budget stands for DynamoDB's partition limit: "Each partition on the
// table can serve up to 3,000 read request units or 1,000 write request
// units" (https://repost.aws/knowledge-center/on-demand-table-throttling-dynamodb,
// and https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html).
// An on-demand table throttles a key over it however much the table takes
// in total. It is modelled per item, as a token bucket holding one second's
// worth of units; item sizes are ignored.
type admission struct {
	mu      sync.Mutex
	held    map[string]bool // by item id, while a transaction runs
	buckets map[string]*bucket
	swept   time.Time
}

// bucket is an item's write budget: tokens at a time, refilled at the
// item's rate up to one second's worth. A missing bucket is full.
type bucket struct {
	tokens float64
	at     time.Time
}

func newAdmission() *admission {
	return &admission{held: map[string]bool{}, buckets: map[string]*bucket{}}
}

// admitWrite decides a single write to one item and, admitted, charges
// it. rate is the items' budget a second, 0 for none.
func (a *admission) admitWrite(id string, rate int, now time.Time) verdict {
	a.mu.Lock()
	defer a.mu.Unlock()
	// "A PutItem, UpdateItem, or DeleteItem request for an item conflicts
	// with an ongoing TransactWriteItems request that includes the same
	// item": it fails with TransactionConflictException
	// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-conflict-handling).
	if a.held[id] {
		return conflicted
	}
	cost := map[string]float64{id: singleWriteUnits}
	if rate > 0 && !a.affords(cost, rate, now) {
		return throttled
	}
	a.charge(cost, rate, now)
	return admitted
}

// admitTxn decides a transaction naming the items ids, in its order. It
// returns nil when it admits the transaction, having charged its items and,
// if hold, held them until release; otherwise one verdict per item, having
// changed nothing.
func (a *admission) admitTxn(ids []string, hold bool, rate int, now time.Time) []verdict {
	a.mu.Lock()
	defer a.mu.Unlock()
	// "An item within a TransactWriteItems request is part of another
	// ongoing transaction": the transaction is cancelled (same page).
	if v, refused := a.judge(ids, func(id string) bool { return a.held[id] }, conflicted); refused {
		return v
	}
	cost := map[string]float64{}
	for _, id := range ids {
		cost[id] += txnWriteUnits
	}
	if rate > 0 {
		over := func(id string) bool { return !a.affords(map[string]float64{id: cost[id]}, rate, now) }
		if v, refused := a.judge(ids, over, throttled); refused {
			return v
		}
	}
	a.charge(cost, rate, now)
	if hold {
		for _, id := range ids {
			a.held[id] = true
		}
	}
	return nil
}

// judge gives fault to the items for which bad is true, and reports
// whether any was.
func (a *admission) judge(ids []string, bad func(string) bool, fault verdict) ([]verdict, bool) {
	v := make([]verdict, len(ids))
	refused := false
	for i, id := range ids {
		if bad(id) {
			v[i], refused = fault, true
		}
	}
	return v, refused
}

// release lets go of a transaction's items.
func (a *admission) release(ids []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		delete(a.held, id)
	}
}

// heldItems counts the items that transactions hold.
func (a *admission) heldItems() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.held)
}

// burst is how many tokens an item's bucket holds: one second's worth, but
// at least what a transaction costs, so that any budget lets one through.
func burst(rate int) float64 { return max(float64(rate), txnWriteUnits) }

// level returns an item's tokens at now.
func (a *admission) level(id string, rate int, now time.Time) float64 {
	b := a.buckets[id]
	if b == nil {
		return burst(rate)
	}
	return min(burst(rate), b.tokens+now.Sub(b.at).Seconds()*float64(rate))
}

// affords reports whether every item has the tokens it costs.
func (a *admission) affords(cost map[string]float64, rate int, now time.Time) bool {
	for id, c := range cost {
		if a.level(id, rate, now) < c {
			return false
		}
	}
	return true
}

// charge takes the tokens from the items (nothing without a budget).
func (a *admission) charge(cost map[string]float64, rate int, now time.Time) {
	if rate <= 0 {
		return
	}
	for id, c := range cost {
		a.buckets[id] = &bucket{tokens: a.level(id, rate, now) - c, at: now}
	}
	a.sweep(rate, now)
}

// sweep forgets, at most once a second, the buckets that are full again.
func (a *admission) sweep(rate int, now time.Time) {
	if now.Sub(a.swept) < time.Second {
		return
	}
	a.swept = now
	for id := range a.buckets {
		if a.level(id, rate, now) >= burst(rate) {
			delete(a.buckets, id)
		}
	}
}
