package subscriptions

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"sort"
	"testing"

	"github.com/wxsub/wxsub/shared/httpapi"
	"github.com/wxsub/wxsub/shared/ledger"
)

// Seeds live in testdata/fuzz/<FuzzName>/.

// decodeReport runs a POST /v1/subscriptions body through the handler's
// decoder and parser, exactly as report does.
func decodeReport(body []byte) ([]tapOf, bool, error) {
	req := httpapi.Request{Body: string(body), Headers: map[string]string{"content-type": "application/json"}}
	var r reportRequest
	if herr := httpapi.Decode(req, &r, 8<<10); herr != nil {
		return nil, false, herr
	}
	return parseReport(r, false)
}

// FuzzReport: a report body, raw popup result or normalised list, is either
// refused with a 4xx of the contract and changes nothing, or yields 1 to 5
// distinct, well-formed templates with a known answer each; and the two body
// shapes say the same thing: the taps re-sent in either shape parse to the
// same taps.
func FuzzReport(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		taps, off, err := decodeReport(body)
		if err != nil {
			var herr *httpapi.Error
			if !errors.As(err, &herr) || herr.Code == "" || herr.Message == "" ||
				(herr.Status != http.StatusBadRequest && herr.Status != http.StatusRequestEntityTooLarge &&
					herr.Status != http.StatusUnprocessableEntity) {
				t.Fatalf("refusal %v is not a 400, 413 or 422 of the contract", err)
			}
			if taps != nil || off {
				t.Fatalf("a refused report still yields taps %v, off %v", taps, off)
			}
			return
		}
		if off {
			if taps != nil {
				t.Fatalf("main switch off with taps %v", taps)
			}
			return
		}
		if len(taps) == 0 || len(taps) > MaxTemplatesPerReport {
			t.Fatalf("%d taps accepted", len(taps))
		}
		if !sort.SliceIsSorted(taps, func(i, j int) bool { return taps[i].templateID < taps[j].templateID }) {
			t.Fatalf("taps not ordered: %v", taps)
		}
		result := map[string]string{"errMsg": "requestSubscribeMessage:ok"}
		var results []reportResult
		for i, tp := range taps {
			if !httpapi.ValidTemplateID(tp.templateID) {
				t.Fatalf("accepted template id %q", tp.templateID)
			}
			if _, ok := ledger.ParseTap(string(tp.tap)); !ok {
				t.Fatalf("accepted answer %q", tp.tap)
			}
			if i > 0 && taps[i-1].templateID == tp.templateID {
				t.Fatalf("template %s counted twice", tp.templateID)
			}
			result[tp.templateID] = string(tp.tap)
			results = append(results, reportResult{TemplateID: tp.templateID, Status: string(tp.tap)})
		}
		shapes := []any{map[string]any{"results": results}}
		if _, clash := result["errCode"]; !clash && len(result) == len(taps)+1 {
			// The raw object's own members are not template ids, so a list
			// naming a template "errMsg" or "errCode" has no raw form.
			shapes = append(shapes, map[string]any{"result": result})
		}
		for _, shape := range shapes {
			again, _ := json.Marshal(shape)
			got, gotOff, err := decodeReport(again)
			if err != nil || gotOff || !reflect.DeepEqual(got, taps) {
				t.Fatalf("%s parses to %v, %v, %v; want %v (from %s)", again, got, gotOff, err, taps, body)
			}
		}
	})
}
