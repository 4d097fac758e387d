package localdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/truora/minidyn/server"
)

// Server is a running in-process DynamoDB-compatible server.
type Server struct {
	// URL is the endpoint to give the DynamoDB client.
	URL string

	// mini is minidyn as every request but a transaction's apply phase
	// reaches it, under the shared side of applying (see transact.go).
	mini http.Handler
	// engine is minidyn itself, which only a transaction's apply phase
	// uses directly, holding applying exclusively.
	engine   *server.Server
	applying sync.RWMutex
	// shadow holds the tables as their global secondary indexes see them
	// (see indexlag.go).
	shadow   *server.Server
	http     *http.Server
	ln       net.Listener
	throttle atomic.Int64
	failing  atomic.Bool
	opFails  map[string]int64 // guarded by mu
	opLosses map[string]int64 // guarded by mu
	requests atomic.Int64

	settings atomic.Pointer[settings]
	stats    stats
	adm      *admission
	index    *indexLag
	streams  *streams
	schemas  schemaCache
	tokens   *tokenStore
	// clock, when set (by tests), replaces time.Now for the write budgets
	// and the index lag.
	clock     atomic.Pointer[func() time.Time]
	closed    chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex
	counted map[string]int64
	// byItem counts single-item requests per item (by its encoded key)
	// while countItems is on.
	countItems atomic.Bool
	byItem     map[string]*ItemCount
}

// Start listens on addr ("" for a free loopback port) and serves, with the
// realism settings of the environment (OptionsFromEnv). It fails if one of
// those variables is malformed.
func Start(addr string) (*Server, error) {
	o, err := parseEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	return StartWith(addr, o)
}

// StartWith listens on addr ("" for a free loopback port) and serves, with
// the realism settings o.
func StartWith(addr string, o Options) (*Server, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("localdb: listen on %s: %w", addr, err)
	}
	s := &Server{URL: "http://" + ln.Addr().String(), engine: server.NewServer(), shadow: server.NewServer(),
		ln: ln, counted: map[string]int64{}, byItem: map[string]*ItemCount{},
		adm: newAdmission(), index: newIndexLag(), streams: newStreams(), schemas: schemaCache{byTable: map[string]tableSchema{}},
		tokens: newTokenStore(),
		closed: make(chan struct{})}
	s.mini = guarded{h: s.engine, lock: &s.applying}
	s.SetOptions(o)
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.http.Serve(ln)
	return s, nil
}

// now is the server's clock.
func (s *Server) now() time.Time {
	if c := s.clock.Load(); c != nil {
		return (*c)()
	}
	return time.Now()
}

// ServeHTTP counts the request, injects a pending fault, or serves it as
// DynamoDB would (see the package documentation) with minidyn, losing its
// answer if LoseAnswerNext asked for it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := r.Header.Get("X-Amz-Target")
	if strings.HasPrefix(op, streamsTarget) {
		// The Streams API is another service (reads from Lambda's event
		// source are not billed): not counted among the table's requests.
		s.serveStreams(w, r, op[len(streamsTarget):])
		return
	}
	s.requests.Add(1)
	if i := lastDot(op); i >= 0 {
		op = op[i+1:]
	}
	s.mu.Lock()
	s.counted[op]++
	s.mu.Unlock()
	if s.countItems.Load() {
		s.countItem(r, op)
	}
	if s.takeOpFailure(op) || s.failing.Load() {
		writeInternalError(w)
		return
	}
	if s.throttle.Load() > 0 && s.throttle.Add(-1) >= 0 {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",`+
			`"message":"The level of configured provisioned throughput for the table was exceeded (emulated)"}`)
		return
	}
	if s.take(&s.opLosses, op) {
		s.serveRealistic(httptest.NewRecorder(), r, op)
		writeInternalError(w)
		return
	}
	s.serveRealistic(w, r, op)
}

// countItem counts a GetItem, UpdateItem or DeleteItem under the key it names.
func (s *Server) countItem(r *http.Request, op string) {
	if op != "GetItem" && op != "UpdateItem" && op != "DeleteItem" {
		return
	}
	body, err := readBody(r)
	if err != nil {
		return
	}
	var req struct {
		Key map[string]struct{ S string }
	}
	if json.Unmarshal(body, &req) != nil || len(req.Key) == 0 {
		return
	}
	key := make(map[string]string, len(req.Key))
	for name, v := range req.Key {
		key[name] = v.S
	}
	k := itemKey(key)
	s.mu.Lock()
	c := s.byItem[k]
	if c == nil {
		c = &ItemCount{Key: key, Ops: map[string]int64{}}
		s.byItem[k] = c
	}
	c.Ops[op]++
	s.mu.Unlock()
}

