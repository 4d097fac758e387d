// Command echo is a Lambda function for the rie package's tests: it answers
// {"event": <the event>, "env": <the value of the variable the event names>},
// fails with the message in "fail", and exits at start when EXIT_AT_INIT is set.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	if os.Getenv("EXIT_AT_INIT") != "" {
		os.Exit(3)
	}
	lambda.Start(func(ctx context.Context, ev json.RawMessage) (any, error) {
		var in struct {
			Fail string `json:"fail"`
			Env  string `json:"env"`
		}
		if err := json.Unmarshal(ev, &in); err != nil {
			return nil, err
		}
		if in.Fail != "" {
			return nil, errors.New(in.Fail)
		}
		return map[string]any{"event": ev, "env": os.Getenv(in.Env)}, nil
	})
}
