package localstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/wxsub/wxsub/dev/samtemplate"
)

// The contract's OpenAPI document (docs/openapi.yaml) is checked against
// template.yaml (the same routes, no more) and against the traffic of every
// local-stack test: the harness records each request and answer that reaches
// the API, and when the test ends each one is validated with kin-openapi.
//
// A request is validated when the stack accepted it (an answer below 400):
// the tests also send malformed requests on purpose, and those must be
// refused, not described. Every answer is validated, whatever its status:
// its status must be declared for the route, its body must match, and an
// error's code must be one of those the route lists for that status.

// exchange is one request and its answer, as the API saw them.
type exchange struct {
	method, target string
	reqHeader      http.Header
	reqBody        []byte
	status         int
	respHeader     http.Header
	respBody       []byte
}

// traffic records the exchanges of one stack.
type traffic struct {
	mu        sync.Mutex
	exchanges []exchange
}

// wrap is the stack's Options.Wrap: it records each exchange. The body is
// copied as the handler reads it (never read ahead: the stack reads a body
// only after it checked the caller).
func (tr *traffic) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body bytes.Buffer
		// A shallow copy: the server looks at the original request's Body
		// after the handler to decide whether to drain what is left of it.
		r = r.WithContext(r.Context())
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(r.Body, &body), r.Body}
		rec := &recordingWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		tr.mu.Lock()
		defer tr.mu.Unlock()
		tr.exchanges = append(tr.exchanges, exchange{
			method: r.Method, target: r.URL.RequestURI(), reqHeader: r.Header.Clone(), reqBody: body.Bytes(),
			status: rec.status, respHeader: w.Header().Clone(), respBody: rec.body.Bytes(),
		})
	})
}

func (tr *traffic) all() []exchange {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]exchange(nil), tr.exchanges...)
}

type recordingWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *recordingWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.body.Write(p)
	return w.ResponseWriter.Write(p)
}

// contract is docs/openapi.yaml, loaded once for every test.
type contract struct {
	doc    *openapi3.T
	router routers.Router
}

var (
	contractOnce sync.Once
	theContract  *contract
	contractErr  error
)

func loadContract() (*contract, error) {
	contractOnce.Do(func() {
		tpl, err := samtemplate.Find(".")
		if err != nil {
			contractErr = err
			return
		}
		path := filepath.Join(filepath.Dir(tpl), "docs", "openapi.yaml")
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromFile(path)
		if err != nil {
			contractErr = fmt.Errorf("%s: %w", path, err)
			return
		}
		if err := doc.Validate(loader.Context); err != nil {
			contractErr = fmt.Errorf("%s is not a valid OpenAPI document: %w", path, err)
			return
		}
		// The tests' stacks listen on free ports, not on the servers the
		// document names: route on the path alone.
		doc.Servers = nil
		router, err := legacy.NewRouter(doc)
		if err != nil {
			contractErr = fmt.Errorf("%s: %w", path, err)
			return
		}
		// WeChat's pushes are XML; the document describes them as text.
		for _, ct := range []string{"text/xml", "application/xml"} {
			openapi3filter.RegisterBodyDecoder(ct, func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
				b, err := io.ReadAll(r)
				return string(b), err
			})
		}
		theContract = &contract{doc: doc, router: router}
	})
	return theContract, contractErr
}

// authenticate checks that a request carries the credentials a security
// scheme of the document names: a bearer token, or a SigV4 signature.
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	switch s := in.SecurityScheme; {
	case s.Type == "http" && s.Scheme == "bearer":
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return nil
		}
		return errors.New("no bearer token")
	case s.Type == "apiKey":
		if strings.HasPrefix(h, "AWS4-HMAC-SHA256 ") {
			return nil
		}
		return errors.New("no SigV4 signature")
	}
	return fmt.Errorf("unknown security scheme %s", in.SecuritySchemeName)
}

// check validates one exchange against the document.
func (c *contract) check(ctx context.Context, x exchange) error {
	req := httptest.NewRequest(x.method, x.target, bytes.NewReader(x.reqBody))
	req.Header = x.reqHeader.Clone()
	if strings.HasPrefix(req.URL.Path, "/web/") {
		return nil // the official-account demo's files, which only the local stack serves
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		if x.status == http.StatusNotFound && errorCode(x.respBody) == "not_found" {
			return nil // a path the stack has no route for either
		}
		return fmt.Errorf("openapi.yaml has no operation for it: %w", err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: authenticate, MultiError: true}}
	if x.status < 400 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return fmt.Errorf("the stack answered %d to a request the document does not allow: %w", x.status, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: x.status, Header: x.respHeader,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	out.SetBodyBytes(x.respBody)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("the answer %d %s does not match the document: %w", x.status, errorCode(x.respBody), err)
	}
	return nil
}

func errorCode(body []byte) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(body, &e)
	return e.Error.Code
}

