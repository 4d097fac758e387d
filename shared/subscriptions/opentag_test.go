package subscriptions

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/wxsub/wxsub/shared/httpapi"
	"github.com/wxsub/wxsub/shared/ledger"
)

func openTagBody(t *testing.T, raw string) reportRequest {
	t.Helper()
	var r reportRequest
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// The success detail of <wx-open-subscribe> as the page's event carries it:
// subscribeDetails is a JSON string whose values are JSON strings.
func TestOpenTagDetail(t *testing.T) {
	body := openTagBody(t, `{"result":{"errMsg":"subscribe:ok","subscribeDetails":"{\"TPL_A\":\"{\\\"status\\\":\\\"accept\\\"}\",\"TPL_B\":\"{\\\"status\\\":\\\"reject\\\"}\",\"TPL_C\":\"{\\\"status\\\":\\\"cancel\\\"}\",\"TPL_D\":\"{\\\"status\\\":\\\"filter\\\"}\"}"},"report_id":"r1"}`)
	taps, off, err := parseReport(body, true)
	if err != nil || off {
		t.Fatalf("parse: %v %v", err, off)
	}
	want := map[string]ledger.Tap{"TPL_A": ledger.TapAccept, "TPL_B": ledger.TapReject, "TPL_C": ledger.TapCancel, "TPL_D": ledger.TapFilter}
	if len(taps) != len(want) {
		t.Fatalf("taps %v", taps)
	}
	for _, tp := range taps {
		if want[tp.templateID] != tp.tap {
			t.Errorf("%s: %s, want %s", tp.templateID, tp.tap, want[tp.templateID])
		}
	}
	// Clients that decoded the inner strings once are read too.
	for _, raw := range []string{
		`{"result":{"errMsg":"subscribe:ok","subscribeDetails":"{\"TPL_A\":{\"status\":\"accept\"}}"}}`,
		`{"result":{"errMsg":"subscribe:ok","subscribeDetails":"{\"TPL_A\":\"accept\"}"}}`,
	} {
		taps, _, err := parseReport(openTagBody(t, raw), true)
		if err != nil || len(taps) != 1 || taps[0].tap != ledger.TapAccept {
			t.Errorf("%s: %v %v", raw, taps, err)
		}
	}
	// cancel changes nothing.
	if c := ledger.OnTap(ledger.OneTime, ledger.TapCancel); !c.Ignore {
		t.Errorf("cancel changes %+v", c)
	}
}

func TestOpenTagDetailRefusals(t *testing.T) {
	for name, raw := range map[string]string{
		"mini-program result": `{"result":{"errMsg":"requestSubscribeMessage:ok","TPL_A":"accept"}}`,
		"no details":          `{"result":{"errMsg":"subscribe:ok"}}`,
		"details an object":   `{"result":{"errMsg":"subscribe:ok","subscribeDetails":{"TPL_A":"accept"}}}`,
		"details not JSON":    `{"result":{"errMsg":"subscribe:ok","subscribeDetails":"{oops"}}`,
		"ban":                 `{"result":{"errMsg":"subscribe:ok","subscribeDetails":"{\"TPL_A\":\"{\\\"status\\\":\\\"ban\\\"}\"}"}}`,
		"unknown status":      `{"result":{"errMsg":"subscribe:ok","subscribeDetails":"{\"TPL_A\":\"{\\\"status\\\":\\\"maybe\\\"}\"}"}}`,
		"status not a string": `{"result":{"errMsg":"subscribe:ok","subscribeDetails":"{\"TPL_A\":\"{\\\"status\\\":1}\"}"}}`,
		"extra field":         `{"result":{"errMsg":"subscribe:ok","subscribeDetails":"{}","x":1}}`,
		"empty":               `{"result":{"errMsg":"subscribe:ok","subscribeDetails":"{}"}}`,
		"bad template id":     `{"result":{"errMsg":"subscribe:ok","subscribeDetails":"{\"a b\":\"accept\"}"}}`,
		"too many":            `{"result":{"errMsg":"subscribe:ok","subscribeDetails":"{\"a\":\"accept\",\"b\":\"accept\",\"c\":\"accept\",\"d\":\"accept\",\"e\":\"accept\",\"f\":\"accept\"}"}}`,
	} {
		taps, _, err := parseReport(openTagBody(t, raw), true)
		var he *httpapi.Error
		if err == nil || !errors.As(err, &he) || he.Status != http.StatusBadRequest || taps != nil {
			t.Errorf("%s: %v %v, want 400", name, taps, err)
		}
	}
	// The mini-program parser does not take the open tag's detail.
	if _, _, err := parseReport(openTagBody(t, `{"result":{"errMsg":"subscribe:ok","subscribeDetails":"{\"TPL_A\":\"accept\"}"}}`), false); err == nil {
		t.Error("a mini-program stack took the open tag's detail")
	}
}
