package coldstart

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/wxsub/wxsub/dev/samtemplate"
)

func loadTemplate(t *testing.T) (*samtemplate.Template, string) {
	t.Helper()
	p, err := samtemplate.Find(".")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := samtemplate.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return tpl, filepath.Dir(p)
}

func TestSizeOfCountsTheFileAndItsZip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bootstrap")
	if err := os.WriteFile(p, bytes.Repeat([]byte("wxsub "), 100000), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := SizeOf(p)
	if err != nil {
		t.Fatal(err)
	}
	if s.Bytes != 600000 {
		t.Errorf("Bytes = %d, want 600000", s.Bytes)
	}
	if s.Zipped <= 0 || s.Zipped >= s.Bytes/10 {
		t.Errorf("Zipped = %d for a highly repetitive 600000-byte file", s.Zipped)
	}
	if _, err := SizeOf(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("SizeOf of a missing file succeeded")
	}
}

func TestEveryRouteOrScheduleFunctionGetsAnEventToInvoke(t *testing.T) {
	tpl, root := loadTemplate(t)
	samples, err := loadSamples(filepath.Join(root, "events"), tpl)
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range tpl.Functions {
		if len(fn.Routes) == 0 && len(fn.Schedules) == 0 {
			continue // another trigger (a queue): its samples are not routed here
		}
		raw, name := pickEvent(fn, samples[fn.LogicalID], nil)
		if raw == nil {
			t.Errorf("%s has no event to invoke", fn.LogicalID)
			continue
		}
		if len(fn.Routes) > 0 && !bytes.Contains(raw, []byte(`"routeKey"`)) {
			t.Errorf("%s has routes but its event %s is not an API Gateway event", fn.LogicalID, name)
		}
	}
	// A preferred sample wins over the first by name.
	for id, files := range samples {
		if len(files) < 2 {
			continue
		}
		var last string
		for name := range files {
			if name > last {
				last = name
			}
		}
		for _, fn := range tpl.Functions {
			if fn.LogicalID == id {
				if _, name := pickEvent(fn, files, []string{"missing.json", last}); name != last {
					t.Errorf("%s: picked %s, want the preferred %s", id, name, last)
				}
			}
		}
	}
}

func TestColdStartOfARealFunction(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a function and the Runtime Interface Emulator")
	}
	if !Supported {
		t.Skip("the Runtime Interface Emulator runs on Linux only")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	tpl, root := loadTemplate(t)
	const id = "RefreshTokenFunction"
	var one samtemplate.Template
	for _, fn := range tpl.Functions {
		if fn.LogicalID == id {
			one.Functions = append(one.Functions, fn)
		}
	}
	one.Table = tpl.Table
	bin, err := Build(t.Context(), root, id, runtime.GOARCH, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ms, err := ColdStarts(t.Context(), Options{Root: root, Template: &one, Runs: 2}, map[string]string{id: bin})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Problem != "" || len(ms[0].Starts) != 2 {
		t.Fatalf("measurements: %+v", ms)
	}
	for _, s := range ms[0].Starts {
		if s.Invoke <= 0 || s.Total < s.Invoke {
			t.Errorf("start %+v: the first answer must come after the invocation, which comes after the emulator's start", s)
		}
	}

	// A function that fails its first invocation is reported, not timed.
	ms, err = ColdStarts(t.Context(), Options{Root: root, Template: &one, Runs: 1}, map[string]string{id: "/bin/false"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Problem == "" || len(ms[0].Starts) != 0 {
		t.Fatalf("a failing bootstrap gave %+v", ms)
	}
}
