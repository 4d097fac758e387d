package localdb

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"
)

// DynamoDB Streams, as a table with a StreamSpecification has it
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html):
// every write that changes an item appends one record (INSERT, MODIFY or
// REMOVE, with the images the StreamViewType asks for) to one shard of the
// table's stream, in the order the writes were applied; a write that changes
// nothing appends none ("If you perform a PutItem or UpdateItem operation
// that does not change any data in an item, DynamoDB Streams does not write
// a stream record for that operation"); all the records of one item go to
// one shard, in order. A transaction's records appear once it is applied,
// one per item it wrote.
//
// The server serves the Streams API (ListStreams, DescribeStream,
// GetShardIterator, GetRecords; target prefix DynamoDBStreams_20120810) on
// the same endpoint, so that the real aws-sdk-go-v2 dynamodbstreams client
// reads it, as Lambda's event source mapping reads a real stream. A table's
// stream has StreamShards shards, chosen by the hash of the item's
// partition key (a real stream has one per partition, and splits them over
// time; this one keeps them). Records are kept for the server's lifetime
// (DynamoDB keeps them 24 hours), and iterators do not expire.

// StreamShards is how many shards a table's stream has.
const StreamShards = 2

// streamsTarget is the X-Amz-Target prefix of the Streams API.
const streamsTarget = "DynamoDBStreams_20120810."

// streams holds the streams of the tables that have one.
type streams struct {
	mu      sync.Mutex
	byTable map[string]*tableStream
	byARN   map[string]*tableStream
	seq     uint64
}

// tableStream is one table's stream.
type tableStream struct {
	table, arn, label, viewType string
	created                     time.Time
	keys                        []string
	shards                      [StreamShards]streamShard
}

// streamShard is one shard of a stream: its id and its records.
type streamShard struct {
	id      string
	first   string // the sequence number of its first record
	records []json.RawMessage
}

func newStreams() *streams {
	return &streams{byTable: map[string]*tableStream{}, byARN: map[string]*tableStream{}}
}

// enable starts a stream for a table (replacing any it had), after a
// CreateTable or UpdateTable whose StreamSpecification enables one.
func (st *streams) enable(table, viewType string, keys []string, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if old := st.byTable[table]; old != nil && old.viewType == viewType {
		return
	}
	label := now.UTC().Format("2006-01-02T15:04:05.000")
	ts := &tableStream{table: table, viewType: viewType, created: now, keys: keys, label: label,
		arn: "arn:aws:dynamodb:us-east-1:000000000000:table/" + table + "/stream/" + label}
	var b [4]byte
	for i := range ts.shards {
		rand.Read(b[:])
		ts.shards[i].id = fmt.Sprintf("shardId-%020d-%s", now.UnixMilli(), hex.EncodeToString(b[:]))
	}
	st.byTable[table] = ts
	st.byARN[ts.arn] = ts
}

// disable ends a table's stream (UpdateTable turning it off, DeleteTable).
// Its records stay readable.
func (st *streams) disable(table string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.byTable, table)
}

// on reports whether a table has a stream.
func (st *streams) on(table string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.byTable[table] != nil
}

// learnStream enables or disables a table's stream from the
// StreamSpecification of a CreateTable or UpdateTable request.
func (s *Server) learnStream(op string, body []byte) {
	var req struct {
		TableName           string
		StreamSpecification *struct {
			StreamEnabled  bool
			StreamViewType string
		}
	}
	if json.Unmarshal(body, &req) != nil || req.TableName == "" {
		return
	}
	switch spec := req.StreamSpecification; {
	case op == "DeleteTable":
		s.streams.disable(req.TableName)
	case spec == nil:
	case spec.StreamEnabled:
		view := spec.StreamViewType
		if view == "" {
			view = "NEW_AND_OLD_IMAGES"
		}
		sc, _ := s.schema(req.TableName)
		s.streams.enable(req.TableName, view, sc.keys, s.now())
	default:
		s.streams.disable(req.TableName)
	}
}

