package httpapi_test

import (
	"encoding/json"
	"testing"

	"github.com/wxsub/wxsub/shared/httpapi"
)

// BenchmarkDecode decodes a typical POST /v1/messages body strictly, as
// every send does first.
func BenchmarkDecode(b *testing.B) {
	type send struct {
		ToUser           string                     `json:"touser"`
		TemplateID       string                     `json:"template_id"`
		Page             string                     `json:"page"`
		Data             map[string]json.RawMessage `json:"data"`
		MiniprogramState string                     `json:"miniprogram_state"`
		Lang             string                     `json:"lang"`
	}
	req := httpapi.Request{
		Headers: map[string]string{"content-type": "application/json"},
		Body: `{"touser":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o","template_id":"RaAXmaHZ6OFYKcCbG9rsyEpBqsERIZsLLga8-KL5xqI",` +
			`"page":"pages/order/detail?id=SO20240518001","miniprogram_state":"formal","lang":"zh_CN",` +
			`"data":{"character_string1":{"value":"SO20240518001"},"thing2":{"value":"无线蓝牙耳机"},` +
			`"amount3":{"value":"¥199.00"},"date4":{"value":"2024年5月18日"},"phrase5":{"value":"已发货"}}}`,
	}
	b.SetBytes(int64(len(req.Body)))
	for b.Loop() {
		var v send
		if err := httpapi.Decode(req, &v, 16<<10); err != nil {
			b.Fatal(err)
		}
		if len(v.Data) != 5 {
			b.Fatal("data lost")
		}
	}
}
