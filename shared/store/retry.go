package store

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// Retry policy of every request the store makes. DynamoDB refuses a write to
// an item that an ongoing transaction holds (TransactionConflictException)
// and cancels a transaction that meets one (TransactionCanceledException,
// reason TransactionConflict); a hot item is throttled. The SDK's standard
// retryer retries throttles but neither kind of conflict
// (aws-sdk-go-v2 aws/retry/standard.go, DefaultThrottleErrorCodes), and AWS
// documents that both are to be retried by the application:
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-conflict-handling
const (
	// retryAttempts bounds the attempts of one request (the SDK's DynamoDB
	// default is 4): enough for dozens of concurrent sends to one user,
	// whose transactions all meet on the user's row.
	retryAttempts = 16
	// retryBaseDelay is the first backoff (the SDK's DynamoDB default); it
	// doubles with each attempt, with full jitter, up to retryMaxBackoff.
	retryBaseDelay  = 25 * time.Millisecond
	retryMaxBackoff = time.Second
)

// otherAttempts bounds the attempts after other retryable failures (a 5xx,
// a lost connection): the SDK's DynamoDB default, so that an outage is
// answered in a second or two rather than waited out.
const otherAttempts = 4

// retryer is the SDK's standard retryer (jittered exponential backoff) that
// also retries DynamoDB's conflicts, up to retryAttempts, and other failures
// up to otherAttempts. It has no client-side retry quota: a burst of
// conflicts must not turn into refused requests.
type retryer struct {
	*retry.Standard
}

// RetryDelay stops the retries of a failure that is not a conflict after
// otherAttempts (the SDK's retry middleware returns the error it is given).
func (r retryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	if attempt >= otherAttempts && !IsConflict(err) {
		return 0, err
	}
	return r.Standard.RetryDelay(attempt, err)
}

func newRetryer() aws.Retryer {
	return retryer{retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = retryAttempts
		o.BaseDelay = retryBaseDelay
		o.MaxBackoff = retryMaxBackoff
		o.RateLimiter = ratelimit.None
		o.Retryables = append(append([]retry.IsErrorRetryable(nil), o.Retryables...),
			retry.IsErrorRetryableFunc(conflictRetryable))
	})}
}

// conflictRetryable says yes to TransactionConflictException and to a
// cancelled transaction whose reasons are only conflicts and throttles (a
// failed condition is an answer, not something to retry).
func conflictRetryable(err error) aws.Ternary {
	if IsConflict(err) {
		return aws.TrueTernary
	}
	return aws.UnknownTernary
}

// IsConflict reports whether err is DynamoDB refusing a request only because
// of other requests in flight or too many writes to one item: a
// TransactionConflictException, a throttle, or a transaction cancelled for
// those reasons alone.
func IsConflict(err error) bool {
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		busy := false
		for _, r := range tce.CancellationReasons {
			switch aws.ToString(r.Code) {
			case "None", "":
			case "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded":
				busy = true
			default:
				return false
			}
		}
		return busy
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "TransactionConflictException", "ThrottlingException", "ProvisionedThroughputExceededException":
			return true
		}
	}
	return false
}

// retrying gives every request the store's retry policy, whatever retryer
// the client was built with (a per-request option of the SDK).
type retrying struct {
	api     API
	retryer aws.Retryer
}

func (r retrying) opts(fns []func(*dynamodb.Options)) []func(*dynamodb.Options) {
	return append(fns, func(o *dynamodb.Options) { o.Retryer = r.retryer })
}

func (r retrying) GetItem(ctx context.Context, in *dynamodb.GetItemInput, fns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return r.api.GetItem(ctx, in, r.opts(fns)...)
}

func (r retrying) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, fns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return r.api.BatchGetItem(ctx, in, r.opts(fns)...)
}

func (r retrying) PutItem(ctx context.Context, in *dynamodb.PutItemInput, fns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return r.api.PutItem(ctx, in, r.opts(fns)...)
}

func (r retrying) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, fns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return r.api.UpdateItem(ctx, in, r.opts(fns)...)
}

func (r retrying) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, fns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return r.api.DeleteItem(ctx, in, r.opts(fns)...)
}

func (r retrying) Query(ctx context.Context, in *dynamodb.QueryInput, fns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return r.api.Query(ctx, in, r.opts(fns)...)
}

func (r retrying) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, fns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return r.api.TransactWriteItems(ctx, in, r.opts(fns)...)
}

// MayHaveWritten reports whether a failed write may have been applied all
// the same: DynamoDB's 5xx answers, timeouts and lost connections leave it
// open, while a refusal (a 4xx such as a cancelled transaction or a
// validation error) means nothing was written.
func MayHaveWritten(err error) bool {
	if err == nil {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorFault() == smithy.FaultClient {
		return false
	}
	var tce *types.TransactionCanceledException
	return !errors.As(err, &tce)
}
