package localdb

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
)

// Consumed capacity is counted as DynamoDB on-demand bills it, in request
// units ("Read/write capacity mode", on-demand,
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadWriteCapacityMode.html#HowItWorks.requests;
// https://aws.amazon.com/dynamodb/pricing/on-demand/):
//
//   - "One write request unit represents one write for an item up to 1 KB
//     in size", and "Transactional write requests require 2 write request
//     units to perform one write for items up to 1 KB".
//   - "One read request unit represents one strongly consistent read
//     request, or two eventually consistent read requests, for an item up
//     to 4 KB in size. Transactional read requests require 2 read request
//     units to perform one read for items up to 4 KB."
//
// How each operation sizes what it reads or writes is in "DynamoDB read
// and write operations"
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html,
// formerly "Item sizes and capacity unit consumption",
// https://github.com/awsdocs/amazon-dynamodb-developer-guide/blob/master/doc_source/CapacityUnitCalculations.md):
//
//   - PutItem: "If an item with the same primary key exists in the table,
//     the operation replaces the item. For calculating provisioned
//     throughput consumption, the item size that matters is the larger of
//     the two." UpdateItem: "DynamoDB considers the size of the item as it
//     appears before and after the update. The provisioned throughput
//     consumed reflects the larger of these item sizes." DeleteItem: "based
//     on the size of the deleted item". Each rounded up to the next 1 KB.
//     BatchWriteItem: each item as its own PutItem or DeleteItem.
//   - A conditional write whose condition "evaluates to false" still
//     consumes write capacity: "If the item exists, the number of write
//     capacity units consumed depends on the size of the item"; "If the
//     item does not exist, DynamoDB will consume one write capacity unit".
//     The current page is reported to say "the larger of the existing or
//     new item size" (https://expert.ftl2.com/public/aws-expert/belief/dynamodb-failed-conditional-writes-consume-wcus;
//     its own text was not at hand), which is what is charged here: the
//     new item is known for a Put only (an Update's would-be item is not
//     computed), and an absent item with no new one costs the minimum, 1.
//   - GetItem: the item's size rounded up to the next 4 KB; "If you
//     perform a read operation on an item that does not exist, DynamoDB
//     will still consume provisioned read throughput": the minimum.
//     Requesting "a subset of attributes ... has no impact on the item size
//     calculations". BatchGetItem: "each item in the batch as an individual
//     GetItem request" (ConsistentRead is per table).
//   - Query: "All of the items returned are treated as a single read
//     operation, where DynamoDB computes the total size of all items and
//     then rounds up to the next 4 KB boundary"; a filter does not reduce
//     it ("A filter expression is applied after a Query finishes, but
//     before the results are returned. Therefore, a Query consumes the same
//     amount of read capacity, regardless of whether a filter expression is
//     present", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.FilterExpression.html).
//     Scan: "DynamoDB considers the size of the items that are evaluated,
//     not the size of the items returned". Reads of a global secondary
//     index are eventually consistent, so they cost half.
//   - Transactions: "DynamoDB performs two underlying reads or writes of
//     every item in the transaction: one to prepare the transaction and one
//     to commit the transaction" ("Capacity management for transactions",
//     https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-capacity-handling),
//     each sized as its single-item counterpart. A ConditionCheck is
//     charged as a write (2 units per KB of the item), as real DynamoDB
//     reports it (https://github.com/paritysuite/dynamodb-conformance/pull/67).
//     A replayed ClientRequestToken returns "the number of read capacity
//     units consumed in reading the item" (same page, "Idempotency"):
//     a transactional read of each item. The SDK's retries of
//     TransactionInProgressException consume read units too ("Plan for the
//     additional read-capacity units (RCUs) that these retries consume"),
//     charged the same way.
//
// Not documented, so assumed here: a TransactWriteItems cancelled for a
// failed condition or for a conflicting transaction, and a single write
// refused with TransactionConflictException, are charged like a failed
// conditional write (a transaction's items at 2 units per KB): DynamoDB
// has prepared or read the items by then, and charges the single-write
// analogue. Real DynamoDB leaves ConsumedCapacity out of such a cancelled
// transaction's answer, which says nothing about the bill. Charging them
// makes the count an upper bound; Stats.TxnConflicts and WriteConflicts
// count the conflicts charged this way. Throttled requests (the write budget, or
// Throttle) consume nothing, nor do validation errors, nor injected
// InternalServerErrors; a request whose answer LoseAnswerNext loses was
// served, and is charged.
//
// Not counted: the index writes. "The total provisioned throughput cost
// for a write consists of the sum of write capacity units consumed by
// writing to the base table and those consumed by updating the global
// secondary indexes": one write to put an item into an index or take it
// out, or to update its projected attributes there, and "If an update to
// the table changes the value of an indexed key attribute (from A to B),
// two writes are required"
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.ThroughputConsiderations.Writes).
// Counting them needs each index's key schema and projection, and the
// items' images rather than their sizes.

