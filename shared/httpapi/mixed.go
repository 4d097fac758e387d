package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
)

// ScheduledFunc runs a function's scheduled job with the schedule's Input.
type ScheduledFunc func(ctx context.Context, input json.RawMessage) (any, error)

// Mixed is the Lambda handler of a function that has both API routes and
// schedules: an API Gateway event (one that carries a routeKey) goes to api,
// any other event to scheduled.
func Mixed(api HandlerFunc, scheduled ScheduledFunc) func(context.Context, json.RawMessage) (any, error) {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var probe struct {
			RouteKey *string `json:"routeKey"`
		}
		if json.Unmarshal(raw, &probe) == nil && probe.RouteKey != nil {
			var req Request
			if err := json.Unmarshal(raw, &req); err != nil {
				return nil, fmt.Errorf("read the API Gateway event: %w", err)
			}
			return api(ctx, req)
		}
		return scheduled(ctx, raw)
	}
}
