package refresher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/wxsub/wxsub/shared/token"
)

// Client is the token.Fetcher of the functions other than the refresher: it
// invokes the refresher synchronously with a fetch-token job, and maps its
// answer back to the plane's errors. The token itself never travels: the
// caller reads it from the shared item.
type Client struct {
	// Call invokes the refresher with a JSON payload and returns its JSON
	// result (LambdaCall in AWS; the local stack calls the handler).
	Call func(ctx context.Context, payload []byte) ([]byte, error)
}

// Fetch implements token.Fetcher.
func (c Client) Fetch(ctx context.Context, req token.FetchRequest) error {
	payload, err := json.Marshal(Request{Job: JobFetch, FetchRequest: req})
	if err != nil {
		return fmt.Errorf("refresher: encode fetch: %w", err)
	}
	out, err := c.Call(ctx, payload)
	if err != nil {
		return fmt.Errorf("refresher: invoke: %w", err)
	}
	var res Result
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("refresher: decode answer: %w", err)
	}
	switch res.Error {
	case "":
		return nil
	case errForceBudget:
		return token.ErrForceBudget
	case errUnavailable:
		return token.ErrUnavailable
	}
	return fmt.Errorf("refresher: unknown refusal %q", res.Error)
}

// LambdaAPI is the part of the Lambda client that LambdaCall uses.
type LambdaAPI interface {
	Invoke(context.Context, *lambda.InvokeInput, ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// LambdaCall invokes the function named fn synchronously (RequestResponse)
// and returns its result; a failure of the function is an error.
func LambdaCall(api LambdaAPI, fn string) func(context.Context, []byte) ([]byte, error) {
	return func(ctx context.Context, payload []byte) ([]byte, error) {
		out, err := api.Invoke(ctx, &lambda.InvokeInput{
			FunctionName: aws.String(fn), InvocationType: types.InvocationTypeRequestResponse, Payload: payload,
		})
		if err != nil {
			return nil, err
		}
		if out.FunctionError != nil {
			var fe struct {
				ErrorMessage string `json:"errorMessage"`
			}
			json.Unmarshal(out.Payload, &fe)
			return nil, errors.New("the refresher failed: " + aws.ToString(out.FunctionError) + ": " + fe.ErrorMessage)
		}
		return out.Payload, nil
	}
}