// checkTraffic validates every exchange a test's stack recorded; a
// failure names the request and what the document says of it.
func checkTraffic(t *testing.T, tr *traffic) {
	t.Helper()
	c, err := loadContract()
	if err != nil {
		t.Error(err)
		return
	}
	seen := map[string]bool{}
	for _, x := range tr.all() {
		if err := c.check(context.Background(), x); err != nil {
			// One report per route, status and problem is enough.
			key := x.method + " " + x.target + fmt.Sprint(x.status) + err.Error()
			if seen[key] {
				continue
			}
			seen[key] = true
			t.Errorf("openapi.yaml: %s %s → %d: %v\n  request body: %.300s\n  answer: %.300s", x.method, x.target, x.status, err, x.reqBody, x.respBody)
		}
	}
}

// TestOpenAPIDescribesTheTemplateRoutes: every route of template.yaml is an
// operation of docs/openapi.yaml, and the document has no other.
func TestOpenAPIDescribesTheTemplateRoutes(t *testing.T) {
	t.Parallel()
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	p, err := samtemplate.Find(".")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := samtemplate.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	inTemplate := map[string]bool{}
	for _, fn := range tpl.Functions {
		for _, r := range fn.Routes {
			inTemplate[r.Key()] = true
		}
	}
	inDoc := map[string]bool{}
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			inDoc[strings.ToUpper(method)+" "+path] = true
		}
	}
	var missing, extra []string
	for k := range inTemplate {
		if !inDoc[k] {
			missing = append(missing, k)
		}
	}
	for k := range inDoc {
		if !inTemplate[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes of template.yaml missing from docs/openapi.yaml: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("operations of docs/openapi.yaml that template.yaml has no route for: %v", extra)
	}
	if len(inTemplate) < 10 {
		t.Fatalf("template.yaml lists only %d routes; the reader lost some", len(inTemplate))
	}
}

// TestOpenAPIServerRoutesAreSigned: an operation is signed with SigV4 (or
// the local admin key) exactly when its route uses the IAM authorizer.
func TestOpenAPIServerRoutesAreSigned(t *testing.T) {
	t.Parallel()
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := samtemplate.Find(".")
	tpl, err := samtemplate.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range tpl.Functions {
		for _, r := range fn.Routes {
			op := c.doc.Paths.Find(r.Path).GetOperation(r.Method)
			if op == nil || op.Security == nil {
				t.Errorf("%s: no security in openapi.yaml", r.Key())
				continue
			}
			schemes := map[string]bool{}
			for _, req := range *op.Security {
				for name := range req {
					schemes[name] = true
				}
			}
			if r.IAM != schemes["sigv4"] || r.IAM != schemes["adminKey"] {
				t.Errorf("%s: IAM %v in template.yaml, security %v in openapi.yaml", r.Key(), r.IAM, schemes)
			}
		}
	}
}

// TestOpenAPICheckCatchesWhatItShould: the traffic check fails an answer
// with an error code the route does not list, a status it does not
// declare, an answer without a required field, and an accepted request the
// document does not allow.
func TestOpenAPICheckCatchesWhatItShould(t *testing.T) {
	t.Parallel()
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	auth := http.Header{"Authorization": {"Bearer k"}, "Content-Type": {"application/json"}}
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	good := exchange{method: "GET", target: "/v1/messages/m1", reqHeader: auth, status: 404, respHeader: jsonHeader,
		respBody: []byte(`{"error":{"code":"message_not_found","message":"no message m1"}}`)}
	if err := c.check(context.Background(), good); err != nil {
		t.Fatalf("a documented answer fails: %v", err)
	}
	bad := map[string]exchange{
		"undeclared code": {method: "GET", target: "/v1/messages/m1", reqHeader: auth, status: 404, respHeader: jsonHeader,
			respBody: []byte(`{"error":{"code":"no_such_thing","message":"x"}}`)},
		"undeclared status": {method: "GET", target: "/v1/messages/m1", reqHeader: auth, status: 418, respHeader: jsonHeader,
			respBody: []byte(`{"error":{"code":"teapot","message":"x"}}`)},
		"missing field": {method: "GET", target: "/v1/broadcasts/b1", reqHeader: auth, status: 200, respHeader: jsonHeader,
			respBody: []byte(`{"broadcast_id":"b1","state":"done"}`)},
		"accepted bad request": {method: "POST", target: "/v1/messages", reqHeader: auth, reqBody: []byte(`{"touser":"o1","template_id":"t","data":{},"colour":"red"}`),
			status: 200, respHeader: jsonHeader, respBody: []byte(`{"message_id":"m","status":"sent","credits_left":0}`)},
		"429 without Retry-After": {method: "POST", target: "/v1/messages", reqHeader: auth, reqBody: []byte(`{"touser":"o1","template_id":"t","data":{}}`),
			status: 429, respHeader: jsonHeader, respBody: []byte(`{"error":{"code":"rate_limited","message":"x"}}`)},
	}
	for name, x := range bad {
		if err := c.check(context.Background(), x); err == nil {
			t.Errorf("%s: passed the check", name)
		}
	}
}
