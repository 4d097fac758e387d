package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
)

type body struct {
	Code string `json:"code"`
	N    int    `json:"n"`
}

func req(ct, b string) Request {
	r := Request{Body: b, Headers: map[string]string{}}
	if ct != "" {
		r.Headers["content-type"] = ct
	}
	return r
}

func TestDecodeIsStrict(t *testing.T) {
	cases := []struct {
		name, ct, body string
		status         int
		code           string
	}{
		{"ok", "application/json", `{"code":"a","n":1}`, 0, ""},
		{"charset ok", "application/json; charset=utf-8", `{"code":"a"}`, 0, ""},
		{"unknown field", "application/json", `{"code":"a","x":1}`, 400, "unknown_field"},
		{"trailing data", "application/json", `{"code":"a"}{"code":"b"}`, 400, "invalid_json"},
		{"syntax", "application/json", `{"code":`, 400, "invalid_json"},
		{"wrong type", "application/json", `{"code":1}`, 400, "invalid_json"},
		{"empty", "application/json", ``, 400, "invalid_json"},
		{"form", "application/x-www-form-urlencoded", `code=a`, 415, "unsupported_media_type"},
		{"too large", "application/json", `{"code":"` + strings.Repeat("a", 200) + `"}`, 413, "body_too_large"},
	}
	for _, c := range cases {
		var v body
		err := Decode(req(c.ct, c.body), &v, 100)
		if c.status == 0 {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if err == nil || err.Status != c.status || err.Code != c.code {
			t.Errorf("%s: got %v, want %d %s", c.name, err, c.status, c.code)
		}
	}
}

func TestErrorShape(t *testing.T) {
	e := Errorf(http.StatusConflict, "no_credit", "nothing left")
	e.WeChat = &WeChatError{ErrCode: 43101, ErrMsg: "user refuse"}
	resp := e.Response()
	var got map[string]map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 409 || got["error"]["code"] != "no_credit" || got["error"]["message"] != "nothing left" ||
		got["error"]["wechat"].(map[string]any)["errcode"] != float64(43101) {
		t.Fatalf("answer %d %s", resp.StatusCode, resp.Body)
	}
	if _, has := got["error"]["details"]; has {
		t.Fatalf("details present though empty: %s", resp.Body)
	}
}

func TestRouterHidesInternalErrors(t *testing.T) {
	r := Router{"GET /x": func(context.Context, Request) (Response, error) {
		return Response{}, errors.New("dynamodb said: secret-internal-detail")
	}}
	resp, _ := r.Handle(context.Background(), Request{RouteKey: "GET /x"})
	if resp.StatusCode != 500 || strings.Contains(resp.Body, "secret-internal-detail") {
		t.Fatalf("internal error leaked: %d %s", resp.StatusCode, resp.Body)
	}
	resp, _ = r.Handle(context.Background(), Request{RouteKey: "GET /y"})
	if resp.StatusCode != 404 {
		t.Fatalf("unknown route: %d", resp.StatusCode)
	}
}

func TestBearerAndIDs(t *testing.T) {
	if Bearer(Request{Headers: map[string]string{"authorization": "Bearer abc"}}) != "abc" {
		t.Fatal("bearer not read")
	}
	if Bearer(Request{Headers: map[string]string{"Authorization": "Basic abc"}}) != "" {
		t.Fatal("basic auth read as bearer")
	}
	if !ValidOpenID("oAbc_-123456") || ValidOpenID("o") || ValidOpenID("o'; DROP") || ValidOpenID(strings.Repeat("a", 65)) {
		t.Fatal("openid shape")
	}
	if !ValidTemplateID("RaAXmaHZ6OFYKcCbG9rsyEpBqsERIZsLLga8-KL5xqI") || ValidTemplateID("") || ValidTemplateID("a/b") {
		t.Fatal("template id shape")
	}
}

func TestStoreFailuresAnswer503(t *testing.T) {
	r := Router{"GET /x": func(context.Context, Request) (Response, error) {
		return Response{}, fmt.Errorf("read ledger: %w", &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "Query", Err: errors.New("throttled")})
	}}
	resp, _ := r.Handle(context.Background(), Request{RouteKey: "GET /x"})
	if resp.StatusCode != 503 || !strings.Contains(resp.Body, "store_unavailable") || strings.Contains(resp.Body, "throttled") {
		t.Fatalf("a DynamoDB failure answered %d %s", resp.StatusCode, resp.Body)
	}
}

// 429 and 503 answers tell the caller when to retry; others do not.
func TestRetryAfter(t *testing.T) {
	// 23:59:30 in China: the daily quota resets in 30 s.
	now := time.Date(2026, 12, 1, 15, 59, 30, 0, time.UTC)
	for _, c := range []struct {
		status int
		code   string
		want   int
	}{
		{429, "quota_exhausted", 31},
		{429, "rate_limited", 60},
		{503, "token_unavailable", 5},
		{503, "store_unavailable", 1},
		{409, "no_credit", 0},
		{502, "wechat_error", 0},
	} {
		e := Errorf(c.status, c.code, "x")
		if got := e.RetryAfter(now); got != c.want {
			t.Errorf("%d %s: Retry-After %d, want %d", c.status, c.code, got, c.want)
		}
		h, ok := e.Response().Headers["Retry-After"]
		if (c.want > 0) != ok {
			t.Errorf("%d %s: Retry-After header %q present %v", c.status, c.code, h, ok)
		}
	}
}