// Request unit sizes.
const (
	writeUnitBytes = 1024 // a write request unit writes up to 1 KB
	readUnitBytes  = 4096 // a read request unit reads up to 4 KB
)

// Half request units per block (1 KB written, 4 KB read), by kind of
// request. Capacity is counted in half-units so that eventually consistent
// reads add up exactly.
const (
	halvesWrite    int64 = 2 // a standard write: 1 unit per KB
	halvesTxnWrite int64 = 4 // a transaction's write: 2 units per KB
	halvesEventual int64 = 1 // an eventually consistent read: 0.5 unit per 4 KB
	halvesStrong   int64 = 2 // a strongly consistent read: 1 unit per 4 KB
	halvesTxnRead  int64 = 4 // a transaction's read: 2 units per 4 KB
)

// blocks returns how many units of unit bytes size takes: rounded up, at
// least one.
func blocks(size, unit int) int64 {
	return max(int64((size+unit-1)/unit), 1)
}

// writeHalves is what writing an item of size bytes consumes, in halves.
func writeHalves(size int, perKB int64) int64 { return blocks(size, writeUnitBytes) * perKB }

// readHalves is what reading size bytes consumes, in halves.
func readHalves(size int, per4KB int64) int64 { return blocks(size, readUnitBytes) * per4KB }

// readRate returns the halves per 4 KB of a standard read.
func readRate(consistent bool) int64 {
	if consistent {
		return halvesStrong
	}
	return halvesEventual
}

func (s *Server) chargeWrite(halves int64) { s.stats.writeHalves.Add(halves) }
func (s *Server) chargeRead(halves int64)  { s.stats.readHalves.Add(halves) }

// Item sizes follow "DynamoDB item sizes and formats"
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html):
// the sum of the attributes' names (UTF-8 bytes) and values; a string's
// value is its UTF-8 bytes, a number's "(1 byte per two significant
// digits) + (1 byte)", a binary's raw bytes, a null or Boolean 1 byte; "An
// attribute of type List or Map requires 3 bytes of overhead, regardless
// of its contents", and each of its elements 1 byte more. Sets are the sum
// of their elements (the page gives them no overhead). The number rule is
// DynamoDB's own approximation.

// itemSize returns the size of an item in DynamoDB's JSON (0 for none).
func itemSize(item attrs) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueSize(v)
	}
	return n
}

// attrValue is an attribute value in DynamoDB's JSON.
type attrValue struct {
	S, N, B    *string
	SS, NS, BS []string
	M          map[string]json.RawMessage
	L          []json.RawMessage
	NULL, BOOL *bool
}

// valueSize returns the size of an attribute value; an undecodable one
// counts its JSON length.
func valueSize(raw json.RawMessage) int {
	var v attrValue
	if json.Unmarshal(raw, &v) != nil {
		return len(raw)
	}
	switch {
	case v.S != nil:
		return len(*v.S)
	case v.N != nil:
		return numberSize(*v.N)
	case v.B != nil:
		return binarySize(*v.B)
	case v.SS != nil:
		n := 0
		for _, e := range v.SS {
			n += len(e)
		}
		return n
	case v.NS != nil:
		n := 0
		for _, e := range v.NS {
			n += numberSize(e)
		}
		return n
	case v.BS != nil:
		n := 0
		for _, e := range v.BS {
			n += binarySize(e)
		}
		return n
	case v.M != nil:
		n := 3
		for name, e := range v.M {
			n += len(name) + valueSize(e) + 1
		}
		return n
	case v.L != nil:
		n := 3
		for _, e := range v.L {
			n += valueSize(e) + 1
		}
		return n
	case v.NULL != nil, v.BOOL != nil:
		return 1
	}
	return len(raw)
}

// numberSize returns the size of a number: one byte per two significant
// digits (leading and trailing zeroes trimmed, exponent aside), plus one.
func numberSize(num string) int {
	if i := strings.IndexAny(num, "eE"); i >= 0 {
		num = num[:i]
	}
	digits := strings.Replace(strings.TrimLeft(num, "+-"), ".", "", 1)
	digits = strings.TrimRight(strings.TrimLeft(digits, "0"), "0")
	return (len(digits)+1)/2 + 1
}

// binarySize returns the raw length of a base64-encoded binary value.
func binarySize(b64 string) int {
	if raw, err := base64.StdEncoding.DecodeString(b64); err == nil {
		return len(raw)
	}
	return len(strings.TrimRight(b64, "=")) * 3 / 4
}

