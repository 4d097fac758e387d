// Package coldstart measures wxsub's deployable functions: the size of each
// function's bootstrap, built by the Makefile target that `sam build` runs,
// for arm64 and amd64; and, on Linux, the cold start of the host build
// under AWS's Lambda Runtime Interface Emulator: from starting the emulator
// process to the answer of the function's first invocation, against an
// in-process DynamoDB and the WeChat simulator.
package coldstart

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"time"

	"github.com/wxsub/wxsub/dev/samtemplate"
)

// Size is the size of one build of a bootstrap.
type Size struct {
	// Bytes is the executable's size; Zipped the size of the zip archive
	// holding it, which is what a Lambda deployment uploads.
	Bytes, Zipped int64
}

// Build builds the bootstrap of the function logicalID for GOARCH arch into
// dir with the Makefile's `build-<logicalID>` target (the one `sam build`
// runs) and returns its path. root is the folder of the Makefile.
func Build(ctx context.Context, root, logicalID, arch, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, "make", "-s", "-C", root, "build-"+logicalID,
		"ARTIFACTS_DIR="+dir, "LAMBDA_GOARCH="+arch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("coldstart: make build-%s (%s): %w: %s", logicalID, arch, err, lastLines(out, 5))
	}
	p := filepath.Join(dir, "bootstrap")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("coldstart: make build-%s (%s) wrote no bootstrap: %w", logicalID, arch, err)
	}
	return p, nil
}

// SizeOf measures a built bootstrap: the file and its deployment zip.
func SizeOf(path string) (Size, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Size{}, fmt.Errorf("coldstart: %w", err)
	}
	z, err := zippedSize(path)
	if err != nil {
		return Size{}, err
	}
	return Size{Bytes: fi.Size(), Zipped: z}, nil
}

// zippedSize is the size of a deflated zip archive holding path as "bootstrap".
func zippedSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("coldstart: %w", err)
	}
	defer f.Close()
	var n countWriter
	zw := zip.NewWriter(&n)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "bootstrap", Method: zip.Deflate})
	if err != nil {
		return 0, fmt.Errorf("coldstart: zip: %w", err)
	}
	if _, err := io.Copy(w, f); err != nil {
		return 0, fmt.Errorf("coldstart: zip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return 0, fmt.Errorf("coldstart: zip: %w", err)
	}
	return int64(n), nil
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

func lastLines(b []byte, n int) string {
	lines := 0
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' && i < len(b)-1 {
			lines++
			if lines == n {
				return string(b[i+1:])
			}
		}
	}
	return string(b)
}

// Start is one measured cold start.
type Start struct {
	// Total runs from starting the emulator process to the answer of the
	// first invocation; Invoke from the emulator accepting invocations to
	// that answer (the function's own process start, init and first
	// request, which the emulator starts lazily, as Lambda does).
	Total, Invoke time.Duration
}

// Options configures ColdStarts.
type Options struct {
	// RIE is the emulator's executable; "" builds the one the tools module
	// pins (rie.Binary on Root/tools).
	RIE string
	// Root is the repository root, holding events/.
	Root     string
	Template *samtemplate.Template
	// Runs is the number of cold starts per function; 0 means 5.
	Runs int
	// Prefer names sample files of events/ to invoke, in order of
	// preference, for a function that has several; otherwise the first by
	// name is used.
	Prefer []string
}

// Measurement is the cold starts of one function.
type Measurement struct {
	LogicalID string
	// Event is the events/ sample of the first invocation ("schedule
	// input" when the function has none and its schedule's input is used).
	Event  string
	Starts []Start
	// Problem says why the function could not be measured; "" when it was.
	Problem string
}

// Median returns the median of the measured starts (Total and Invoke each).
func (m Measurement) Median() Start {
	if len(m.Starts) == 0 {
		return Start{}
	}
	tot := make([]time.Duration, len(m.Starts))
	inv := make([]time.Duration, len(m.Starts))
	for i, s := range m.Starts {
		tot[i], inv[i] = s.Total, s.Invoke
	}
	return Start{Total: median(tot), Invoke: median(inv)}
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	n := len(d)
	if n%2 == 1 {
		return d[n/2]
	}
	return (d[n/2-1] + d[n/2]) / 2
}

// loadSamples reads events/*.json and assigns each to its function: an API
// Gateway event by its routeKey, an SQS event to the function that reads a
// queue, any other by equality with a schedule's Input.
func loadSamples(dir string, tpl *samtemplate.Template) (map[string]map[string][]byte, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("coldstart: %w", err)
	}
	out := map[string]map[string][]byte{}
	add := func(fn, name string, raw []byte) {
		if out[fn] == nil {
			out[fn] = map[string][]byte{}
		}
		out[fn][name] = raw
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("coldstart: %w", err)
		}
		var probe map[string]any
		if json.Unmarshal(raw, &probe) != nil {
			continue
		}
		name := filepath.Base(f)
		source := ""
		if recs, ok := probe["Records"].([]any); ok && len(recs) > 0 {
			first, _ := recs[0].(map[string]any)
			source, _ = first["eventSource"].(string)
		}
		for _, fn := range tpl.Functions {
			switch {
			case source == "aws:sqs" && len(fn.Queues) > 0, source == "aws:dynamodb" && len(fn.Streams) > 0:
				add(fn.LogicalID, name, raw)
			}
			if source != "" {
				continue
			}
			if rk, ok := probe["routeKey"].(string); ok {
				for _, r := range fn.Routes {
					if r.Key() == rk {
						add(fn.LogicalID, name, raw)
					}
				}
				continue
			}
			for _, sch := range fn.Schedules {
				var in any
				if json.Unmarshal([]byte(sch.Input), &in) == nil && reflect.DeepEqual(in, any(probe)) {
					add(fn.LogicalID, name, raw)
				}
			}
		}
	}
	return out, nil
}

func pickEvent(fn samtemplate.Function, samples map[string][]byte, prefer []string) ([]byte, string) {
	for _, p := range prefer {
		if raw, ok := samples[p]; ok {
			return raw, p
		}
	}
	names := make([]string, 0, len(samples))
	for n := range samples {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > 0 {
		return samples[names[0]], names[0]
	}
	for _, sch := range fn.Schedules {
		if sch.Input != "" {
			return []byte(sch.Input), "schedule input"
		}
	}
	return nil, ""
}
