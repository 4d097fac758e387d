package messages

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"testing"

	"github.com/wxsub/wxsub/shared/httpapi"
	"github.com/wxsub/wxsub/shared/wechat"
)

// Seeds live in testdata/fuzz/<FuzzName>/.

// decodeSend runs a POST /v1/messages body through the handler's decoder and
// validator, exactly as post does.
func decodeSend(body []byte) (wechat.Message, error) {
	req := httpapi.Request{Body: string(body), Headers: map[string]string{"content-type": "application/json"}}
	var raw Body
	if herr := httpapi.Decode(req, &raw, 16<<10); herr != nil {
		return wechat.Message{}, herr
	}
	return parseRequest(raw)
}

// FuzzSendBody: any body is either refused with a 4xx that names what to fix,
// or turned into a message whose every field has the shape WeChat wants; the
// body wxsub then sends to WeChat is itself an accepted send body that
// decodes to the same message (callers may switch from WeChat's URL to ours).
func FuzzSendBody(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, err := decodeSend(body)
		if err != nil {
			var herr *httpapi.Error
			if !errors.As(err, &herr) || herr.Code == "" || herr.Message == "" ||
				(herr.Status != http.StatusBadRequest && herr.Status != http.StatusRequestEntityTooLarge) {
				t.Fatalf("refusal %v is not a 400 or 413 of the contract", err)
			}
			return
		}
		if !httpapi.ValidOpenID(msg.ToUser) || !httpapi.ValidTemplateID(msg.TemplateID) {
			t.Fatalf("accepted touser %q, template_id %q", msg.ToUser, msg.TemplateID)
		}
		if len(msg.Data) == 0 || len(msg.Data) > 20 || len(msg.Page) > 1024 {
			t.Fatalf("accepted %d keywords and a page of %d bytes", len(msg.Data), len(msg.Page))
		}
		if !states[msg.MiniprogramState] || !langs[msg.Lang] {
			t.Fatalf("accepted miniprogram_state %q, lang %q", msg.MiniprogramState, msg.Lang)
		}
		wire, err := json.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeSend(wire)
		if err != nil {
			t.Fatalf("the body sent to WeChat, %s, is refused: %v", wire, err)
		}
		if !reflect.DeepEqual(again, msg) {
			t.Fatalf("%s decodes to %+v, want %+v", wire, again, msg)
		}
	})
}

// FuzzDataValue: a data value is accepted only as valid JSON; a JSON string
// is taken as it is; and the text an accepted value yields reads back the
// same from both forms WeChat and wxsub accept.
func FuzzDataValue(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		text, err := dataValue(raw)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if !json.Valid(raw) {
			t.Fatalf("invalid JSON %q accepted as %q", raw, text)
		}
		var s string
		if json.Unmarshal(raw, &s) == nil && s != text {
			t.Fatalf("string %s read as %q", raw, text)
		}
		plain, _ := json.Marshal(text)
		wrapped, _ := json.Marshal(wechat.Value{Value: text})
		for _, form := range [][]byte{plain, wrapped} {
			if got, err := dataValue(form); err != nil || got != text {
				t.Fatalf("%s reads %q, %v; want %q (from %s)", form, got, err, text, raw)
			}
		}
	})
}