// storedSize returns the size of an item as minidyn holds it now, 0 if it
// does not exist (or cannot be read).
func (s *Server) storedSize(table string, key attrs) int {
	var out struct{ Item attrs }
	in := map[string]any{"TableName": table, "Key": key, "ConsistentRead": true}
	if len(key) == 0 || call(s.mini, "GetItem", in, &out) != nil {
		return 0
	}
	return itemSize(out.Item)
}

// writeAction is an item that a write request writes or checks, as its
// capacity needs it.
type writeAction struct {
	ref    itemRef
	put    attrs // the item a Put writes; nil for the other actions
	update bool  // an Update, whose new image is read back once applied
	before int   // the item's size before the write, 0 if it did not exist
	// after is an Update's item size once applied, if known (0 if not: an
	// updated item is never empty).
	after int
}

// sizeBefore records the items' sizes before the write.
func (s *Server) sizeBefore(acts []writeAction) {
	for i := range acts {
		acts[i].before = s.storedSize(acts[i].ref.table, acts[i].ref.key)
	}
}

// chargeWrites charges the actions of a write at perKB halves per KB:
// each at the larger of its item before and after the write if applied,
// or, if it was refused (a failed condition, a conflict), at the larger of
// its item before and a Put's new item.
func (s *Server) chargeWrites(acts []writeAction, applied bool, perKB int64) {
	var halves int64
	for _, a := range acts {
		size := a.before
		if a.put != nil {
			size = max(size, itemSize(a.put))
		}
		if applied && a.update {
			after := a.after
			if after == 0 {
				after = s.storedSize(a.ref.table, a.ref.key)
			}
			size = max(size, after)
		}
		halves += writeHalves(size, perKB)
	}
	s.chargeWrite(halves)
}

// chargeOutcome charges a write request that minidyn answered with status
// and body: applied, or refused for a failed condition (which DynamoDB
// charges too). Any other answer consumed nothing.
func (s *Server) chargeOutcome(acts []writeAction, status int, body []byte, perKB int64) {
	switch {
	case status == http.StatusOK:
		s.chargeWrites(acts, true, perKB)
	case status == http.StatusBadRequest && conditionFailed(body):
		s.chargeWrites(acts, false, perKB)
	}
}

// conditionFailed reports whether an error answer is a failed condition:
// a ConditionalCheckFailedException, or a TransactionCanceledException
// with a ConditionalCheckFailed reason.
func conditionFailed(body []byte) bool {
	var e struct {
		Type                string `json:"__type"`
		CancellationReasons []struct{ Code string }
	}
	if json.Unmarshal(body, &e) != nil {
		return false
	}
	switch e.Type[strings.LastIndexByte(e.Type, '#')+1:] {
	case "ConditionalCheckFailedException":
		return true
	case "TransactionCanceledException":
		for _, r := range e.CancellationReasons {
			if r.Code == "ConditionalCheckFailed" {
				return true
			}
		}
	}
	return false
}

// chargeTransactionReads charges reading the items of a transaction, as
// a replayed token or a token still in progress does.
func (s *Server) chargeTransactionReads(req transactRequest) {
	acts, _ := s.transactionActions(req)
	var halves int64
	for _, a := range acts {
		halves += readHalves(s.storedSize(a.ref.table, a.ref.key), halvesTxnRead)
	}
	s.chargeRead(halves)
}

// projects reports whether a read asks for a subset of the attributes, so
// that its answer is smaller than the items it read.
func projects(projection *string, attributesToGet []string) bool {
	return projection != nil || len(attributesToGet) > 0
}

// serveCaptured has h serve a request, passing the answer on, and returns
// its status and body.
func serveCaptured(h http.Handler, w http.ResponseWriter, r *http.Request) (int, []byte) {
	aw := &answerWriter{ResponseWriter: w, status: http.StatusOK}
	h.ServeHTTP(aw, r)
	return aw.status, aw.body.Bytes()
}

// serveGetItem serves a GetItem, charging the item it read.
func (s *Server) serveGetItem(w http.ResponseWriter, r *http.Request) {
	var req struct {
		TableName            string
		Key                  attrs
		ConsistentRead       bool
		ProjectionExpression *string
		AttributesToGet      []string
	}
	if !decodeBody(r, &req) {
		s.mini.ServeHTTP(w, r)
		return
	}
	status, body := serveCaptured(s.mini, w, r)
	var out struct{ Item attrs }
	if status != http.StatusOK || json.Unmarshal(body, &out) != nil {
		return
	}
	size := itemSize(out.Item)
	if out.Item != nil && projects(req.ProjectionExpression, req.AttributesToGet) {
		size = s.storedSize(req.TableName, req.Key)
	}
	s.chargeRead(readHalves(size, readRate(req.ConsistentRead)))
}

