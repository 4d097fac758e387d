package samtemplate_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/wxsub/wxsub/dev/samtemplate"
)

const module = "github.com/wxsub/wxsub/"

// TestSharedHoldsOnlyWhatDeploys keeps the layout honest: shared/ holds
// exactly the packages linked into some function of functions/, and no
// function links anything from dev/ (the simulator, the local stack and the
// rest of the tooling never run in AWS).
func TestSharedHoldsOnlyWhatDeploys(t *testing.T) {
	tpl, err := samtemplate.Find(".")
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(tpl)
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "./functions/...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	linked := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		switch {
		case strings.HasPrefix(p, module+"dev/"):
			t.Errorf("a function links %s: tooling under dev/ must never deploy", p)
		case strings.HasPrefix(p, module+"shared/"):
			linked[strings.TrimPrefix(p, module+"shared/")] = true
		}
	}
	entries, err := os.ReadDir(filepath.Join(root, "shared"))
	if err != nil {
		t.Fatal(err)
	}
	var stray []string
	for _, e := range entries {
		if e.IsDir() && !linked[e.Name()] {
			stray = append(stray, e.Name())
		}
		delete(linked, e.Name())
	}
	sort.Strings(stray)
	if len(stray) > 0 {
		t.Errorf("shared/ holds packages no function links (move them under dev/): %v", stray)
	}
	if len(linked) > 0 {
		t.Errorf("functions link shared packages that are not folders of shared/: %v", linked)
	}
}
