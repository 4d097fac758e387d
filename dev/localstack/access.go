package localstack

import (
	"context"
	"maps"
	"net/http"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/wxsub/wxsub/shared/store"
)

// Access is one IAM permission a request needs: a DynamoDB action on the
// table ("table") or on one of its indexes ("index/<name>"), or
// lambda:InvokeFunction on a function (its logical id). A transaction
// needs the action of each of its items (PutItem for a Put, and so on), as
// IAM checks them one by one
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
type Access struct {
	Action, Resource string
}

// accessLog records which permissions each function's requests needed, so
// that a test can hold template.yaml's policies to what the code does.
type accessLog struct {
	mu   sync.Mutex
	byFn map[string]map[Access]bool
}

type functionKey struct{}

// withFunction marks ctx as the invocation of the function logicalID.
func withFunction(ctx context.Context, logicalID string) context.Context {
	return context.WithValue(ctx, functionKey{}, logicalID)
}

func (l *accessLog) add(ctx context.Context, actions ...Access) {
	fn, _ := ctx.Value(functionKey{}).(string)
	if fn == "" {
		fn = "(no function)"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byFn == nil {
		l.byFn = map[string]map[Access]bool{}
	}
	if l.byFn[fn] == nil {
		l.byFn[fn] = map[Access]bool{}
	}
	for _, a := range actions {
		l.byFn[fn][a] = true
	}
}

// DynamoDBAccess returns, for each function that made DynamoDB requests (or
// invoked another function) since the stack started, the permissions those
// requests needed, sorted.
// Requests made outside any function (the stack's own set-up) are under
// "(no function)".
func (s *Stack) DynamoDBAccess() map[string][]Access {
	s.access.mu.Lock()
	defer s.access.mu.Unlock()
	out := map[string][]Access{}
	for fn, set := range s.access.byFn {
		for a := range set {
			out[fn] = append(out[fn], a)
		}
		sort.Slice(out[fn], func(i, j int) bool {
			if out[fn][i].Action != out[fn][j].Action {
				return out[fn][i].Action < out[fn][j].Action
			}
			return out[fn][i].Resource < out[fn][j].Resource
		})
	}
	return out
}

// recording passes every request to api and logs the permissions it needs.
type recording struct {
	api store.API
	log *accessLog
}

func table(action string) Access { return Access{Action: "dynamodb:" + action, Resource: "table"} }

func (r recording) GetItem(ctx context.Context, in *dynamodb.GetItemInput, fns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	r.log.add(ctx, table("GetItem"))
	return r.api.GetItem(ctx, in, fns...)
}

func (r recording) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, fns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	r.log.add(ctx, table("BatchGetItem"))
	return r.api.BatchGetItem(ctx, in, fns...)
}

func (r recording) PutItem(ctx context.Context, in *dynamodb.PutItemInput, fns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	r.log.add(ctx, table("PutItem"))
	return r.api.PutItem(ctx, in, fns...)
}

func (r recording) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, fns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	r.log.add(ctx, table("UpdateItem"))
	return r.api.UpdateItem(ctx, in, fns...)
}

func (r recording) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, fns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	r.log.add(ctx, table("DeleteItem"))
	return r.api.DeleteItem(ctx, in, fns...)
}

func (r recording) Query(ctx context.Context, in *dynamodb.QueryInput, fns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	a := table("Query")
	if in.IndexName != nil {
		a.Resource = "index/" + aws.ToString(in.IndexName)
	}
	r.log.add(ctx, a)
	return r.api.Query(ctx, in, fns...)
}

func (r recording) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, fns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	for _, it := range in.TransactItems {
		switch {
		case it.Put != nil:
			r.log.add(ctx, table("PutItem"))
		case it.Update != nil:
			r.log.add(ctx, table("UpdateItem"))
		case it.Delete != nil:
			r.log.add(ctx, table("DeleteItem"))
		case it.ConditionCheck != nil:
			r.log.add(ctx, table("ConditionCheckItem"))
		}
	}
	return r.api.TransactWriteItems(ctx, in, fns...)
}

// callLog records the WeChat API calls made through it, by function (the
// invocation its request's context belongs to) and path. It is the
// transport of the functions' WeChat client.
type callLog struct {
	mu   sync.Mutex
	byFn map[string]map[string]int
}

// RoundTrip records the call and makes it.
func (l *callLog) RoundTrip(r *http.Request) (*http.Response, error) {
	fn, _ := r.Context().Value(functionKey{}).(string)
	if fn == "" {
		fn = "(no function)"
	}
	l.mu.Lock()
	if l.byFn == nil {
		l.byFn = map[string]map[string]int{}
	}
	if l.byFn[fn] == nil {
		l.byFn[fn] = map[string]int{}
	}
	l.byFn[fn][r.URL.Path]++
	l.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (l *callLog) snapshot() map[string]map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]map[string]int{}
	for fn, m := range l.byFn {
		out[fn] = maps.Clone(m)
	}
	return out
}
