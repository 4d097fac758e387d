package subscriptions

import (
	"encoding/json"
	"os"
	"testing"
)

// TestReportContractWithTheClientLibrary reads the popup results that
// miniprogram/test/wxsub.test.js has wxsub.js report unchanged, and checks
// that the server records each template as the shared file says: every
// status starting with "accept" is an accept.
func TestReportContractWithTheClientLibrary(t *testing.T) {
	raw, err := os.ReadFile("../../miniprogram/test/contract/subscribe-results.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []struct {
			Result map[string]json.RawMessage `json:"result"`
			Taps   map[string]string          `json:"taps"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Cases) == 0 {
		t.Fatal("no cases")
	}
	for i, c := range file.Cases {
		taps, off, err := parseReport(reportRequest{Result: c.Result}, false)
		if err != nil || off {
			t.Fatalf("case %d: %v (main switch off %v)", i, err, off)
		}
		got := map[string]string{}
		for _, tp := range taps {
			got[tp.templateID] = string(tp.tap)
		}
		if len(got) != len(c.Taps) {
			t.Fatalf("case %d: taps %v, want %v", i, got, c.Taps)
		}
		for id, want := range c.Taps {
			if got[id] != want {
				t.Errorf("case %d: %s recorded as %q, want %q", i, id, got[id], want)
			}
		}
	}
}
