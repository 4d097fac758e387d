// Package wxsubclient calls a wxsub stack's server routes from a business
// backend: send a subscription message, read it back, read a user's ledger,
// broadcast, sync the template catalogue, read the quotas.
//
// A deployed stack authorises these routes with AWS IAM: the client signs
// each request with Signature Version 4 (service execute-api) using the
// default credential chain (environment, shared config, SSO, the role of an
// EC2 instance, ECS task or Lambda function). The local stack (`make run`)
// takes its admin key instead.
//
//	c, err := wxsubclient.Deployed(ctx, "https://abc123.execute-api.cn-north-1.amazonaws.com.cn")
//	res, err := c.Send(ctx, wxsubclient.SendRequest{
//		ToUser: openid, TemplateID: tmpl,
//		Data:   map[string]string{"thing2": "无线蓝牙耳机"},
//		IdempotencyKey: "order-42-shipped",
//	})
//	var e *wxsubclient.Error
//	if errors.As(err, &e) && e.Code == wxsubclient.CodeNoCredit { ... }
package wxsubclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Client calls one wxsub stack. It is safe for concurrent use.
type Client struct {
	base *url.URL
	http *http.Client
	auth authorizer
}

// LogValue gives log/slog the stack's URL and how requests are authorised,
// never the admin key or AWS credentials.
func (c *Client) LogValue() slog.Value {
	auth := "none"
	switch c.auth.(type) {
	case adminKey:
		auth = "admin_key"
	case *sigV4:
		auth = "sigv4"
	}
	base := ""
	if c.base != nil {
		base = c.base.String()
	}
	return slog.GroupValue(slog.String("url", base), slog.String("auth", auth))
}

// authorizer adds the credentials of a server route to a request whose
// body hashes to payloadHash.
type authorizer interface {
	authorize(ctx context.Context, req *http.Request, payloadHash string) error
}

// Option configures New.
type Option func(*Client) error

// WithAdminKey authorises requests with the local stack's admin key
// (WXSUB_ADMIN_KEY, printed by `make run`).
func WithAdminKey(key string) Option {
	return func(c *Client) error {
		if key == "" {
			return errors.New("wxsubclient: empty admin key")
		}
		c.auth = adminKey(key)
		return nil
	}
}

// WithSigV4 signs requests with AWS Signature Version 4 for API Gateway
// (service execute-api) in region, with the credentials of creds.
func WithSigV4(creds aws.CredentialsProvider, region string) Option {
	return func(c *Client) error {
		if creds == nil || region == "" {
			return errors.New("wxsubclient: SigV4 needs credentials and a region")
		}
		c.auth = &sigV4{creds: creds, region: region, signer: v4.NewSigner()}
		return nil
	}
}

// WithHTTPClient sends the requests through hc (default: a client with a 35 s
// timeout, longer than API Gateway's 30 s).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		c.http = hc
		return nil
	}
}

// New returns a client of the stack at baseURL (its ApiUrl output, or
// http://127.0.0.1:3000 for `make run`). Without WithAdminKey or WithSigV4 the
// requests go unauthorised, which only the client routes accept.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("wxsubclient: %q is not an http(s) URL", baseURL)
	}
	c := &Client{base: u, http: &http.Client{Timeout: 35 * time.Second}}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Local returns a client of a local stack (`make run`), authorised with its
// admin key.
func Local(baseURL, adminKey string) (*Client, error) {
	return New(baseURL, WithAdminKey(adminKey))
}

// Deployed returns a client of a deployed stack that signs with the default
// AWS credential chain. The region is read from an execute-api URL
// (https://<id>.execute-api.<region>.amazonaws.com[.cn]), else from the
// default configuration (AWS_REGION, the shared config file).
func Deployed(ctx context.Context, baseURL string, opts ...Option) (*Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("wxsubclient: loading AWS configuration: %w", err)
	}
	region := RegionOf(baseURL)
	if region == "" {
		region = cfg.Region
	}
	if region == "" {
		return nil, fmt.Errorf("wxsubclient: no region in %s nor in the AWS configuration; set AWS_REGION", baseURL)
	}
	return New(baseURL, append([]Option{WithSigV4(cfg.Credentials, region)}, opts...)...)
}

// RegionOf returns the region of an API Gateway URL such as
// https://abc123.execute-api.cn-north-1.amazonaws.com.cn, or "" for another
// URL (a custom domain).
func RegionOf(baseURL string) string {
	u, err := url.Parse(baseURL)
	if err != nil {
		return ""
	}
	labels := strings.Split(u.Hostname(), ".")
	for i := 0; i+2 < len(labels); i++ {
		if labels[i] == "execute-api" && labels[i+2] == "amazonaws" {
			return labels[i+1]
		}
	}
	return ""
}

type adminKey string

func (k adminKey) authorize(_ context.Context, req *http.Request, _ string) error {
	req.Header.Set("Authorization", "Bearer "+string(k))
	return nil
}

// sigV4 signs with the aws-sdk-go-v2 signer, as API Gateway's IAM
// authorizer checks.
type sigV4 struct {
	creds  aws.CredentialsProvider
	region string
	signer *v4.Signer
}

func (s *sigV4) authorize(ctx context.Context, req *http.Request, payloadHash string) error {
	creds, err := s.creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("wxsubclient: AWS credentials: %w", err)
	}
	if err := s.signer.SignHTTP(ctx, creds, req, payloadHash, "execute-api", s.region, time.Now()); err != nil {
		return fmt.Errorf("wxsubclient: signing: %w", err)
	}
	return nil
}

// do sends one request to path (with its query) and decodes a 2xx answer into
// out; any other answer is returned as *Error.
func (c *Client) do(ctx context.Context, method, path string, in any, header http.Header, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("wxsubclient: encoding the request: %w", err)
		}
	}
	u := *c.base
	ref, err := url.Parse(path)
	if err != nil {
		return fmt.Errorf("wxsubclient: %w", err)
	}
	u.Path = strings.TrimRight(c.base.Path, "/") + ref.Path
	u.RawQuery = ref.RawQuery
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("wxsubclient: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if c.auth != nil {
		sum := sha256.Sum256(body)
		if err := c.auth.authorize(ctx, req, hex.EncodeToString(sum[:])); err != nil {
			return err
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("wxsubclient: %s %s: %w", method, ref.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("wxsubclient: %s %s: reading the answer: %w", method, ref.Path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errorFrom(resp, raw)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("wxsubclient: %s %s: decoding the answer: %w", method, ref.Path, err)
	}
	return nil
}
