// Package metrics writes wxsub's CloudWatch metrics in the Embedded Metric
// Format (EMF): one JSON line per value, written to the function's stdout,
// which CloudWatch Logs turns into metrics without any API call.
//
// Each value is published under every prefix of its dimensions, the empty
// one included: Sends with Outcome=failed and ErrCode=43101 also counts in
// Sends{Outcome=failed} and in Sends, so alarms (which cannot add up
// dimensions) have the totals they need.
package metrics

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of every wxsub metric.
const Namespace = "wxsub"

// Unit is a CloudWatch unit.
type Unit string

// The units wxsub uses.
const (
	Count   Unit = "Count"
	Seconds Unit = "Seconds"
	Percent Unit = "Percent"
)

// The metrics wxsub emits.
const (
	// Sends counts calls of subscribe/send by Outcome (sent, failed, unknown) and ErrCode.
	Sends = "Sends"
	// CreditsGranted, CreditsSpent and CreditsReleased count one-time credits.
	CreditsGranted  = "CreditsGranted"
	CreditsSpent    = "CreditsSpent"
	CreditsReleased = "CreditsReleased"
	// TokenRefreshes counts access_tokens fetched from WeChat, by Cause
	// (schedule, bootstrap, bad_token).
	TokenRefreshes = "TokenRefreshes"
	// TokenAgeSeconds is how long ago the shared token was fetched, measured by each refresher run.
	TokenAgeSeconds = "TokenAgeSeconds"
	// ValidationFailures counts sends refused with 422 invalid_data before WeChat was called, by Template.
	ValidationFailures = "ValidationFailures"
	// QuotaRemainingPercent is remain/daily_limit of a WeChat API, by Path.
	QuotaRemainingPercent = "QuotaRemainingPercent"
)

// The dimensions wxsub uses.
const (
	Outcome  = "Outcome"
	ErrCode  = "ErrCode"
	Cause    = "Cause"
	Template = "Template"
	Path     = "Path"
)

// Dim is one dimension of a value.
type Dim struct {
	Name, Value string
}

// Writer writes EMF lines. It is safe for concurrent use; a nil *Writer
// writes nothing.
type Writer struct {
	now func() time.Time

	mu  sync.Mutex
	out io.Writer
}

// New returns a Writer on out; now is the clock of the timestamps (nil: time.Now).
func New(out io.Writer, now func() time.Time) *Writer {
	if now == nil {
		now = time.Now
	}
	return &Writer{out: out, now: now}
}

type metricDef struct {
	Name string `json:"Name"`
	Unit Unit   `json:"Unit"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// Emit writes one value of the metric name. Metrics are best effort: a
// failed write is dropped, never returned to the request that caused it.
func (w *Writer) Emit(name string, unit Unit, value float64, dims ...Dim) {
	if w == nil || w.out == nil {
		return
	}
	sets := make([][]string, 0, len(dims)+1)
	names := make([]string, 0, len(dims))
	sets = append(sets, []string{})
	doc := make(map[string]any, len(dims)+2)
	for _, d := range dims {
		names = append(names, d.Name)
		sets = append(sets, append([]string(nil), names...))
		doc[d.Name] = d.Value
	}
	doc[name] = value
	doc["_aws"] = metadata{
		Timestamp: w.now().UnixMilli(),
		CloudWatchMetrics: []directive{{
			Namespace: Namespace, Dimensions: sets, Metrics: []metricDef{{Name: name, Unit: unit}},
		}},
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return
	}
	line = append(line, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	w.out.Write(line)
}

// Count writes a count of n.
func (w *Writer) Count(name string, n int64, dims ...Dim) {
	w.Emit(name, Count, float64(n), dims...)
}
