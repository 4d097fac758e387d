package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultBaseURL is WeChat's API host.
const DefaultBaseURL = "https://api.weixin.qq.com"

// maxAnswer bounds how much of an answer is read.
const maxAnswer = 4 << 20

// Client calls WeChat's HTTP APIs. It holds no token, and no state beyond
// its configuration and which of its base URLs it is using; it is safe for
// concurrent use.
//
// It may have several base URLs, in order: WeChat's general host and its
// backup hosts. A call that cannot reach a base (nothing of the request was
// written: DNS, connect or TLS failure) goes on to the next one at once, and
// the client stays there for FailoverHold before trying the first again. A
// call that was written is never sent again to another host: whatever
// happened there is the call's outcome.
type Client struct {
	bases   []*url.URL
	baseErr error
	hc      *http.Client

	active   atomic.Int32 // index in bases of the one in use
	activeAt atomic.Int64 // when it became active (Unix ns); 0 for the first
	now      func() time.Time
}

// WeChat's API hosts: the general one, its backup in another place, and
// regional ones ("接口域名说明",
// https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Interface_field_description.html;
// the same list in SDKs, e.g. RicardoSimple/go-wechat conf/const.go).
const (
	// BackupBaseURL is WeChat's general backup host (通用异地容灾域名).
	BackupBaseURL = "https://api2.weixin.qq.com"
	// ShanghaiBaseURL, ShenzhenBaseURL and HongKongBaseURL are regional hosts.
	ShanghaiBaseURL = "https://sh.api.weixin.qq.com"
	ShenzhenBaseURL = "https://sz.api.weixin.qq.com"
	HongKongBaseURL = "https://hk.api.weixin.qq.com"
)

// FailoverHold is how long a client keeps using a backup base after the
// one before it could not be reached.
const FailoverHold = time.Minute

// IdleConnTimeout is how long the default client keeps an unused connection.
// It is shorter than common server keep-alive timeouts, so that a send rarely
// goes out on a connection the server is closing: such a send could only be
// reported as unknown, which spends the user's credit.
const IdleConnTimeout = 30 * time.Second

// NewClient returns a client for the API at baseURLs: one base URL, or
// several separated by commas, tried in that order (DefaultBaseURL for the
// real WeChat, then BackupBaseURL; a trailing slash is ignored). A nil hc
// means an http.Client with a 10 s timeout whose idle connections retire
// after IdleConnTimeout.
func NewClient(baseURLs string, hc *http.Client) *Client {
	if hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.IdleConnTimeout = IdleConnTimeout
		hc = &http.Client{Timeout: 10 * time.Second, Transport: t}
	}
	c := &Client{hc: hc, now: time.Now}
	for _, raw := range strings.Split(baseURLs, ",") {
		u, err := url.Parse(strings.TrimRight(strings.TrimSpace(raw), "/"))
		switch {
		case err != nil:
			c.baseErr = fmt.Errorf("invalid base URL: %w", err)
		case u.Scheme == "" || u.Host == "":
			c.baseErr = fmt.Errorf("invalid base URL %q: scheme and host required", u.Redacted())
		default:
			u.RawQuery, u.Fragment, u.RawPath = "", "", ""
			c.bases = append(c.bases, u)
		}
	}
	return c
}

// pick returns the index of the base to use now: the active one, or the
// first again once FailoverHold has passed.
func (c *Client) pick() int {
	i := int(c.active.Load())
	if i != 0 && c.now().Sub(time.Unix(0, c.activeAt.Load())) >= FailoverHold {
		c.active.CompareAndSwap(int32(i), 0)
		return 0
	}
	return i
}

// unreachable moves the client from base i to the next one (wrapping), if
// no other call did already.
func (c *Client) unreachable(i int) int {
	next := (i + 1) % len(c.bases)
	if c.active.CompareAndSwap(int32(i), int32(next)) {
		c.activeAt.Store(c.now().UnixNano())
	}
	return next
}

// call describes one request to WeChat.
type call struct {
	op      string     // Error.Op
	method  string     // http.MethodGet or http.MethodPost
	path    string     // e.g. "/cgi-bin/token"
	query   url.Values // may hold secrets; never shown in errors
	body    any        // sent as JSON when non-nil
	secrets []string   // values to blank out of anything that reaches an error
}

// do sends k and decodes a successful answer into out (which may be nil),
// moving on to the next base when one cannot be reached.
func (c *Client) do(ctx context.Context, k call, out any) error {
	if c.baseErr != nil {
		return &Error{Op: k.op, Err: c.baseErr}
	}
	var payload []byte
	if k.body != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(k.body); err != nil {
			return &Error{Op: k.op, Err: fmt.Errorf("encoding request: %w", err)}
		}
		payload = buf.Bytes()
	}
	i := c.pick()
	for tried := 1; ; tried++ {
		reached, err := c.attempt(ctx, c.bases[i], k, payload, out)
		if reached || tried == len(c.bases) || ctx.Err() != nil {
			return err
		}
		i = c.unreachable(i)
	}
}

