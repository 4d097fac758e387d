package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// Seeds live in testdata/fuzz/<FuzzName>/.

// fuzzBody has a member of every kind the routes' bodies use.
type fuzzBody struct {
	Code    string            `json:"code"`
	N       int               `json:"n"`
	F       float64           `json:"f"`
	OK      bool              `json:"ok"`
	List    []string          `json:"list"`
	Map     map[string]string `json:"map"`
	Inner   *fuzzInner        `json:"inner"`
	Results []fuzzInner       `json:"results"`
	Any     any               `json:"any"`
}

type fuzzInner struct {
	A string `json:"a"`
	B int64  `json:"b"`
}

const fuzzLimit = 512

// FuzzDecode: whatever the content type and body, Decode never panics and
// either refuses with one of its documented answers or fills the value with
// exactly what a lenient decoder reads from a body that is one JSON object
// within the limit; and what it accepted, encoded again, is accepted again
// as the same value.
func FuzzDecode(f *testing.F) {
	codes := map[string]int{
		"invalid_json": http.StatusBadRequest, "unknown_field": http.StatusBadRequest,
		"invalid_body": http.StatusBadRequest, "body_too_large": http.StatusRequestEntityTooLarge,
		"unsupported_media_type": http.StatusUnsupportedMediaType, "invalid_utf8": http.StatusBadRequest,
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte, base64Encoded bool) {
		req := Request{Headers: map[string]string{}, Body: string(body)}
		if contentType != "" {
			req.Headers["content-type"] = contentType
		}
		if base64Encoded {
			req.Body = base64.StdEncoding.EncodeToString(body)
			req.IsBase64Encoded = true
		}
		var v fuzzBody
		herr := Decode(req, &v, fuzzLimit)
		if herr != nil {
			if status, ok := codes[herr.Code]; !ok || status != herr.Status || herr.Message == "" {
				t.Fatalf("refusal %d %s %q is not one of Decode's answers", herr.Status, herr.Code, herr.Message)
			}
			return
		}
		if contentType == "" {
			t.Fatal("accepted a body without Content-Type")
		}
		if !utf8.Valid(body) {
			t.Fatal("accepted a body that is not UTF-8")
		}
		{
			mt, _, err := mime.ParseMediaType(contentType)
			if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
				t.Fatalf("accepted Content-Type %q", contentType)
			}
		}
		if len(body) > fuzzLimit || !json.Valid(body) {
			t.Fatalf("accepted %d bytes, valid JSON %v", len(body), json.Valid(body))
		}
		var lenient fuzzBody
		if err := json.Unmarshal(body, &lenient); err != nil || !reflect.DeepEqual(lenient, v) {
			t.Fatalf("Decode read %+v; json.Unmarshal reads %+v, %v", v, lenient, err)
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var w fuzzBody
		if herr := Decode(Request{Body: string(again), Headers: map[string]string{"Content-Type": "application/json"}}, &w, 1<<20); herr != nil {
			t.Fatalf("its own encoding %s is refused: %v", again, herr)
		}
		if !reflect.DeepEqual(w, v) {
			t.Fatalf("%s decodes to %+v, want %+v", again, w, v)
		}
	})
}
