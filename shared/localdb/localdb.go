// Package localdb runs a DynamoDB-compatible server in-process on loopback,
// for `make run` and the tests: truora/minidyn behind a listener, plus fault
// injection for the failures DynamoDB really produces (internal errors,
// throttling) so that reliability tests can use the real aws-sdk-go-v2 client.
package localdb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/truora/minidyn/server"
)

// Server is a running in-process DynamoDB-compatible server.
type Server struct {
	// URL is the endpoint to give the DynamoDB client.
	URL string

	mini     *server.Server
	http     *http.Server
	ln       net.Listener
	throttle atomic.Int64
	requests atomic.Int64

	mu      sync.Mutex
	counted map[string]int64
}

// Start listens on addr ("" for a free loopback port) and serves.
func Start(addr string) (*Server, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("localdb: listen on %s: %w", addr, err)
	}
	s := &Server{URL: "http://" + ln.Addr().String(), mini: server.NewServer(), ln: ln, counted: map[string]int64{}}
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.http.Serve(ln)
	return s, nil
}

// ServeHTTP counts the request, injects a pending fault, or hands it to minidyn.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	op := r.Header.Get("X-Amz-Target")
	if i := lastDot(op); i >= 0 {
		op = op[i+1:]
	}
	s.mu.Lock()
	s.counted[op]++
	s.mu.Unlock()
	if s.throttle.Load() > 0 && s.throttle.Add(-1) >= 0 {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",`+
			`"message":"The level of configured provisioned throughput for the table was exceeded (emulated)"}`)
		return
	}
	s.mini.ServeHTTP(w, r)
}

func lastDot(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.http.Shutdown(ctx)
}

// FailAll makes every request answer DynamoDB's InternalServerError while on is true.
func (s *Server) FailAll(on bool) {
	if on {
		s.mini.EmulateFailure(server.FailureConditionInternalServerError)
	} else {
		s.mini.EmulateFailure(server.FailureConditionNone)
	}
}

// Throttle makes the next n requests answer ProvisionedThroughputExceededException.
func (s *Server) Throttle(n int64) { s.throttle.Store(n) }

// Requests returns how many requests the server received, by operation
// (PutItem, UpdateItem, TransactWriteItems, ...) and in total.
func (s *Server) Requests() (total int64, byOp map[string]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byOp = make(map[string]int64, len(s.counted))
	for k, v := range s.counted {
		byOp[k] = v
	}
	return s.requests.Load(), byOp
}

// ResetCounts sets the request counters back to zero.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counted = map[string]int64{}
	s.requests.Store(0)
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

// EnsureTable creates the table unless it exists already.
func EnsureTable(ctx context.Context, db *dynamodb.Client, in *dynamodb.CreateTableInput) error {
	_, err := db.CreateTable(ctx, in)
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("localdb: create table %s: %w", aws.ToString(in.TableName), err)
	}
	return nil
}