// streamed reports whether any of refs is an item of a table with a stream.
func (s *Server) streamed(refs []itemRef) bool {
	for _, r := range refs {
		if s.streams.on(r.table) {
			return true
		}
	}
	return false
}

// serveStreamed has minidyn serve a write of the items refs, holding the
// apply lock so that the images read before and after it are its own, and
// appends a stream record for each item it changed.
func (s *Server) serveStreamed(w http.ResponseWriter, r *http.Request, refs []itemRef) (int, []byte) {
	s.applying.Lock()
	defer s.applying.Unlock()
	before := make([]attrs, len(refs))
	for i, ref := range refs {
		before[i], _ = s.image(ref)
	}
	status, body := serveCaptured(s.engine, w, r)
	if status != http.StatusOK {
		return status, body
	}
	// A PutItem's new image is its item, a DeleteItem's none; others are
	// read back.
	target := r.Header.Get("X-Amz-Target")
	var put struct{ Item attrs }
	isPut := len(refs) == 1 && strings.HasSuffix(target, ".PutItem") && decodeBody(r, &put)
	isDelete := len(refs) == 1 && strings.HasSuffix(target, ".DeleteItem")
	for i, ref := range refs {
		var after attrs
		switch {
		case isPut:
			after = put.Item
		case isDelete:
		default:
			after, _ = s.image(ref)
		}
		s.streams.record(ref, before[i], after, s.now())
	}
	return status, body
}

// streamRecord is a record as GetRecords answers it.
type streamRecord struct {
	AwsRegion    string       `json:"awsRegion"`
	Dynamodb     streamChange `json:"dynamodb"`
	EventID      string       `json:"eventID"`
	EventName    string       `json:"eventName"`
	EventSource  string       `json:"eventSource"`
	EventVersion string       `json:"eventVersion"`
}

type streamChange struct {
	ApproximateCreationDateTime float64 `json:"ApproximateCreationDateTime"`
	Keys                        attrs   `json:"Keys"`
	NewImage                    attrs   `json:"NewImage,omitempty"`
	OldImage                    attrs   `json:"OldImage,omitempty"`
	SequenceNumber              string  `json:"SequenceNumber"`
	SizeBytes                   int     `json:"SizeBytes"`
	StreamViewType              string  `json:"StreamViewType"`
}

