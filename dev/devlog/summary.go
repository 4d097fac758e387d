package devlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// Summary takes the functions' metrics, as the Embedded Metric Format lines
// shared/metrics writes, and adds them up: counts are summed, other units
// (seconds, percent) keep their last value. Flush logs what changed since
// the last flush as one line; Run flushes on a period.
type Summary struct {
	log *slog.Logger

	mu      sync.Mutex
	pending []byte
	counts  map[string]float64
	gauges  map[string]string
}

// NewSummary returns a Summary that logs its lines to log.
func NewSummary(log *slog.Logger) *Summary {
	return &Summary{log: log, counts: map[string]float64{}, gauges: map[string]string{}}
}

// emf is the part of an EMF line the summary reads.
type emf struct {
	AWS struct {
		CloudWatchMetrics []struct {
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
	} `json:"_aws"`
}

// Write takes EMF lines (a line may come in several writes). A line that is
// not EMF is ignored.
func (s *Summary) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, p...)
	for {
		i := bytes.IndexByte(s.pending, '\n')
		if i < 0 {
			break
		}
		s.add(s.pending[:i])
		s.pending = s.pending[i+1:]
	}
	return len(p), nil
}

func (s *Summary) add(line []byte) {
	var doc map[string]any
	var meta emf
	if json.Unmarshal(line, &doc) != nil || json.Unmarshal(line, &meta) != nil {
		return
	}
	for _, d := range meta.AWS.CloudWatchMetrics {
		// The finest dimension set names the value, e.g. Sends sent 0.
		var dims []string
		if n := len(d.Dimensions); n > 0 {
			dims = d.Dimensions[n-1]
		}
		for _, m := range d.Metrics {
			v, ok := doc[m.Name].(float64)
			if !ok {
				continue
			}
			key := m.Name
			for _, dn := range dims {
				key += fmt.Sprintf(" %v", doc[dn])
			}
			switch m.Unit {
			case "Count":
				s.counts[key] += v
			case "Seconds":
				s.gauges[key] = (time.Duration(v) * time.Second).String()
			case "Percent":
				s.gauges[key] = fmt.Sprintf("%.1f%%", v)
			default:
				s.gauges[key] = fmt.Sprint(v)
			}
		}
	}
}

// Flush logs the counts and values gathered since the last flush as one
// INFO line ("metrics"), and nothing when there were none.
func (s *Summary) Flush() {
	s.mu.Lock()
	counts, gauges := s.counts, s.gauges
	s.counts, s.gauges = map[string]float64{}, map[string]string{}
	s.mu.Unlock()
	if len(counts)+len(gauges) == 0 {
		return
	}
	parts := make([]string, 0, len(counts)+len(gauges))
	for k, v := range counts {
		parts = append(parts, fmt.Sprintf("%s=%g", k, v))
	}
	for k, v := range gauges {
		parts = append(parts, fmt.Sprintf("%s=%s", k, v))
	}
	sort.Strings(parts)
	s.log.Info("metrics", "summary", strings.Join(parts, ", "))
}

// Run flushes every period until done is closed, and once more then.
func (s *Summary) Run(done <-chan struct{}, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-done:
			s.Flush()
			return
		case <-t.C:
			s.Flush()
		}
	}
}
