// Package loadgen drives a running wxsub, in-process or at any base URL, with
// the requests of its two hot paths (the business backend's send and the
// mini-program's report) and measures them: requests per second, latency
// percentiles and, when the stack's counters are observable, what each
// request cost in DynamoDB requests, WeChat requests and reads of the shared
// token item. The costs are counted by the stack (the in-process DynamoDB
// server and the WeChat simulator), never estimated.
//
// It also runs the two token comparisons of the benchmark: the naive flow
// that fetches a token before every message (Naive), and a simulated day of
// sends with the scheduled refresher running (Day).
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Options bounds a run. A run stops when Count requests were made or when
// Duration has passed, whichever comes first; at least one must be set.
type Options struct {
	// Concurrency is the number of workers; 0 means 8.
	Concurrency int
	// Count is how many requests to make; 0 means no limit but Duration.
	Count int
	// Duration stops the run after this long; 0 means no limit but Count.
	Duration time.Duration
}

// An Op makes request i of a run (i counts from 0, in the order requests
// start) and returns an error when the answer was not the expected one.
type Op func(ctx context.Context, i int) error

// Result is what one run measured.
type Result struct {
	Name        string
	Concurrency int
	// Requests counts the requests made, Failures those whose Op failed;
	// FirstFailure is the first failure's error text.
	Requests, Failures int
	FirstFailure       string
	Elapsed            time.Duration
	// Counts is what the stack counted during the run; zero when no
	// Counter was given.
	Counts Counts

	latencies []time.Duration // sorted
}

// RPS is the run's throughput in requests per second.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Percentile returns the latency below which p percent of the requests
// completed (nearest rank), or 0 for an empty run.
func (r Result) Percentile(p float64) time.Duration {
	n := len(r.latencies)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p/100*float64(n))) - 1
	rank = max(0, min(n-1, rank))
	return r.latencies[rank]
}

// Per divides a count by the number of requests of the run.
func (r Result) Per(n int64) float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(n) / float64(r.Requests)
}

