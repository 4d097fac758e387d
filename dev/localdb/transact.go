package localdb

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
)

// The server applies a TransactWriteItems itself, one item at a time,
// rather than with minidyn's TransactWriteItems: minidyn copies every
// table a transaction names before applying it (core.Table.Snapshot,
// called by prepareTransact in minidyn v0.8.2's server/client.go, for its
// rollback), under its global lock, so each transaction took time
// proportional to the size of its tables and held everything meanwhile.
// Here a transaction costs a few single-item requests per item, whatever
// the size of the table.
//
// Once the transaction's items are admitted (and held for TxnLatency,
// see realism.go), its apply phase runs under the server's apply lock,
// exclusively:
//
//  1. It reads each item's image before the transaction (GetItem). A key
//     that cannot be read (a table that does not exist, a malformed key)
//     refuses the whole transaction with minidyn's answer to that read,
//     before anything is applied.
//  2. It applies each action as a single minidyn request with the
//     action's own ConditionExpression, ExpressionAttributeNames and
//     ExpressionAttributeValues: a Put as a PutItem, an Update as an
//     UpdateItem, a Delete as a DeleteItem. A ConditionCheck changes
//     nothing: on an item that exists it is a PutItem of the item's own
//     image with the check's condition (which writes back what is there
//     if it holds), and on an item that does not it is a DeleteItem with
//     the condition (which deletes nothing, whether or not it holds).
//     Every action is tried, even after a condition failed, so that each
//     failing one is reported.
//  3. If a condition failed, it restores the image of every item it tried
//     to write (a PutItem of the image, or a DeleteItem if the item did
//     not exist), and answers TransactionCanceledException with one reason
//     per action in the request's order: ConditionalCheckFailed ("The
//     conditional request failed") for each action whose condition
//     failed, with the item as it was when ReturnValuesOnConditionCheckFailure
//     is ALL_OLD and the item exists, and None for the others. DynamoDB
//     documents the reasons as "An ordered list of errors for each item in
//     the request which caused the transaction to get cancelled. The values
//     of the list are ordered according to the ordering of the
//     TransactWriteItems request parameter"
//     (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CancellationReason.html);
//     a real answer with two failing conditions, each reported, is quoted
//     in https://github.com/pynamodb/PynamoDB/issues/1143, and one with
//     the Item of an ALL_OLD action in
//     https://github.com/boto/boto3/issues/2657.
//  4. An action refused for another reason (a ValidationException from an
//     expression, a type mismatch, an item too large, ...) stops the
//     transaction: the items tried so far are restored and minidyn's
//     answer to that action is passed on. DynamoDB validates the whole
//     request before applying anything, so a validation error wins over
//     any failed condition; so it does here, since every action is tried
//     before the transaction is answered.
//
// The restore covers the action that failed too: minidyn's UpdateItem
// changes a stored item in place while it evaluates the update, so an
// update that fails halfway may leave part of it behind.
//
// # Isolation
//
// "Serializable isolation ensures that the results of multiple concurrent
// operations are the same as if no operation begins until the previous
// one has finished"; DynamoDB has it between a transaction and any
// PutItem, UpdateItem, DeleteItem or GetItem, and between a
// TransactWriteItems and a TransactGetItems; Query, Scan and BatchGetItem
// are read-committed: "Read-committed isolation ensures that read
// operations always return committed values for an item" ("Isolation
// levels for DynamoDB transactions",
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-isolation).
//
// The apply lock gives both: every other request that minidyn serves
// (reads, single writes, BatchWriteItem, table changes, and the server's
// own reads for the index lag and capacity) takes its shared side for
// the time minidyn serves it (guarded), so none sees a transaction half
// applied or a write that is then rolled back, and none can slip a write
// between an item's image and its restore. While a transaction waits out
// TxnLatency it does not take the lock: reads are served then, and see the
// items as they were, the committed state, as DynamoDB's do. The apply
// phase itself lasts some microseconds per item. Query, Scan and
// BatchGetItem get more than DynamoDB promises (they never see part of a
// transaction), which no correct reader can object to.
//
// Transactions apply one at a time, so two never interleave, whatever the
// Options. With TxnLatency off, a transaction holds nothing (it takes no
// time that another could overlap): a second transaction on the same item
// waits for the first one's apply phase and then runs, rather than being
// cancelled; likewise a single write. That is DynamoDB's serial order with
// transactions of zero duration, and minidyn's behaviour before.

// guarded is minidyn as every request but a transaction's apply phase
// reaches it: under the shared side of the apply lock. It buffers the
// answer and writes it out once the lock is released, so that a slow
// client cannot keep a transaction waiting.
type guarded struct {
	h    http.Handler
	lock *sync.RWMutex
}

func (g guarded) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	g.serve(rec, r)
	copyAnswer(w, rec)
}

func (g guarded) serve(w http.ResponseWriter, r *http.Request) {
	g.lock.RLock()
	defer g.lock.RUnlock()
	g.h.ServeHTTP(w, r)
}

