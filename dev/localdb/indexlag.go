package localdb

import (
	"encoding/json"
	"sync"
	"time"
)

// Global secondary indexes lag behind their table: "Changes to the table
// data are propagated to the global secondary indexes within a fraction of
// a second, under normal conditions"; reads from them are only eventually
// consistent (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.Writes,
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html),
// and a transaction's changes too "propagate to global secondary indexes
// (GSIs), streams, and backups" after it completes
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html).
//
// The server models this with a second minidyn instance, the shadow, which
// holds the tables as their global secondary indexes see them, and which
// answers Query and Scan on those indexes. An item without a pending write
// is the same in both, except that the shadow leaves out the items that
// carry no index key attribute (no index can show them). A write makes its item pending; once it has been
// done for IndexLag (a later write pushing that back), the item is copied
// from minidyn to the shadow, when the next write to it or the next read
// of an index of its table comes. Until then the shadow answers with the
// item as it was before the first pending write: with its old index keys,
// or not at all if it is new, or still there if it was deleted. minidyn
// evaluates key conditions, filters, Limit and pagination on those images
// as DynamoDB's index would.

// indexLag tracks the items whose writes have not reached the shadow.
type indexLag struct {
	mu      sync.Mutex
	pending map[string]map[string]*pendingItem // by table, then item id
	// copying serialises the copies to the shadow with the writes they
	// must not interleave with.
	copying sync.Mutex
}

// pendingItem is an item whose writes have not reached the shadow.
type pendingItem struct {
	ref      itemRef
	inflight int       // writes under way
	done     time.Time // when the last successful write ended
	gen      uint64    // writes begun
}

// dueItem is a pending item ready to be copied, as of its gen.
type dueItem struct {
	ref itemRef
	gen uint64
}

func newIndexLag() *indexLag {
	return &indexLag{pending: map[string]map[string]*pendingItem{}}
}

// beginWrites marks items as being written. Before that it copies to the
// shadow those whose earlier writes are due, so that the shadow holds the
// image before the first write still pending.
func (s *Server) beginWrites(refs []itemRef) {
	x := s.index
	lag, now := s.settings.Load().indexLag, s.now()
	x.copying.Lock()
	defer x.copying.Unlock()
	for _, d := range x.dueOf(refs, lag, now) {
		s.copyToShadow(d)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, r := range refs {
		p := x.item(r)
		p.inflight++
		p.gen++
	}
}

// endWrites marks the items' writes as over, at now. A write that failed
// changed nothing and does not push the items' lag back.
func (x *indexLag) endWrites(refs []itemRef, ok bool, now time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, r := range refs {
		p := x.pending[r.table][r.id]
		if p == nil { // its table was deleted meanwhile
			continue
		}
		p.inflight--
		if ok {
			p.done = now
		}
	}
}

// syncTable copies to the shadow the items of a table whose writes are due,
// before a read of one of its global secondary indexes.
func (s *Server) syncTable(table string) {
	x := s.index
	lag, now := s.settings.Load().indexLag, s.now()
	x.copying.Lock()
	defer x.copying.Unlock()
	for _, d := range x.dueIn(table, lag, now) {
		s.copyToShadow(d)
	}
}

// copyToShadow copies an item from minidyn to the shadow and, done, stops
// tracking it unless it was written again meanwhile. An item that cannot
// be copied stays pending, to be tried again.
func (s *Server) copyToShadow(d dueItem) {
	var got struct{ Item json.RawMessage }
	get := map[string]any{"TableName": d.ref.table, "Key": d.ref.key, "ConsistentRead": true}
	if err := call(s.mini, "GetItem", get, &got); err != nil {
		return
	}
	var err error
	if len(got.Item) == 0 || string(got.Item) == "null" || !s.indexed(d.ref.table, got.Item) {
		// Gone, or in no index: the shadow, which only indexes read, need
		// not hold it (and minidyn's insert of a new key costs a sort of
		// all the table's keys).
		err = call(s.shadow, "DeleteItem", map[string]any{"TableName": d.ref.table, "Key": d.ref.key}, nil)
	} else {
		err = call(s.shadow, "PutItem", map[string]any{"TableName": d.ref.table, "Item": got.Item}, nil)
	}
	if err == nil {
		s.index.forget(d)
	}
}

// indexed reports whether an item (DynamoDB JSON) has a key attribute of
// one of its table's global secondary indexes; true when unsure.
func (s *Server) indexed(table string, raw json.RawMessage) bool {
	sc, ok := s.schema(table)
	if !ok || len(sc.gsiKeys) == 0 {
		return true
	}
	var item map[string]json.RawMessage
	if json.Unmarshal(raw, &item) != nil {
		return true
	}
	for _, k := range sc.gsiKeys {
		if _, ok := item[k]; ok {
			return true
		}
	}
	return false
}

// item returns the pending entry of an item, making it. x.mu is held.
func (x *indexLag) item(r itemRef) *pendingItem {
	byID := x.pending[r.table]
	if byID == nil {
		byID = map[string]*pendingItem{}
		x.pending[r.table] = byID
	}
	p := byID[r.id]
	if p == nil {
		p = &pendingItem{ref: r}
		byID[r.id] = p
	}
	return p
}

// due reports whether an item's writes are over and lag old. x.mu is held.
func (p *pendingItem) due(lag time.Duration, now time.Time) bool {
	return p.inflight == 0 && !now.Before(p.done.Add(lag))
}

// dueOf returns those of refs that are due.
func (x *indexLag) dueOf(refs []itemRef, lag time.Duration, now time.Time) []dueItem {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []dueItem
	for _, r := range refs {
		if p := x.pending[r.table][r.id]; p != nil && p.due(lag, now) {
			out = append(out, dueItem{ref: p.ref, gen: p.gen})
		}
	}
	return out
}

// dueIn returns the due items of a table.
func (x *indexLag) dueIn(table string, lag time.Duration, now time.Time) []dueItem {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []dueItem
	for _, p := range x.pending[table] {
		if p.due(lag, now) {
			out = append(out, dueItem{ref: p.ref, gen: p.gen})
		}
	}
	return out
}

// forget stops tracking a copied item, unless it was written since.
func (x *indexLag) forget(d dueItem) {
	x.mu.Lock()
	defer x.mu.Unlock()
	byID := x.pending[d.ref.table]
	if p := byID[d.ref.id]; p != nil && p.gen == d.gen && p.inflight == 0 {
		delete(byID, d.ref.id)
	}
}

// dropTable stops tracking a deleted table's items.
func (x *indexLag) dropTable(table string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.pending, table)
}
