package localdb

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"time"
)

// Request shapes: only what the server needs of each request.
type (
	itemRequest struct {
		TableName string
		Key       attrs
		Item      attrs // PutItem's
	}
	transactRequest struct {
		ClientRequestToken string
		TransactItems      []struct {
			ConditionCheck, Put, Update, Delete *itemRequest
		}
	}
	batchWriteRequest struct {
		RequestItems map[string][]struct {
			PutRequest    *struct{ Item attrs }
			DeleteRequest *struct{ Key attrs }
		}
	}
	readRequest struct {
		TableName      string
		IndexName      string
		ConsistentRead bool
	}
	tableRequest struct {
		TableName string
	}
)

// serveRealistic serves a request as DynamoDB would, with the behaviours
// minidyn lacks (see the package documentation), then hands it to minidyn.
// A request it cannot decode goes to minidyn as it is, to be answered there.
func (s *Server) serveRealistic(w http.ResponseWriter, r *http.Request, op string) {
	if msg := checkPlaceholders(r, op); msg != "" {
		writeValidation(w, msg)
		return
	}
	if op == "TransactWriteItems" {
		dropIdleDeclarations(r)
	}
	switch op {
	case "PutItem", "UpdateItem", "DeleteItem":
		s.serveWrite(w, r, op)
	case "TransactWriteItems":
		s.serveTransaction(w, r)
	case "BatchWriteItem":
		s.serveBatchWrite(w, r)
	case "GetItem":
		s.serveGetItem(w, r)
	case "BatchGetItem":
		s.serveBatchGet(w, r)
	case "TransactGetItems":
		s.serveTransactGet(w, r)
	case "Query", "Scan":
		s.serveRead(w, r, op)
	case "CreateTable", "UpdateTable", "DeleteTable":
		s.serveTableChange(w, r, op)
	default:
		s.mini.ServeHTTP(w, r)
	}
}

// serveWrite serves a PutItem, UpdateItem or DeleteItem (op), charging
// its capacity (see capacity.go).
func (s *Server) serveWrite(w http.ResponseWriter, r *http.Request, op string) {
	var req itemRequest
	if !decodeBody(r, &req) {
		s.mini.ServeHTTP(w, r)
		return
	}
	ref := s.refOf(req)
	acts := []writeAction{{ref: ref, put: req.Item, update: op == "UpdateItem"}}
	switch s.adm.admitWrite(ref.id, s.settings.Load().itemWCU, s.now()) {
	case conflicted:
		s.stats.writeConflicts.Add(1)
		s.sizeBefore(acts)
		s.chargeWrites(acts, false, halvesWrite)
		writeTransactionConflict(w)
		return
	case throttled:
		s.stats.throttles.Add(1)
		writeThrottling(w, r, ref.table)
		return
	}
	s.sizeBefore(acts)
	status, body := s.forwardWrites(w, r, []itemRef{ref})
	s.chargeOutcome(acts, status, body, halvesWrite)
}

// serveTransaction serves a TransactWriteItems, idempotently if it has a
// ClientRequestToken (see idempotency.go). One that cannot be decoded, or
// has no items, or an item without exactly one action, goes to minidyn's
// own TransactWriteItems, to be answered there.
func (s *Server) serveTransaction(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req transactRequest
	if !decodeBody(r, &req) || !req.wellFormed() {
		s.mini.ServeHTTP(w, r)
		return
	}
	if req.ClientRequestToken != "" {
		s.serveIdempotent(w, r, req, start)
		return
	}
	s.runTransaction(w, r, req, start)
}

// runTransaction runs a TransactWriteItems that arrived at start: it
// refuses one naming an item twice, holds its items until TxnLatency has
// passed (so its conditions are evaluated at its end), then applies it
// (see transact.go), then lets them go. Transactions on different items
// wait side by side; only their apply phases, some microseconds long, take
// turns.
//
// It charges the transaction's capacity (see capacity.go), from the items'
// images read while it applies them.
func (s *Server) runTransaction(w http.ResponseWriter, r *http.Request, req transactRequest, start time.Time) {
	acts, writes := s.transactionActions(req)
	if sameItemTwice(acts) {
		writeValidation(w, msgSameItem)
		return
	}
	body, err := readBody(r)
	var actions []txnAction
	if err == nil {
		actions, err = txnActions(body, acts)
	}
	if err != nil {
		copyAnswer(w, internalFailure(err))
		return
	}
	ids := make([]string, len(acts))
	for i, a := range acts {
		ids[i] = a.ref.id
	}
	cfg := s.settings.Load()
	hold := cfg.txnLatency > 0
	if v := s.adm.admitTxn(ids, hold, cfg.itemWCU, s.now()); v != nil {
		if s.countRefusal(v) == conflicted {
			s.sizeBefore(acts)
			s.chargeWrites(acts, false, halvesTxnWrite)
		}
		writeCancelled(w, v)
		return
	}
	if hold {
		defer s.adm.release(ids)
	}
	s.waitTxnLatency(start)
	s.beginWrites(writes)
	out := s.applyTransaction(actions, acts)
	applied := out.reasons == nil && out.failure == nil
	s.index.endWrites(writes, applied, s.now())
	switch {
	case applied:
		writeTransactionApplied(w)
		s.chargeWrites(acts, true, halvesTxnWrite)
	case out.reasons != nil:
		writeCancelledReasons(w, out.reasons)
		s.chargeWrites(acts, false, halvesTxnWrite)
	default:
		copyAnswer(w, out.failure)
	}
}

