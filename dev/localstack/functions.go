package localstack

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxsub/wxsub/dev/samtemplate"
	"github.com/wxsub/wxsub/shared/backend"
	"github.com/wxsub/wxsub/shared/broadcasts"
	"github.com/wxsub/wxsub/shared/httpapi"
)

// Function is one Lambda of template.yaml as the local stack invokes it.
type Function struct {
	// HTTP answers the function's API routes; nil for a scheduled-only function.
	HTTP httpapi.HandlerFunc
	// Scheduled runs the function's schedule once; nil when it has none.
	Scheduled func(context.Context) error
	// Queue handles a batch of messages of the queue the function consumes,
	// as Lambda's SQS event source delivers them; nil when it consumes none.
	Queue func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)
	// Stream handles a batch of the table's stream records, as Lambda's
	// DynamoDB event source delivers them; nil when it reads none.
	Stream func(context.Context, events.DynamoDBEvent) error
	// Invoke answers a synchronous invocation by another function
	// (lambda:InvokeFunction with a JSON payload); nil when none calls it.
	Invoke func(context.Context, json.RawMessage) (json.RawMessage, error)
}

// Functions maps each logical id of template.yaml to its handler, built from
// b exactly as the function's main.go builds it, except that the broadcast
// functions share bc, whose queue is the local one.
func Functions(b *backend.Backend, bc *broadcasts.Handler) map[string]Function {
	refresh, sw := b.Refresher(), b.Sweep()
	tpls, quota := b.Templates(), b.Quota()
	return map[string]Function{
		"TemplatesFunction": {HTTP: tpls.Handle, Scheduled: func(ctx context.Context) error {
			_, err := tpls.Scheduled(ctx)
			return err
		}},
		"QuotaFunction": {HTTP: quota.Handle, Scheduled: func(ctx context.Context) error {
			_, err := quota.Watch(ctx)
			return err
		}},
		"SessionFunction":         {HTTP: b.Login().Handle},
		"JssdkFunction":           {HTTP: b.Jssdk().Handle},
		"SubscriptionsFunction":   {HTTP: b.Subscriptions().Handle},
		"SendFunction":            {HTTP: b.Messages().Handle},
		"EventsFunction":          {HTTP: b.Events().Handle},
		"BroadcastFunction":       {HTTP: bc.Handle},
		"BroadcastWorkerFunction": {Queue: bc.HandleSQS},
		"TallyFunction":           {Stream: b.Tally().Handle},
		"RemindersFunction": {Scheduled: func(ctx context.Context) error {
			// The queue is the broadcasts' (set after this map is built).
			_, err := b.Reminders(bc.Queue).Run(ctx)
			return err
		}},
		"SweepFunction": {Scheduled: func(ctx context.Context) error {
			_, err := sw.Run(ctx)
			return err
		}},
		"RefreshTokenFunction": {Scheduled: func(ctx context.Context) error {
			_, err := refresh.Handle(ctx, json.RawMessage(`{"job":"refresh-token"}`))
			return err
		}, Invoke: func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
			res, err := refresh.Handle(ctx, in)
			if err != nil {
				return nil, err
			}
			return json.Marshal(res)
		}},
	}
}

// deliver hands one job to a queue handler as Lambda's SQS event source
// would: in a one-record SQS event. A failure the handler reports is an
// error, so that the local queue delivers the job again.
func deliver(ctx context.Context, handle func(context.Context, events.SQSEvent) (events.SQSEventResponse, error), j broadcasts.Job) error {
	body, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("localstack: encode job: %w", err)
	}
	var id [16]byte
	rand.Read(id[:])
	sum := md5.Sum(body)
	msg := events.SQSMessage{
		MessageId: hex.EncodeToString(id[:]), ReceiptHandle: "local-" + hex.EncodeToString(id[:]),
		Body: string(body), Md5OfBody: hex.EncodeToString(sum[:]),
		Attributes:  map[string]string{"ApproximateReceiveCount": "1"},
		EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:us-east-1:000000000000:local-BroadcastQueue", AWSRegion: "us-east-1",
	}
	resp, err := handle(ctx, events.SQSEvent{Records: []events.SQSMessage{msg}})
	if err != nil {
		return err
	}
	if len(resp.BatchItemFailures) > 0 {
		return fmt.Errorf("localstack: %s job of broadcast %s failed", j.Type, j.BroadcastID)
	}
	return nil
}

// toEvent builds the API Gateway HTTP API payload 2.0 event for r.
func toEvent(r *http.Request, route samtemplate.Route, params map[string]string, body []byte) events.APIGatewayV2HTTPRequest {
	headers := map[string]string{}
	var cookies []string
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		if lk == "cookie" {
			cookies = append(cookies, vs...)
			continue
		}
		headers[lk] = strings.Join(vs, ",")
	}
	query := map[string]string{}
	for k, vs := range r.URL.Query() {
		query[k] = strings.Join(vs, ",")
	}
	var id [8]byte
	rand.Read(id[:])
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	now := time.Now()
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              route.Key(),
		RawPath:               r.URL.Path,
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:   route.Key(),
			AccountID:  "000000000000",
			Stage:      "$default",
			RequestID:  hex.EncodeToString(id[:]),
			APIID:      "local",
			DomainName: r.Host,
			Time:       now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:  now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: r.Method, Path: r.URL.Path, Protocol: r.Proto, SourceIP: ip, UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

func iamAuthorizer() *events.APIGatewayV2HTTPRequestContextAuthorizerDescription {
	return &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{
			AccessKey: "LOCAL", AccountID: "000000000000", CallerID: "local-admin",
			UserARN: "arn:aws:iam::000000000000:user/local-admin", UserID: "local-admin",
		},
	}
}

func writeResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) {
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if dec, err := base64.StdEncoding.DecodeString(resp.Body); err == nil {
			body = dec
		}
	}
	if w.Header().Get("Content-Type") == "" && len(body) > 0 {
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	w.Write(body)
}
