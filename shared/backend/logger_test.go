package backend

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxsub/wxsub/shared/httpapi"
)

// TestRequestLineIsRedacted logs a request through the router with
// attributes a careless handler might add: the line keeps the request's
// identity and loses the secrets.
func TestRequestLineIsRedacted(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf)
	const openid, tok, session = "oAbCdEf1234567890abcdefghijk", "ACCESS_TOKEN_VALUE_123", "eyJhbGciOi.session.sig"
	r := httpapi.Router{"GET /v1/users/{openid}/subscriptions": func(context.Context, httpapi.Request) (httpapi.Response, error) {
		return httpapi.JSON(200, nil), nil
	}}
	req := httpapi.Request{
		RouteKey:       "GET /v1/users/{openid}/subscriptions",
		RawPath:        "/v1/users/" + openid + "/subscriptions",
		Headers:        map[string]string{"authorization": "Bearer " + session},
		RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "rid-42"},
	}
	r.HandleWith(context.Background(), req, log, "appid", "wx0123456789abcdef", "openid", openid, "token", tok, "session", session)

	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %v: %s", err, buf.String())
	}
	if line["msg"] != "request" || line["request_id"] != "rid-42" || line["route"] != "GET /v1/users/{openid}/subscriptions" ||
		line["status"] != 200.0 || line["appid"] != "wx0123456789abcdef" {
		t.Errorf("request line: %s", buf.String())
	}
	for _, secret := range []string{openid, tok, session} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("the request line carries %q: %s", secret, buf.String())
		}
	}
	if line["openid"] != "oAbCdE***" {
		t.Errorf("openid logged as %v, want its first 6 characters", line["openid"])
	}
}