// itemKey encodes an item's string key attributes in a stable order.
func itemKey(key map[string]string) string {
	names := make([]string, 0, len(key))
	for n := range key {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte(0)
		b.WriteString(key[n])
		b.WriteByte(0)
	}
	return b.String()
}

// CountItems turns per-item counting on or off. While it is on, every
// GetItem, UpdateItem and DeleteItem is also counted under the key of the
// item it names, for ItemRequests. It reads each request's body, so it is
// off by default.
func (s *Server) CountItems(on bool) { s.countItems.Store(on) }

// ItemCount is how many requests of each operation named one item.
type ItemCount struct {
	// Key is the item's key: its string-typed key attributes.
	Key map[string]string
	Ops map[string]int64
}

// ItemRequests returns, for every item a GetItem, UpdateItem or DeleteItem
// named while CountItems was on (since the last ResetCounts), the requests
// by operation.
func (s *Server) ItemRequests() []ItemCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ItemCount, 0, len(s.byItem))
	for _, c := range s.byItem {
		out = append(out, ItemCount{Key: maps.Clone(c.Key), Ops: maps.Clone(c.Ops)})
	}
	return out
}

func lastDot(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

// Close stops the server. Transactions waiting out their latency go on at
// once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		return s.http.Close()
	}
	return nil
}

// FailAll makes every request answer DynamoDB's InternalServerError (HTTP
// 500, which the SDK's retryer retries) while on is true. It is done here
// rather than with minidyn's own failure emulation, whose switch races with
// requests in flight.
func (s *Server) FailAll(on bool) { s.failing.Store(on) }

// FailNext makes the next n requests of one operation (such as "UpdateItem")
// answer InternalServerError, leaving the others alone.
func (s *Server) FailNext(op string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opFails == nil {
		s.opFails = map[string]int64{}
	}
	s.opFails[op] = n
}

// LoseAnswerNext makes the next n requests of one operation (such as
// "TransactWriteItems" or "UpdateItem") lose their answer: each is served as
// usual, applied if it succeeds, but the client gets InternalServerError
// instead of the answer, as after a 5xx or a dropped connection once
// DynamoDB has committed. The SDK's standard retryer then sends the request
// again: a TransactWriteItems is not applied twice (its ClientRequestToken
// is replayed, see the package documentation), a single write is. Requests
// that FailAll, FailNext or Throttle refuse do not count.
func (s *Server) LoseAnswerNext(op string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opLosses == nil {
		s.opLosses = map[string]int64{}
	}
	s.opLosses[op] = n
}

func (s *Server) takeOpFailure(op string) bool { return s.take(&s.opFails, op) }

// take spends one of the pending faults of op in *counts (s.opFails or
// s.opLosses, guarded by s.mu), reporting whether there was one.
func (s *Server) take(counts *map[string]int64, op string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if (*counts)[op] > 0 {
		(*counts)[op]--
		return true
	}
	return false
}

// Throttle makes the next n requests answer ProvisionedThroughputExceededException.
func (s *Server) Throttle(n int64) { s.throttle.Store(n) }

// Requests returns how many requests the server received, by operation
// (PutItem, UpdateItem, TransactWriteItems, ...) and in total. Requests of
// the Streams API are not counted (nor refused by the faults): Lambda reads
// a stream without billing its reads to the table.
func (s *Server) Requests() (total int64, byOp map[string]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byOp = make(map[string]int64, len(s.counted))
	for k, v := range s.counted {
		byOp[k] = v
	}
	return s.requests.Load(), byOp
}

// ResetCounts sets the request counters and Stats back to zero.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counted = map[string]int64{}
	s.byItem = map[string]*ItemCount{}
	s.requests.Store(0)
	s.stats.reset()
}

// Client returns a real aws-sdk-go-v2 DynamoDB client for this server, with the
// SDK's standard retryer.
func (s *Server) Client() *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:                          "us-east-1",
		BaseEndpoint:                    aws.String(s.URL),
		Credentials:                     credentials.NewStaticCredentialsProvider("local", "local", ""),
		DisableValidateResponseChecksum: true,
	})
}

// StreamsClient returns a real aws-sdk-go-v2 DynamoDB Streams client for
// this server (see streams.go), with the SDK's standard retryer.
func (s *Server) StreamsClient() *dynamodbstreams.Client {
	return dynamodbstreams.New(dynamodbstreams.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

// EnsureTable creates the table unless it exists already.
func EnsureTable(ctx context.Context, db *dynamodb.Client, in *dynamodb.CreateTableInput) error {
	_, err := db.CreateTable(ctx, in)
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("localdb: create table %s: %w", aws.ToString(in.TableName), err)
	}
	return nil
}