// record appends the record of a write that turned old into new (nil for
// an absent item) to its table's stream, if it has one and the write
// changed the item. The apply lock is held, so records are in apply order.
func (st *streams) record(ref itemRef, old, new attrs, now time.Time) {
	if (old == nil && new == nil) || sameItem(old, new) {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	ts := st.byTable[ref.table]
	if ts == nil {
		return
	}
	name := "MODIFY"
	switch {
	case old == nil:
		name = "INSERT"
	case new == nil:
		name = "REMOVE"
	}
	st.seq++
	ch := streamChange{
		ApproximateCreationDateTime: float64(now.Unix()),
		Keys:                        attrs{},
		SequenceNumber:              fmt.Sprintf("4%020d", st.seq),
		StreamViewType:              ts.viewType,
	}
	for k, v := range ref.key {
		ch.Keys[k] = v
	}
	if ts.viewType == "NEW_IMAGE" || ts.viewType == "NEW_AND_OLD_IMAGES" {
		ch.NewImage = new
	}
	if ts.viewType == "OLD_IMAGE" || ts.viewType == "NEW_AND_OLD_IMAGES" {
		ch.OldImage = old
	}
	ch.SizeBytes = itemSize(ch.Keys) + itemSize(ch.NewImage) + itemSize(ch.OldImage)
	var id [16]byte
	rand.Read(id[:])
	raw, err := json.Marshal(streamRecord{
		AwsRegion: "us-east-1", Dynamodb: ch, EventID: hex.EncodeToString(id[:]),
		EventName: name, EventSource: "aws:dynamodb", EventVersion: "1.1",
	})
	if err != nil {
		return
	}
	sh := &ts.shards[shardOf(ts, ref.key)]
	if len(sh.records) == 0 {
		sh.first = ch.SequenceNumber
	}
	sh.records = append(sh.records, raw)
}

// shardOf picks the shard of an item by its partition key.
func shardOf(ts *tableStream, key attrs) int {
	h := fnv.New32a()
	if len(ts.keys) > 0 {
		h.Write([]byte(canonical(key[ts.keys[0]])))
	}
	return int(h.Sum32() % StreamShards)
}

// sameItem reports whether two images hold the same attributes and values.
func sameItem(a, b attrs) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok {
			return false
		}
		var x, y any
		if json.Unmarshal(v, &x) != nil || json.Unmarshal(w, &y) != nil || !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

// serveStreams serves an operation of the Streams API.
func (s *Server) serveStreams(w http.ResponseWriter, r *http.Request, op string) {
	body, err := readBody(r)
	if err != nil {
		writeValidation(w, err.Error())
		return
	}
	var out any
	switch op {
	case "ListStreams":
		out, err = s.streams.list(body)
	case "DescribeStream":
		out, err = s.streams.describe(body)
	case "GetShardIterator":
		out, err = s.streams.iterator(body)
	case "GetRecords":
		out, err = s.streams.records(body)
	default:
		writeError(w, errorBody{Type: "com.amazon.coral.service#UnknownOperationException", Message: "unknown operation " + op})
		return
	}
	if err != nil {
		if e, ok := err.(streamError); ok {
			writeError(w, errorBody{Type: typePrefix + e.typ, Message: e.msg})
			return
		}
		writeValidation(w, err.Error())
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		writeInternalError(w)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Write(b)
}

// streamError is an error the Streams API answers with its own type.
type streamError struct{ typ, msg string }

func (e streamError) Error() string { return e.typ + ": " + e.msg }

func notFound(what string) error {
	return streamError{typ: "ResourceNotFoundException", msg: "Requested resource not found: " + what}
}

type streamSummary struct {
	StreamArn, StreamLabel, TableName string
}

func (st *streams) list(body []byte) (any, error) {
	var req struct{ TableName string }
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("ListStreams: %w", err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	out := struct{ Streams []streamSummary }{Streams: []streamSummary{}}
	for _, ts := range st.byTable {
		if req.TableName == "" || req.TableName == ts.table {
			out.Streams = append(out.Streams, streamSummary{ts.arn, ts.label, ts.table})
		}
	}
	return out, nil
}

// stream finds a stream by its ARN. st.mu is held.
func (st *streams) stream(arn string) (*tableStream, error) {
	ts := st.byARN[arn]
	if ts == nil {
		return nil, notFound("Stream: " + arn + " not found")
	}
	return ts, nil
}

func (st *streams) describe(body []byte) (any, error) {
	var req struct{ StreamArn string }
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("DescribeStream: %w", err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	ts, err := st.stream(req.StreamArn)
	if err != nil {
		return nil, err
	}
	type rng struct {
		StartingSequenceNumber string `json:",omitempty"`
	}
	type shard struct {
		ShardId             string
		SequenceNumberRange rng
	}
	type keyElem struct{ AttributeName, KeyType string }
	d := struct {
		StreamArn, StreamLabel, StreamStatus, StreamViewType, TableName string
		CreationRequestDateTime                                         float64
		KeySchema                                                       []keyElem
		Shards                                                          []shard
	}{StreamArn: ts.arn, StreamLabel: ts.label, StreamStatus: "ENABLED", StreamViewType: ts.viewType,
		TableName: ts.table, CreationRequestDateTime: float64(ts.created.Unix())}
	if st.byTable[ts.table] != ts {
		d.StreamStatus = "DISABLED"
	}
	for i, k := range ts.keys {
		kt := "HASH"
		if i > 0 {
			kt = "RANGE"
		}
		d.KeySchema = append(d.KeySchema, keyElem{k, kt})
	}
	for _, sh := range ts.shards {
		d.Shards = append(d.Shards, shard{ShardId: sh.id, SequenceNumberRange: rng{sh.first}})
	}
	return struct{ StreamDescription any }{d}, nil
}

// shardIterator is what an iterator encodes: a position in a shard.
type shardIterator struct {
	ARN   string `json:"a"`
	Shard string `json:"s"`
	Pos   int    `json:"p"`
}

func (it shardIterator) encode() string {
	b, _ := json.Marshal(it)
	return base64.RawURLEncoding.EncodeToString(b)
}

// shard finds a shard of a stream by id. st.mu is held.
func (ts *tableStream) shard(id string) (*streamShard, error) {
	for i := range ts.shards {
		if ts.shards[i].id == id {
			return &ts.shards[i], nil
		}
	}
	return nil, notFound("Shard: " + id + " in stream " + ts.arn)
}

func (st *streams) iterator(body []byte) (any, error) {
	var req struct {
		StreamArn, ShardId, ShardIteratorType, SequenceNumber string
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("GetShardIterator: %w", err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	ts, err := st.stream(req.StreamArn)
	if err != nil {
		return nil, err
	}
	sh, err := ts.shard(req.ShardId)
	if err != nil {
		return nil, err
	}
	it := shardIterator{ARN: ts.arn, Shard: sh.id}
	switch req.ShardIteratorType {
	case "TRIM_HORIZON":
	case "LATEST":
		it.Pos = len(sh.records)
	case "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER":
		i := sh.find(req.SequenceNumber)
		if i < 0 {
			return nil, fmt.Errorf("GetShardIterator: sequence number %q is not in shard %s", req.SequenceNumber, sh.id)
		}
		it.Pos = i
		if req.ShardIteratorType == "AFTER_SEQUENCE_NUMBER" {
			it.Pos++
		}
	default:
		return nil, fmt.Errorf("GetShardIterator: ShardIteratorType %q is not one of TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER", req.ShardIteratorType)
	}
	return struct{ ShardIterator string }{it.encode()}, nil
}

// find returns the index of the record with a sequence number, -1 if none.
func (sh *streamShard) find(seq string) int {
	for i, raw := range sh.records {
		var r struct {
			Dynamodb struct{ SequenceNumber string }
		}
		if json.Unmarshal(raw, &r) == nil && r.Dynamodb.SequenceNumber == seq {
			return i
		}
	}
	return -1
}

// maxRecords is the most records one GetRecords returns, and its default.
const maxRecords = 1000

func (st *streams) records(body []byte) (any, error) {
	var req struct {
		ShardIterator string
		Limit         int
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("GetRecords: %w", err)
	}
	limit := req.Limit
	if limit <= 0 || limit > maxRecords {
		limit = maxRecords
	}
	raw, err := base64.RawURLEncoding.DecodeString(req.ShardIterator)
	var it shardIterator
	if err != nil || json.Unmarshal(raw, &it) != nil || it.Pos < 0 {
		return nil, fmt.Errorf("GetRecords: invalid ShardIterator")
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	ts, err := st.stream(it.ARN)
	if err != nil {
		return nil, err
	}
	sh, err := ts.shard(it.Shard)
	if err != nil {
		return nil, err
	}
	end := min(len(sh.records), it.Pos+limit)
	recs := []json.RawMessage{}
	if it.Pos < end {
		recs = append(recs, sh.records[it.Pos:end]...)
	}
	next := shardIterator{ARN: it.ARN, Shard: it.Shard, Pos: max(end, it.Pos)}
	return struct {
		Records           []json.RawMessage
		NextShardIterator string
	}{recs, next.encode()}, nil
}
