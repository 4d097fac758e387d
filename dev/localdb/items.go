package localdb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
)

// attrs is an item or a key in DynamoDB's JSON, each attribute value kept
// as it came so that it passes through unchanged.
type attrs = map[string]json.RawMessage

// itemRef names one item: its table and key.
type itemRef struct {
	table string
	key   attrs
	// id is the table and key in a canonical form, for maps.
	id string
}

func newItemRef(table string, key attrs) itemRef {
	var b strings.Builder
	b.WriteString(table)
	for _, name := range slices.Sorted(maps.Keys(key)) {
		b.WriteByte(0)
		b.WriteString(name)
		b.WriteByte(0)
		b.WriteString(canonical(key[name]))
	}
	return itemRef{table: table, key: key, id: b.String()}
}

// canonical re-encodes an attribute value so that two spellings of one
// value compare equal.
func canonical(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return string(raw)
	}
	return string(b)
}

// tableSchema is what the server needs to know of a table.
type tableSchema struct {
	keys []string        // the key attributes: partition key, sort key
	gsis map[string]bool // the global secondary indexes, by name
	// gsiKeys are the key attributes of the global secondary indexes; an
	// item with none of them is in no such index.
	gsiKeys []string
}

// schemaCache holds the tables' schemas, learnt from minidyn.
type schemaCache struct {
	mu      sync.Mutex
	byTable map[string]tableSchema
}

// schema returns a table's schema, asking minidyn (DescribeTable) the
// first time; false if minidyn does not know the table.
func (s *Server) schema(table string) (tableSchema, bool) {
	s.schemas.mu.Lock()
	sc, ok := s.schemas.byTable[table]
	s.schemas.mu.Unlock()
	if ok {
		return sc, true
	}
	var out struct {
		Table struct {
			KeySchema              []struct{ AttributeName string }
			GlobalSecondaryIndexes []struct {
				IndexName string
				KeySchema []struct{ AttributeName string }
			}
		}
	}
	if err := call(s.mini, "DescribeTable", map[string]string{"TableName": table}, &out); err != nil {
		return tableSchema{}, false
	}
	sc = tableSchema{gsis: map[string]bool{}}
	for _, k := range out.Table.KeySchema {
		sc.keys = append(sc.keys, k.AttributeName)
	}
	for _, g := range out.Table.GlobalSecondaryIndexes {
		sc.gsis[g.IndexName] = true
		for _, k := range g.KeySchema {
			sc.gsiKeys = append(sc.gsiKeys, k.AttributeName)
		}
	}
	s.schemas.mu.Lock()
	s.schemas.byTable[table] = sc
	s.schemas.mu.Unlock()
	return sc, true
}

// learnSchema records the schema of a table from its CreateTable request.
func (s *Server) learnSchema(body []byte) {
	var req struct {
		TableName              string
		KeySchema              []struct{ AttributeName, KeyType string }
		GlobalSecondaryIndexes []struct {
			IndexName string
			KeySchema []struct{ AttributeName string }
		}
	}
	if json.Unmarshal(body, &req) != nil || req.TableName == "" {
		return
	}
	sc := tableSchema{gsis: map[string]bool{}}
	for _, kt := range []string{"HASH", "RANGE"} {
		for _, k := range req.KeySchema {
			if k.KeyType == kt {
				sc.keys = append(sc.keys, k.AttributeName)
			}
		}
	}
	for _, g := range req.GlobalSecondaryIndexes {
		sc.gsis[g.IndexName] = true
		for _, k := range g.KeySchema {
			sc.gsiKeys = append(sc.gsiKeys, k.AttributeName)
		}
	}
	s.schemas.mu.Lock()
	s.schemas.byTable[req.TableName] = sc
	s.schemas.mu.Unlock()
}

// forgetSchema drops a table's schema after it changed.
func (s *Server) forgetSchema(table string) {
	s.schemas.mu.Lock()
	defer s.schemas.mu.Unlock()
	delete(s.schemas.byTable, table)
}

// keyOf returns an item's key attributes: those of its table's key schema,
// or pk and sk (this project's) when the table is unknown.
func (s *Server) keyOf(table string, item attrs) attrs {
	names := []string{"pk", "sk"}
	if sc, ok := s.schema(table); ok && len(sc.keys) > 0 {
		names = sc.keys
	}
	key := attrs{}
	for _, n := range names {
		if v, ok := item[n]; ok {
			key[n] = v
		}
	}
	return key
}

// call serves one request of the server's own on a minidyn instance and
// decodes its answer into out (unless out is nil).
func call(h http.Handler, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("localdb: encode internal %s: %w", op, err)
	}
	rec := serveRaw(h, op, body)
	if rec.Code != http.StatusOK {
		return fmt.Errorf("localdb: internal %s: status %d: %s", op, rec.Code, bytes.TrimSpace(rec.Body.Bytes()))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
		return fmt.Errorf("localdb: decode internal %s: %w", op, err)
	}
	return nil
}

// serveRaw serves one request body of operation op on h.
func serveRaw(h http.Handler, op string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// readBody reads a request's body and leaves it in place to be read again.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("localdb: read request: %w", err)
	}
	return body, nil
}

// decodeBody decodes a request's body into v, leaving it in place, and
// reports whether it could.
func decodeBody(r *http.Request, v any) bool {
	body, err := readBody(r)
	return err == nil && json.Unmarshal(body, v) == nil
}