// copyAnswer writes a recorded answer to w.
func copyAnswer(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	maps.Copy(w.Header(), rec.Header())
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// The kinds of action of a TransactWriteItems.
const (
	actConditionCheck = "ConditionCheck"
	actPut            = "Put"
	actUpdate         = "Update"
	actDelete         = "Delete"
)

const (
	// msgConditionFailed is the message of the ConditionalCheckFailed
	// cancellation reason, as in the real answers quoted at cancelledBody
	// (and minidyn's ConditionalCheckFailedException).
	msgConditionFailed = "The conditional request failed"

	// msgSameItem answers a transaction with two actions on one item:
	// "You can't target the same item with multiple operations within the
	// same transaction" (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html),
	// refused with this ValidationException (reported verbatim through
	// aws-sdk-go in https://github.com/aws/aws-sdk-go/issues/3792).
	msgSameItem = "Transaction request cannot include multiple operations on one item"
)

// txnAction is one action of a TransactWriteItems as the server applies
// it.
type txnAction struct {
	kind string
	// members are the action's members as the request spelled them.
	members map[string]json.RawMessage
	ref     itemRef
	// before is the item before the transaction, nil if it did not exist.
	before attrs
	// after is the item once the action applied (nil if deleted), for the
	// table's stream.
	after attrs
}

// rawTransaction is a TransactWriteItems body with each action's members
// kept as they came: action kind → member → value.
type rawTransaction struct {
	TransactItems []map[string]map[string]json.RawMessage
}

// wellFormed reports whether every one of a transaction's items has
// exactly one action, and there is at least one. The server leaves the
// others to minidyn, which refuses them (or, without any item, answers
// success, as it always did).
func (req transactRequest) wellFormed() bool {
	if len(req.TransactItems) == 0 {
		return false
	}
	for _, it := range req.TransactItems {
		n := 0
		for _, a := range []*itemRequest{it.ConditionCheck, it.Put, it.Update, it.Delete} {
			if a != nil {
				n++
			}
		}
		if n != 1 {
			return false
		}
	}
	return true
}

// sameItemTwice reports whether two of a transaction's actions name one
// item.
func sameItemTwice(acts []writeAction) bool {
	seen := make(map[string]bool, len(acts))
	for _, a := range acts {
		if seen[a.ref.id] {
			return true
		}
		seen[a.ref.id] = true
	}
	return false
}

// txnActions pairs a well-formed transaction's body with its actions'
// items (transactionActions, in the same order).
func txnActions(body []byte, acts []writeAction) ([]txnAction, error) {
	var raw rawTransaction
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("localdb: decode TransactWriteItems: %w", err)
	}
	if len(raw.TransactItems) != len(acts) {
		return nil, fmt.Errorf("localdb: TransactWriteItems: %d items, %d actions", len(raw.TransactItems), len(acts))
	}
	out := make([]txnAction, len(acts))
	for i, it := range raw.TransactItems {
		for _, kind := range []string{actConditionCheck, actPut, actUpdate, actDelete} {
			if m := it[kind]; m != nil {
				out[i] = txnAction{kind: kind, members: m, ref: acts[i].ref}
				break
			}
		}
		if out[i].kind == "" {
			return nil, fmt.Errorf("localdb: TransactWriteItems: item %d has no action", i)
		}
	}
	return out, nil
}

// txnOutcome is how a transaction's apply phase ended: applied (both
// fields zero), cancelled for failed conditions (reasons), or refused
// (failure, the answer to pass on).
type txnOutcome struct {
	reasons []cancellationReason
	failure *httptest.ResponseRecorder
}

// applyTransaction applies a transaction's actions under the apply lock,
// all or none (see the top of this file), and records each item's size
// before the transaction in acts (which pairs with actions).
func (s *Server) applyTransaction(actions []txnAction, acts []writeAction) txnOutcome {
	s.applying.Lock()
	defer s.applying.Unlock()
	for i := range actions {
		img, failure := s.image(actions[i].ref)
		if failure != nil {
			return txnOutcome{failure: failure}
		}
		actions[i].before = img
		acts[i].before = itemSize(img)
	}
	var (
		reasons   = make([]cancellationReason, len(actions))
		cancelled bool
		tried     []int // the writes tried, to restore
	)
	for i := range actions {
		a := &actions[i]
		op, body, err := a.request()
		if err != nil {
			return s.abandon(actions, tried, internalFailure(err))
		}
		if a.kind != actConditionCheck {
			tried = append(tried, i)
		}
		rec := serveRaw(s.engine, op, body)
		switch {
		case rec.Code == http.StatusOK:
			reasons[i] = admitted.reason()
			switch a.kind {
			case actUpdate:
				a.after = updatedImage(rec.Body.Bytes())
				acts[i].after = itemSize(a.after)
			case actPut:
				a.after = putImage(a.members)
			}
		case rec.Code == http.StatusBadRequest && conditionFailed(rec.Body.Bytes()):
			reasons[i] = a.conditionFailure()
			cancelled = true
		default:
			return s.abandon(actions, tried, rec)
		}
	}
	if !cancelled {
		for _, a := range actions {
			if a.kind != actConditionCheck && s.streams.on(a.ref.table) {
				s.streams.record(a.ref, a.before, a.after, s.now())
			}
		}
		return txnOutcome{}
	}
	if err := s.restore(actions, tried); err != nil {
		return txnOutcome{failure: internalFailure(err)}
	}
	return txnOutcome{reasons: reasons}
}

