package metrics_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxsub/wxsub/shared/metrics"
)

// record is an EMF line as CloudWatch Logs reads it.
type record struct {
	AWS struct {
		Timestamp         int64
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
	} `json:"_aws"`
	Root map[string]any `json:"-"`
}

func parse(t *testing.T, out string) []record {
	t.Helper()
	var recs []record
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("not JSON: %v: %s", err, sc.Text())
		}
		json.Unmarshal(sc.Bytes(), &r.Root)
		recs = append(recs, r)
	}
	return recs
}

func TestEmitWritesOneEMFLine(t *testing.T) {
	var buf bytes.Buffer
	at := time.Date(2026, 3, 1, 8, 0, 0, 123e6, time.UTC)
	w := metrics.New(&buf, func() time.Time { return at })
	w.Count(metrics.Sends, 1, metrics.Dim{Name: metrics.Outcome, Value: "failed"}, metrics.Dim{Name: metrics.ErrCode, Value: "43101"})

	if strings.Count(buf.String(), "\n") != 1 || !strings.HasSuffix(buf.String(), "\n") {
		t.Fatalf("want exactly one line: %q", buf.String())
	}
	recs := parse(t, buf.String())
	r := recs[0]
	if r.AWS.Timestamp != at.UnixMilli() {
		t.Errorf("Timestamp %d, want %d", r.AWS.Timestamp, at.UnixMilli())
	}
	if len(r.AWS.CloudWatchMetrics) != 1 {
		t.Fatalf("want one directive: %+v", r.AWS)
	}
	d := r.AWS.CloudWatchMetrics[0]
	if d.Namespace != "wxsub" {
		t.Errorf("Namespace %q", d.Namespace)
	}
	want := [][]string{{}, {"Outcome"}, {"Outcome", "ErrCode"}}
	if !reflect.DeepEqual(d.Dimensions, want) {
		t.Errorf("Dimensions %v, want %v (every prefix, so alarms see the totals)", d.Dimensions, want)
	}
	if len(d.Metrics) != 1 || d.Metrics[0].Name != "Sends" || d.Metrics[0].Unit != "Count" {
		t.Errorf("Metrics %+v", d.Metrics)
	}
	// Every dimension and the metric are members of the root, as the format requires.
	if r.Root["Outcome"] != "failed" || r.Root["ErrCode"] != "43101" || r.Root["Sends"] != 1.0 {
		t.Errorf("root members: %v", r.Root)
	}
}

func TestEmitWithoutDimensions(t *testing.T) {
	var buf bytes.Buffer
	metrics.New(&buf, nil).Emit(metrics.TokenAgeSeconds, metrics.Seconds, 4210.5)
	r := parse(t, buf.String())[0]
	d := r.AWS.CloudWatchMetrics[0]
	if !reflect.DeepEqual(d.Dimensions, [][]string{{}}) {
		t.Errorf("Dimensions %v, want one empty set", d.Dimensions)
	}
	if d.Metrics[0].Unit != "Seconds" || r.Root["TokenAgeSeconds"] != 4210.5 {
		t.Errorf("got %+v %v", d.Metrics, r.Root)
	}
	if r.AWS.Timestamp == 0 {
		t.Error("no timestamp")
	}
}

func TestDimensionValuesAreEscaped(t *testing.T) {
	var buf bytes.Buffer
	w := metrics.New(&buf, nil)
	w.Emit(metrics.QuotaRemainingPercent, metrics.Percent, 9.5, metrics.Dim{Name: metrics.Path, Value: "/cgi-bin/\"odd\"\npath"})
	r := parse(t, buf.String())[0]
	if r.Root["Path"] != "/cgi-bin/\"odd\"\npath" {
		t.Errorf("Path %q", r.Root["Path"])
	}
}

func TestNilWriterWritesNothing(t *testing.T) {
	var w *metrics.Writer
	w.Count(metrics.Sends, 1) // must not panic
	metrics.New(nil, nil).Count(metrics.Sends, 1)
}

func TestConcurrentEmissionsStayWholeLines(t *testing.T) {
	var buf bytes.Buffer
	w := metrics.New(&buf, nil)
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 25; j++ {
				w.Count(metrics.CreditsSpent, 1, metrics.Dim{Name: metrics.Template, Value: "T"})
			}
		}()
	}
	wg.Wait()
	if n := len(parse(t, buf.String())); n != 1000 {
		t.Fatalf("%d lines, want 1000", n)
	}
}