// Run makes requests with op from o.Concurrency workers until o's bound is
// reached, timing each one. counter, when not nil, is read before and after
// the run, and Result.Counts is the difference. An error is returned only
// when the run could not be measured (bad options, a counter that fails, or
// ctx ending); failed requests are counted in the Result.
func Run(ctx context.Context, name string, o Options, counter Counter, op Op) (Result, error) {
	if o.Count <= 0 && o.Duration <= 0 {
		return Result{}, errors.New("loadgen: a run needs a Count or a Duration")
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	before, err := read(ctx, counter)
	if err != nil {
		return Result{}, err
	}
	runCtx := ctx
	if o.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	var (
		next     atomic.Int64
		mu       sync.Mutex
		lat      []time.Duration
		failures int
		first    string
		wg       sync.WaitGroup
	)
	start := time.Now()
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			var bad int
			var firstBad string
			for runCtx.Err() == nil {
				i := int(next.Add(1) - 1)
				if o.Count > 0 && i >= o.Count {
					break
				}
				t0 := time.Now()
				// Requests in flight when Duration ends are finished with
				// the caller's ctx, so that none is cut off half-way.
				err := op(ctx, i)
				mine = append(mine, time.Since(t0))
				if err != nil {
					bad++
					if firstBad == "" {
						firstBad = err.Error()
					}
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			failures += bad
			if first == "" {
				first = firstBad
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("loadgen: run %s: %w", name, err)
	}
	after, err := read(ctx, counter)
	if err != nil {
		return Result{}, err
	}
	slices.Sort(lat)
	return Result{
		Name: name, Concurrency: o.Concurrency, Requests: len(lat), Failures: failures, FirstFailure: first,
		Elapsed: elapsed, Counts: after.Sub(before), latencies: lat,
	}, nil
}

// Merge combines consecutive runs into one result: their requests,
// failures, counts and latencies, and the sum of their elapsed times.
func Merge(name string, rs ...Result) Result {
	out := Result{Name: name}
	for _, r := range rs {
		out.Concurrency = max(out.Concurrency, r.Concurrency)
		out.Requests += r.Requests
		out.Failures += r.Failures
		if out.FirstFailure == "" {
			out.FirstFailure = r.FirstFailure
		}
		out.Elapsed += r.Elapsed
		out.Counts = out.Counts.Add(r.Counts)
		out.latencies = append(out.latencies, r.latencies...)
	}
	slices.Sort(out.latencies)
	return out
}

// Probe makes n requests one at a time and reads counter around each, so
// that every request's own cost is known exactly rather than averaged.
func Probe(ctx context.Context, n int, counter Counter, op Op) ([]Counts, error) {
	if counter == nil {
		return nil, errors.New("loadgen: a probe needs a counter")
	}
	costs := make([]Counts, 0, n)
	before, err := read(ctx, counter)
	if err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		if err := op(ctx, i); err != nil {
			return nil, fmt.Errorf("loadgen: probe request %d: %w", i, err)
		}
		after, err := read(ctx, counter)
		if err != nil {
			return nil, err
		}
		costs = append(costs, after.Sub(before))
		before = after
	}
	return costs, nil
}

// Spread counts how many requests had each value of f, for Probe's costs:
// {2: 199, 3: 1} means 199 requests cost 2 and one cost 3.
func Spread(costs []Counts, f func(Counts) int64) map[int64]int {
	out := map[int64]int{}
	for _, c := range costs {
		out[f(c)]++
	}
	return out
}

// SpreadString writes a Spread compactly: "2 (all 200)" or "2 ×199, 3 ×1".
func SpreadString(s map[int64]int) string {
	keys := slices.Sorted(maps.Keys(s))
	if len(keys) == 1 {
		return fmt.Sprintf("%d (all %d)", keys[0], s[keys[0]])
	}
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%d ×%d", k, s[k])
	}
	return out
}

// Counts is a snapshot (or, after Sub, a difference) of the counters a
// stack keeps.
type Counts struct {
	// DynamoDB is the DynamoDB requests by operation (GetItem, UpdateItem,
	// TransactWriteItems, …); nil when the stack's DynamoDB is not observable.
	DynamoDB map[string]int64
	// TokenReads is the reads (GetItem) of the shared token item. It is
	// observable exactly when DynamoDB is.
	TokenReads int64
	// Items is the single-item requests (GetItem, UpdateItem, DeleteItem)
	// by the class of the item they named (see ItemClass), then by operation.
	Items map[string]map[string]int64
	// WeChat is the calls by WeChat API path; nil when no simulator is observable.
	WeChat map[string]int64
}

// WeChat API paths the counts refer to.
const (
	PathToken       = "/cgi-bin/token"
	PathStableToken = "/cgi-bin/stable_token"
	PathSend        = "/cgi-bin/message/subscribe/send"
)

// Sub returns c minus before, counter by counter.
func (c Counts) Sub(before Counts) Counts {
	out := Counts{
		DynamoDB:   subMap(c.DynamoDB, before.DynamoDB),
		TokenReads: c.TokenReads - before.TokenReads,
		WeChat:     subMap(c.WeChat, before.WeChat),
	}
	if c.Items != nil {
		out.Items = map[string]map[string]int64{}
		for class, ops := range c.Items {
			if d := subMap(ops, before.Items[class]); len(d) > 0 {
				out.Items[class] = d
			}
		}
	}
	return out
}

// Add returns c plus o, counter by counter.
func (c Counts) Add(o Counts) Counts {
	out := Counts{
		DynamoDB:   addMap(c.DynamoDB, o.DynamoDB),
		TokenReads: c.TokenReads + o.TokenReads,
		WeChat:     addMap(c.WeChat, o.WeChat),
	}
	if c.Items != nil || o.Items != nil {
		out.Items = map[string]map[string]int64{}
		for _, items := range []map[string]map[string]int64{c.Items, o.Items} {
			for class, ops := range items {
				out.Items[class] = addMap(out.Items[class], ops)
			}
		}
	}
	return out
}

func addMap(a, b map[string]int64) map[string]int64 {
	if a == nil && b == nil {
		return nil
	}
	out := make(map[string]int64, len(a)+len(b))
	for k, v := range a {
		out[k] += v
	}
	for k, v := range b {
		out[k] += v
	}
	return out
}

func subMap(a, b map[string]int64) map[string]int64 {
	if a == nil {
		return nil
	}
	out := make(map[string]int64, len(a))
	for k, v := range a {
		if d := v - b[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// DynamoDBTotal is the number of DynamoDB requests of every operation.
func (c Counts) DynamoDBTotal() int64 { return sum(c.DynamoDB) }

// WeChatTotal is the number of WeChat API calls of every path.
func (c Counts) WeChatTotal() int64 { return sum(c.WeChat) }

// TokenCalls is the number of calls to WeChat's two token APIs.
func (c Counts) TokenCalls() int64 { return c.WeChat[PathToken] + c.WeChat[PathStableToken] }

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// ByCount lists the keys of a count map (operations, paths), most counted first.
func ByCount(m map[string]int64) []string {
	keys := slices.Collect(maps.Keys(m))
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}

// A Counter reads a stack's counters.
type Counter func(ctx context.Context) (Counts, error)

func read(ctx context.Context, c Counter) (Counts, error) {
	if c == nil {
		return Counts{}, nil
	}
	n, err := c(ctx)
	if err != nil {
		return Counts{}, fmt.Errorf("loadgen: read the stack's counters: %w", err)
	}
	return n, nil
}
