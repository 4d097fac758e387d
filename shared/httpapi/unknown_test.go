package httpapi

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

type inner struct {
	Name string `json:"name"`
	Skip string `json:"-"`
}

type Embedded struct {
	Promoted string `json:"promoted"`
}

type nestedBody struct {
	Embedded
	Code    string            `json:"code"`
	Items   []inner           `json:"items"`
	One     *inner            `json:"one,omitempty"`
	ByKey   map[string]inner  `json:"by_key"`
	Raw     json.RawMessage   `json:"raw"`
	Any     any               `json:"any"`
	At      time.Time         `json:"at"`
	Plain   string            // named by its Go name
	Labels  map[string]string `json:"labels"`
	private string
}

// TestUnknownFieldAnswer: a body with a field the request does not take is
// answered 400 unknown_field naming the first such field, where encoding/json
// meets it, whether at the top, in a list, behind a pointer, in a map's
// values or beside promoted and case-folded names; other faults keep their
// answers.
func TestUnknownFieldAnswer(t *testing.T) {
	cases := []struct {
		body, code, field string
	}{
		{`{"code":"a","x":1}`, "unknown_field", "x"},
		{`{"CODE":"a","promoted":"p","plain":"q","x":1,"y":2}`, "unknown_field", "x"},
		{`{"items":[{"name":"a"},{"name":"b","nom":"c"}]}`, "unknown_field", "nom"},
		{`{"one":{"Skip":"s"}}`, "unknown_field", "Skip"},
		{`{"by_key":{"k":{"name":"a","extra":true}}}`, "unknown_field", "extra"},
		{`{"raw":{"anything":1},"any":{"goes":2},"labels":{"free":"x"},"at":"2026-01-02T03:04:05Z"}`, "", ""},
		{`{"private":"x"}`, "unknown_field", "private"},
		{`{"code":1,"x":1}`, "invalid_json", ""},   // the type error comes first
		{`{"x":1,"code":1}`, "unknown_field", "x"}, // the unknown field comes first
		{`{"code":"a","x":`, "invalid_json", ""},
	}
	for _, c := range cases {
		var v nestedBody
		err := Decode(req("application/json", c.body), &v, 1<<10)
		if v.private != "" {
			t.Errorf("%s: an unexported field was set", c.body)
		}
		if c.code == "" {
			if err != nil {
				t.Errorf("%s: %v", c.body, err)
			}
			continue
		}
		if err == nil || err.Status != 400 || err.Code != c.code {
			t.Errorf("%s: got %v, want 400 %s", c.body, err, c.code)
			continue
		}
		if c.field != "" {
			if want := fmt.Sprintf("%q is not a field of this request; remove it", c.field); err.Message != want {
				t.Errorf("%s: message %q, want %q", c.body, err.Message, want)
			}
		}
	}
}