// transactionActions lists the items of a transaction's actions in its
// order, and those it writes (all but the ConditionChecks').
func (s *Server) transactionActions(req transactRequest) (acts []writeAction, writes []itemRef) {
	for _, it := range req.TransactItems {
		if it.ConditionCheck != nil {
			acts = append(acts, writeAction{ref: s.refOf(*it.ConditionCheck)})
		}
		for _, op := range []*itemRequest{it.Put, it.Update, it.Delete} {
			if op != nil {
				a := writeAction{ref: s.refOf(*op), put: op.Item, update: op == it.Update}
				acts = append(acts, a)
				writes = append(writes, a.ref)
			}
		}
	}
	return acts, writes
}

// countRefusal counts a cancelled transaction in Stats, and returns why it
// was cancelled.
func (s *Server) countRefusal(verdicts []verdict) verdict {
	for _, v := range verdicts {
		switch v {
		case conflicted:
			s.stats.txnConflicts.Add(1)
			return v
		case throttled:
			s.stats.throttles.Add(1)
			return v
		}
	}
	return admitted
}

// waitTxnLatency waits until TxnLatency has passed since start, following
// changes of the setting, or until the server closes.
func (s *Server) waitTxnLatency(start time.Time) {
	for {
		cfg := s.settings.Load()
		d := time.Until(start.Add(cfg.txnLatency))
		if d <= 0 {
			return
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
			return
		case <-cfg.changed:
			t.Stop()
		case <-s.closed:
			t.Stop()
			return
		}
	}
}

// serveBatchWrite serves a BatchWriteItem. Only the index lag applies to
// it: neither holds nor budgets (the project does not use it). Its items
// are charged as single writes (minidyn leaves none unprocessed).
func (s *Server) serveBatchWrite(w http.ResponseWriter, r *http.Request) {
	var req batchWriteRequest
	if !decodeBody(r, &req) {
		s.mini.ServeHTTP(w, r)
		return
	}
	var writes []itemRef
	var acts []writeAction
	for table, reqs := range req.RequestItems {
		for _, wr := range reqs {
			var a writeAction
			switch {
			case wr.PutRequest != nil:
				a = writeAction{ref: s.refOf(itemRequest{TableName: table, Item: wr.PutRequest.Item}), put: wr.PutRequest.Item}
			case wr.DeleteRequest != nil:
				a = writeAction{ref: newItemRef(table, wr.DeleteRequest.Key)}
			default:
				continue
			}
			writes = append(writes, a.ref)
			acts = append(acts, a)
		}
	}
	s.sizeBefore(acts)
	if status, _ := s.forwardWrites(w, r, writes); status == http.StatusOK {
		s.chargeWrites(acts, true, halvesWrite)
	}
}

// forwardWrites has minidyn serve a request writing the items refs,
// tracking them for the index lag, and returns minidyn's status and body.
func (s *Server) forwardWrites(w http.ResponseWriter, r *http.Request, refs []itemRef) (int, []byte) {
	s.beginWrites(refs)
	var status int
	var body []byte
	if s.streamed(refs) {
		status, body = s.serveStreamed(w, r, refs)
	} else {
		status, body = serveCaptured(s.mini, w, r)
	}
	s.index.endWrites(refs, status == http.StatusOK, s.now())
	return status, body
}

// refOf names the item a request (or a transaction's action) writes.
func (s *Server) refOf(req itemRequest) itemRef {
	key := req.Key
	if len(key) == 0 {
		key = s.keyOf(req.TableName, req.Item)
	}
	return newItemRef(req.TableName, key)
}

// serveRead serves a Query or a Scan. On a global secondary index it
// answers from the shadow, which lags behind the table, and refuses
// ConsistentRead as DynamoDB does ("Strongly consistent reads are only
// supported on tables and local secondary indexes",
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html).
// minidyn serves the table and its local secondary indexes, strongly
// consistent.
//
// It charges the items read (see capacity.go); reads of a global secondary
// index are eventually consistent, even where ConsistentRead is accepted.
func (s *Server) serveRead(w http.ResponseWriter, r *http.Request, op string) {
	body, err := readBody(r)
	var req readRequest
	if err != nil || json.Unmarshal(body, &req) != nil {
		s.mini.ServeHTTP(w, r)
		return
	}
	h, consistent := http.Handler(s.mini), req.ConsistentRead
	if req.IndexName != "" {
		if sc, ok := s.schema(req.TableName); ok && sc.gsis[req.IndexName] {
			consistent = false
			s.syncTable(req.TableName)
			if s.settings.Load().indexLag > 0 {
				if req.ConsistentRead {
					writeValidation(w, msgConsistentGSI)
					return
				}
				h = s.shadow
			}
		}
	}
	if status, answer := serveCaptured(h, w, r); status == http.StatusOK {
		s.chargeQuery(h, op, body, answer, readRate(consistent))
	}
}

// serveTableChange serves a CreateTable, UpdateTable or DeleteTable, and
// does the same to the shadow before answering.
func (s *Server) serveTableChange(w http.ResponseWriter, r *http.Request, op string) {
	body, err := readBody(r)
	if err != nil {
		s.mini.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	s.mini.ServeHTTP(rec, r)
	if rec.Code == http.StatusOK {
		var req tableRequest
		if json.Unmarshal(body, &req) == nil {
			s.forgetSchema(req.TableName)
			if op == "CreateTable" {
				// Learn the schema from the request: minidyn's DescribeTable
				// reads the table without its lock, racing with writes.
				s.learnSchema(body)
			}
			s.learnStream(op, body)
			if op == "DeleteTable" {
				s.index.dropTable(req.TableName)
			}
		}
		serveRaw(s.shadow, op, body)
	}
	copyAnswer(w, rec)
}
