// Package httpapi holds what every HTTP function of wxsub shares on top of API
// Gateway's HTTP API payload format 2.0: strict, size-limited JSON decoding,
// the one error shape of the contract, bearer tokens, and dispatch on the
// route key.
package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/smithy-go"

	"github.com/wxsub/wxsub/shared/sessiontoken"
)

// Request and Response are API Gateway HTTP API (payload 2.0) events.
type (
	Request  = events.APIGatewayV2HTTPRequest
	Response = events.APIGatewayV2HTTPResponse
)

// DefaultBodyLimit is the largest request body accepted unless a route says otherwise.
const DefaultBodyLimit = 64 << 10

// WeChatError is the WeChat answer attached to an error, when one caused it.
type WeChatError struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// Error is an error answer of the contract:
// {"error":{"code","message","details"?,"wechat"?}}.
type Error struct {
	Status  int          `json:"-"`
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Details []any        `json:"details,omitempty"`
	WeChat  *WeChatError `json:"wechat,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Errorf builds an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Response renders the error. A 429 or 503 answer carries Retry-After
// (RetryAfter).
func (e *Error) Response() Response {
	resp := JSON(e.Status, struct {
		Error *Error `json:"error"`
	}{e})
	if s := e.RetryAfter(time.Now()); s > 0 {
		resp.Headers["Retry-After"] = strconv.Itoa(s)
	}
	return resp
}

// china is China Standard Time, where WeChat's daily quotas reset (no
// daylight saving).
var china = time.FixedZone("CST", 8*3600)

// RetryAfter returns the seconds a caller should wait before retrying a 429
// or 503 answer given at now, and 0 for other answers:
//   - quota_exhausted (WeChat's 45009): until WeChat's daily quotas reset at
//     midnight China time;
//   - rate_limited (WeChat's 45011, a per-minute limit): a minute;
//   - token_unavailable: 5 s, the time a refresh takes;
//   - store_unavailable and any other 429 or 503: 1 s.
func (e *Error) RetryAfter(now time.Time) int {
	if e.Status != http.StatusTooManyRequests && e.Status != http.StatusServiceUnavailable {
		return 0
	}
	switch e.Code {
	case "quota_exhausted":
		t := now.In(china)
		midnight := time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, china)
		return int(midnight.Sub(t).Seconds()) + 1
	case "rate_limited":
		return 60
	case "token_unavailable":
		return 5
	}
	return 1
}

// JSON renders v as a JSON answer with the status.
func JSON(status int, v any) Response {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return Response{StatusCode: http.StatusInternalServerError, Body: `{"error":{"code":"internal","message":"could not encode the answer"}}`,
			Headers: map[string]string{"Content-Type": "application/json"}}
	}
	return Response{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json; charset=utf-8"},
		Body:       strings.TrimSuffix(buf.String(), "\n"),
	}
}

// Header returns a request header, whatever its case (API Gateway lowercases them).
func Header(req Request, name string) string {
	if v, ok := req.Headers[strings.ToLower(name)]; ok {
		return v
	}
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// Bearer returns the token of an "Authorization: Bearer <token>" header, or "".
func Bearer(req Request) string {
	h := strings.TrimSpace(Header(req, "Authorization"))
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// Body returns the raw request body, refusing one larger than limit bytes.
func Body(req Request, limit int) ([]byte, *Error) {
	raw := []byte(req.Body)
	if req.IsBase64Encoded {
		dec, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return nil, Errorf(http.StatusBadRequest, "invalid_body", "the body is not valid base64")
		}
		raw = dec
	}
	if len(raw) > limit {
		return nil, Errorf(http.StatusRequestEntityTooLarge, "body_too_large",
			"the body is %d bytes; send at most %d", len(raw), limit)
	}
	return raw, nil
}

// Decode reads the JSON body into v strictly: the Content-Type must be JSON,
// the body at most limit bytes, one value with no unknown fields and nothing
// after it. The error says what to fix.
func Decode(req Request, v any, limit int) *Error {
	ct := Header(req, "Content-Type")
	if ct == "" {
		return Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"send the body as JSON with Content-Type: application/json (the request has no Content-Type)")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"send the body as JSON with Content-Type: application/json (got %q)", ct)
	}
	raw, herr := Body(req, limit)
	if herr != nil {
		return herr
	}
	if !utf8.Valid(raw) {
		// encoding/json would turn each invalid byte into U+FFFD and send
		// that on: refuse instead, so the text is what the caller meant.
		return Errorf(http.StatusBadRequest, "invalid_utf8", "the body is not valid UTF-8; send JSON text in UTF-8")
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return Errorf(http.StatusBadRequest, "invalid_json", "the body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, raw, reflect.TypeOf(v))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Errorf(http.StatusBadRequest, "invalid_json", "the body has data after the JSON value; send exactly one object")
	}
	return nil
}

// decodeError explains why raw did not decode into a value of type t.
func decodeError(err error, raw []byte, t reflect.Type) *Error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return Errorf(http.StatusBadRequest, "invalid_json", "the body is not valid JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the body"
		}
		return Errorf(http.StatusBadRequest, "invalid_json", "%s must be a JSON %s, not %s", field, jsonKind(typ.Type.Kind().String()), typ.Value)
	}
	if name, ok := unknownField(raw, t, err); ok {
		if name == "" {
			return Errorf(http.StatusBadRequest, "unknown_field", "the body has a field that is not one of this request's; remove it")
		}
		return Errorf(http.StatusBadRequest, "unknown_field", "%q is not a field of this request; remove it", name)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return Errorf(http.StatusBadRequest, "invalid_json", "the body ends in the middle of a JSON value")
	}
	var herr *Error
	if errors.As(err, &herr) {
		return herr
	}
	return Errorf(http.StatusBadRequest, "invalid_json", "the body could not be read as this request: %v", err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "map", "struct":
		return "object"
	case "slice", "array":
		return "array"
	case "bool":
		return "boolean"
	}
	return "number"
}

// HandlerFunc answers one route.
type HandlerFunc func(ctx context.Context, req Request) (Response, error)

// Router dispatches on the API Gateway route key ("POST /v1/messages").
type Router map[string]HandlerFunc

// Handle answers req with its route's handler; an *Error returned by a handler
// becomes its answer, and any other error a logged 500 that reveals nothing.
// It logs one line per request to slog's default logger; handlers use
// HandleWith to log to their own.
func (r Router) Handle(ctx context.Context, req Request) (Response, error) {
	return r.HandleWith(ctx, req, slog.Default())
}

func (r Router) dispatch(ctx context.Context, req Request, log *slog.Logger) Response {
	h, ok := r[req.RouteKey]
	if !ok {
		return Errorf(http.StatusNotFound, "not_found", "no route %s", req.RouteKey).Response()
	}
	resp, err := h(ctx, req)
	if err == nil {
		return resp
	}
	var herr *Error
	if errors.As(err, &herr) {
		return herr.Response()
	}
	log.ErrorContext(ctx, "request failed", "route", req.RouteKey, "request_id", req.RequestContext.RequestID, "err", err)
	var op *smithy.OperationError
	if errors.As(err, &op) && op.ServiceID == "DynamoDB" {
		return Errorf(http.StatusServiceUnavailable, "store_unavailable",
			"wxsub's database did not answer; nothing was changed; retry shortly (request id %s)", req.RequestContext.RequestID).Response()
	}
	return Errorf(http.StatusInternalServerError, "internal",
		"wxsub could not complete the request; it is safe to retry (request id %s)", req.RequestContext.RequestID).Response()
}

// Session checks the request's "Authorization: Bearer <session token>" for
// appid and returns the session it names, or a 401 that says what to do.
func Session(req Request, signer *sessiontoken.Signer, appid string) (sessiontoken.Session, error) {
	tok := Bearer(req)
	if tok == "" {
		return sessiontoken.Session{}, Errorf(http.StatusUnauthorized, "unauthorized",
			"send Authorization: Bearer <token>, with the token from POST /v1/session")
	}
	s, err := signer.Verify(tok, appid)
	if err == nil && !ValidSubject(s.OpenID) {
		err = errors.New("httpapi: session subject is not an openid")
	}
	if errors.Is(err, sessiontoken.ErrExpired) {
		return sessiontoken.Session{}, Errorf(http.StatusUnauthorized, "session_expired",
			"the session token has expired; log in again with POST /v1/session")
	}
	if err != nil {
		return sessiontoken.Session{}, Errorf(http.StatusUnauthorized, "unauthorized",
			"the session token is not valid for this app; log in again with POST /v1/session")
	}
	return s, nil
}