// attempt sends k to one base. reached is false when nothing of the request
// was written (the base could not be reached), so that another base may be
// tried.
func (c *Client) attempt(ctx context.Context, base *url.URL, k call, payload []byte, out any) (reached bool, err error) {
	u := *base
	u.Path = base.Path + k.path
	u.RawQuery = k.query.Encode()
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}

	// wrote is true once the request has been fully written. net/http
	// silently sends a GET again when a reused keep-alive connection closes
	// without an answer; WeChat may have acted on the first copy (a login
	// code is then spent, a classic token replaced), so a second GetConn
	// after a full write cancels the call and its outcome is unknown.
	var wrote atomic.Bool
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	trace := &httptrace.ClientTrace{
		GetConn: func(string) {
			if wrote.Load() {
				cancel()
			}
		},
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				wrote.Store(true)
			}
		},
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), k.method, u.String(), body)
	if err != nil {
		return true, &Error{Op: k.op, Err: redact(err, k.secrets)}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		return wrote.Load(), failed(k, err, wrote.Load())
	}
	defer resp.Body.Close()
	return true, c.answer(k, resp, out)
}

// answer reads and decodes WeChat's answer to k.
func (c *Client) answer(k call, resp *http.Response, out any) error {
	raw, readErr := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if readErr == nil && len(raw) > maxAnswer {
		readErr = fmt.Errorf("answer larger than %d bytes", maxAnswer)
	}

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Op: k.op, HTTPStatus: resp.StatusCode}
		var st status
		if readErr == nil && json.Unmarshal(raw, &st) == nil && st.ErrCode != 0 {
			e.Code, e.Msg, e.RID = int(st.ErrCode), scrub(st.ErrMsg, k.secrets), ridOf(st.ErrMsg)
		}
		return e
	}
	if readErr != nil {
		return failed(k, readErr, true)
	}
	var st status
	if err := decodeObject(raw, &st); err != nil {
		return malformed(k, resp.StatusCode, err)
	}
	if st.ErrCode != 0 {
		return &Error{
			Op:         k.op,
			Code:       int(st.ErrCode),
			Msg:        scrub(st.ErrMsg, k.secrets),
			RID:        ridOf(st.ErrMsg),
			HTTPStatus: resp.StatusCode,
		}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return malformed(k, resp.StatusCode, err)
	}
	if ch, ok := out.(checker); ok {
		if err := ch.check(); err != nil {
			return malformed(k, resp.StatusCode, err)
		}
	}
	return nil
}

// decodeObject decodes raw, which must be a JSON object, into v.
func decodeObject(raw []byte, v any) error {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return errors.New("answer is not a JSON object")
	}
	return json.Unmarshal(t, v)
}

// failed wraps a transport failure; written says whether the request had been
// fully sent, which makes its outcome unknown.
func failed(k call, err error, written bool) *Error {
	err = redact(err, k.secrets)
	if written {
		err = fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
	return &Error{Op: k.op, Err: err}
}

// malformed reports a success status whose body could not be understood.
func malformed(k call, httpStatus int, err error) *Error {
	err = redact(err, k.secrets)
	return &Error{
		Op:         k.op,
		HTTPStatus: httpStatus,
		Err:        fmt.Errorf("%w: malformed answer: %w", ErrOutcomeUnknown, err),
	}
}

// redact removes the query (access_token, secret, js_code) from the URL of a
// *url.Error, and drops the chain of any error whose text still holds a secret.
func redact(err error, secrets []string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		inner := ue.Err
		if inner != nil && holdsAny(inner.Error(), secrets) {
			inner = errors.New(scrub(inner.Error(), secrets))
		}
		err = &url.Error{Op: ue.Op, URL: withoutQuery(ue.URL), Err: inner}
	}
	if holdsAny(err.Error(), secrets) {
		return errors.New(scrub(err.Error(), secrets))
	}
	return err
}

// withoutQuery returns raw without its query, fragment and user info.
func withoutQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		s, _, _ := strings.Cut(raw, "?")
		return s
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

const redacted = "[redacted]"

// scrub replaces every occurrence of a secret in s.
func scrub(s string, secrets []string) string {
	for _, v := range secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, redacted)
		}
	}
	return s
}

func holdsAny(s string, secrets []string) bool {
	for _, v := range secrets {
		if v != "" && strings.Contains(s, v) {
			return true
		}
	}
	return false
}

// withToken returns a query carrying the access token.
func withToken(accessToken string) url.Values {
	return url.Values{"access_token": {accessToken}}
}