// serveBatchGet serves a BatchGetItem, charging each key as a GetItem.
func (s *Server) serveBatchGet(w http.ResponseWriter, r *http.Request) {
	type keysAndAttributes struct {
		Keys                 []attrs
		ConsistentRead       bool
		ProjectionExpression *string
		AttributesToGet      []string
	}
	var req struct{ RequestItems map[string]keysAndAttributes }
	if !decodeBody(r, &req) {
		s.mini.ServeHTTP(w, r)
		return
	}
	status, body := serveCaptured(s.mini, w, r)
	var out struct {
		Responses       map[string][]attrs
		UnprocessedKeys map[string]keysAndAttributes
	}
	if status != http.StatusOK || json.Unmarshal(body, &out) != nil {
		return
	}
	var halves int64
	for table, ka := range req.RequestItems {
		rate := readRate(ka.ConsistentRead)
		if projects(ka.ProjectionExpression, ka.AttributesToGet) {
			for _, k := range ka.Keys { // unprocessed keys, never seen from minidyn, are charged too
				halves += readHalves(s.storedSize(table, k), rate)
			}
			continue
		}
		got := out.Responses[table]
		for _, it := range got {
			halves += readHalves(itemSize(it), rate)
		}
		if absent := len(ka.Keys) - len(got) - len(out.UnprocessedKeys[table].Keys); absent > 0 {
			halves += int64(absent) * readHalves(0, rate)
		}
	}
	s.chargeRead(halves)
}

// serveTransactGet serves a TransactGetItems, charging each item as a
// transactional read.
func (s *Server) serveTransactGet(w http.ResponseWriter, r *http.Request) {
	var req struct {
		TransactItems []struct {
			Get *struct {
				TableName            string
				Key                  attrs
				ProjectionExpression *string
			}
		}
	}
	if !decodeBody(r, &req) {
		s.mini.ServeHTTP(w, r)
		return
	}
	status, body := serveCaptured(s.mini, w, r)
	var out struct{ Responses []struct{ Item attrs } }
	if status != http.StatusOK || json.Unmarshal(body, &out) != nil {
		return
	}
	var halves int64
	for i, it := range req.TransactItems {
		if it.Get == nil {
			continue
		}
		var size int
		if i < len(out.Responses) && it.Get.ProjectionExpression == nil {
			size = itemSize(out.Responses[i].Item)
		} else {
			size = s.storedSize(it.Get.TableName, it.Get.Key)
		}
		halves += readHalves(size, halvesTxnRead)
	}
	s.chargeRead(halves)
}

// chargeQuery charges a Query or Scan (op) that h answered with body:
// the total size of the items it read, before any filter, at per4KB halves
// per 4 KB. When the request filters, projects or counts, its answer does
// not hold those items, so h serves it again without those parameters
// (after the fact: a write in between may change what it reads).
func (s *Server) chargeQuery(h http.Handler, op string, reqBody, body []byte, per4KB int64) {
	if bare, ok := unfiltered(reqBody); ok {
		rec := serveRaw(h, op, bare)
		if rec.Code == http.StatusOK {
			body = rec.Body.Bytes()
		}
	}
	var out struct{ Items []attrs }
	if json.Unmarshal(body, &out) != nil {
		return
	}
	total := 0
	for _, it := range out.Items {
		total += itemSize(it)
	}
	s.chargeRead(readHalves(total, per4KB))
}

// The parameters of a Query or Scan that filter, project or count what it
// read.
var narrowing = []string{"FilterExpression", "QueryFilter", "ScanFilter", "ConditionalOperator",
	"ProjectionExpression", "AttributesToGet", "Select"}

// unfiltered returns a Query or Scan body without its narrowing
// parameters, and the placeholders only they used; false if it has none
// (or cannot be decoded).
func unfiltered(body []byte) ([]byte, bool) {
	var req map[string]json.RawMessage
	if json.Unmarshal(body, &req) != nil || !hasAnyKey(req, narrowing...) {
		return nil, false
	}
	for _, k := range narrowing {
		delete(req, k)
	}
	delete(req, "ReturnConsumedCapacity")
	var keyCond string
	if raw, ok := req[exprKeyCondition]; ok && json.Unmarshal(raw, &keyCond) != nil {
		return nil, false
	}
	used := map[string]bool{}
	for _, p := range placeholders(keyCond) {
		used[p] = true
	}
	for _, param := range []string{"ExpressionAttributeNames", "ExpressionAttributeValues"} {
		var declared map[string]json.RawMessage
		if raw, ok := req[param]; !ok || json.Unmarshal(raw, &declared) != nil {
			continue
		}
		for k := range declared {
			if !used[k] {
				delete(declared, k)
			}
		}
		if len(declared) == 0 {
			delete(req, param)
			continue
		}
		raw, err := json.Marshal(declared)
		if err != nil {
			return nil, false
		}
		req[param] = raw
	}
	out, err := json.Marshal(req)
	if err != nil {
		return nil, false
	}
	return out, true
}