// abandon restores the items tried and returns the failure to answer.
func (s *Server) abandon(actions []txnAction, tried []int, failure *httptest.ResponseRecorder) txnOutcome {
	if err := s.restore(actions, tried); err != nil {
		return txnOutcome{failure: internalFailure(err)}
	}
	return txnOutcome{failure: failure}
}

// image reads an item from minidyn as it is now (nil if it does not
// exist), or returns minidyn's refusal to read it. The apply lock is held.
func (s *Server) image(ref itemRef) (attrs, *httptest.ResponseRecorder) {
	body, err := json.Marshal(map[string]any{"TableName": ref.table, "Key": ref.key, "ConsistentRead": true})
	if err != nil {
		return nil, internalFailure(fmt.Errorf("localdb: encode GetItem: %w", err))
	}
	rec := serveRaw(s.engine, "GetItem", body)
	if rec.Code != http.StatusOK {
		return nil, rec
	}
	var out struct{ Item attrs }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		return nil, internalFailure(fmt.Errorf("localdb: decode GetItem: %w", err))
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// request returns the single-item request that applies the action (see
// the top of this file). ReturnValuesOnConditionCheckFailure is left out:
// the server reports the item from its image. An Update asks for its new
// image, to charge its capacity.
func (a *txnAction) request() (op string, body []byte, err error) {
	m := maps.Clone(a.members)
	delete(m, "ReturnValuesOnConditionCheckFailure")
	switch a.kind {
	case actPut:
		op = "PutItem"
	case actUpdate:
		op = "UpdateItem"
		m["ReturnValues"] = json.RawMessage(`"ALL_NEW"`) // for its capacity
	case actDelete:
		op = "DeleteItem"
	case actConditionCheck:
		op = "DeleteItem"
		if a.before != nil {
			op = "PutItem"
			delete(m, "Key")
			if m["Item"], err = json.Marshal(a.before); err != nil {
				return "", nil, fmt.Errorf("localdb: encode %s image: %w", a.kind, err)
			}
		}
	}
	if body, err = json.Marshal(m); err != nil {
		return "", nil, fmt.Errorf("localdb: encode %s: %w", a.kind, err)
	}
	return op, body, nil
}

// updatedImage returns the item an UpdateItem asked for ReturnValues
// ALL_NEW answered with body, nil if unknown.
func updatedImage(body []byte) attrs {
	var out struct{ Attributes attrs }
	if json.Unmarshal(body, &out) != nil {
		return nil
	}
	return out.Attributes
}

// putImage returns the item a Put action writes.
func putImage(members map[string]json.RawMessage) attrs {
	var item attrs
	if json.Unmarshal(members["Item"], &item) != nil {
		return nil
	}
	return item
}

// conditionFailure is the cancellation reason of an action whose
// condition failed: with the item as it was if the action asked for it
// ("Use ReturnValuesOnConditionCheckFailure to get the item attributes if
// the ... condition fails", valid values NONE and ALL_OLD,
// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Put.html)
// and the item exists.
func (a *txnAction) conditionFailure() cancellationReason {
	r := cancellationReason{Code: "ConditionalCheckFailed", Message: msgConditionFailed}
	var rv string
	if raw, ok := a.members["ReturnValuesOnConditionCheckFailure"]; ok && json.Unmarshal(raw, &rv) == nil && rv == "ALL_OLD" {
		r.Item = a.before
	}
	return r
}

// restore puts back the image of the items of the actions tried, last
// first. The apply lock is held.
func (s *Server) restore(actions []txnAction, tried []int) error {
	var errs []error
	for _, i := range slices.Backward(tried) {
		a := actions[i]
		var err error
		if a.before != nil {
			err = call(s.engine, "PutItem", map[string]any{"TableName": a.ref.table, "Item": a.before}, nil)
		} else {
			err = call(s.engine, "DeleteItem", map[string]any{"TableName": a.ref.table, "Key": a.ref.key}, nil)
		}
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("localdb: roll back TransactWriteItems: %w", err)
	}
	return nil
}

// internalFailure is an InternalServerError answer for a fault of the
// server's own (which should not happen): the client sees it, and its
// retryer retries.
func internalFailure(err error) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Type", "application/x-amz-json-1.0")
	rec.WriteHeader(http.StatusInternalServerError)
	b, _ := json.Marshal(errorBody{Type: typePrefix + "InternalServerError", Message: err.Error()})
	rec.Write(b)
	return rec
}

// writeTransactionApplied answers a TransactWriteItems that was applied,
// as minidyn did: an empty object (the server returns no
// ConsumedCapacity nor ItemCollectionMetrics).
func writeTransactionApplied(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte("{}"))
}
