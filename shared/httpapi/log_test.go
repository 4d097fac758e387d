package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestHandleWithLogsOneLinePerRequest(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	r := Router{
		"GET /v1/users/{openid}/subscriptions": func(context.Context, Request) (Response, error) {
			return JSON(200, map[string]string{"ok": "yes"}), nil
		},
		"POST /v1/broken": func(context.Context, Request) (Response, error) {
			return Response{}, errors.New("boom")
		},
	}
	req := Request{
		RouteKey:       "GET /v1/users/{openid}/subscriptions",
		RawPath:        "/v1/users/oFullOpenID1234567890abcdef/subscriptions",
		RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "req-1"},
	}
	if resp, _ := r.HandleWith(context.Background(), req, log, "appid", "wx0123456789abcdef"); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	r.HandleWith(context.Background(), Request{RouteKey: "POST /v1/broken", RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "req-2"}}, log)

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var reqLines []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %s", l)
		}
		if m["msg"] == "request" {
			reqLines = append(reqLines, m)
		}
	}
	if len(reqLines) != 2 {
		t.Fatalf("want one request line per request, got %d:\n%s", len(reqLines), buf.String())
	}
	first := reqLines[0]
	if first["request_id"] != "req-1" || first["route"] != "GET /v1/users/{openid}/subscriptions" ||
		first["status"] != 200.0 || first["appid"] != "wx0123456789abcdef" || first["level"] != "INFO" {
		t.Errorf("request line: %v", first)
	}
	if _, ok := first["duration_ms"].(float64); !ok {
		t.Errorf("no duration_ms: %v", first)
	}
	if strings.Contains(buf.String(), "oFullOpenID") {
		t.Error("the request line carries the raw path with the openid")
	}
	if second := reqLines[1]; second["status"] != 500.0 || second["level"] != "ERROR" {
		t.Errorf("a 500 is not logged as an error: %v", second)
	}
}

func TestMixedRoutesAPIAndScheduledEvents(t *testing.T) {
	var got []string
	h := Mixed(func(_ context.Context, req Request) (Response, error) {
		got = append(got, "api "+req.RouteKey)
		return JSON(200, nil), nil
	}, func(_ context.Context, in json.RawMessage) (any, error) {
		got = append(got, "scheduled "+string(in))
		return map[string]int{"n": 1}, nil
	})
	if out, err := h(context.Background(), json.RawMessage(`{"version":"2.0","routeKey":"GET /v1/quota","rawPath":"/v1/quota"}`)); err != nil {
		t.Fatal(err)
	} else if resp, ok := out.(Response); !ok || resp.StatusCode != 200 {
		t.Fatalf("API answer %#v", out)
	}
	if _, err := h(context.Background(), json.RawMessage(`{"job":"quota-watch"}`)); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "api GET /v1/quota" || got[1] != `scheduled {"job":"quota-watch"}` {
		t.Fatalf("dispatch: %v", got)
	}
}
