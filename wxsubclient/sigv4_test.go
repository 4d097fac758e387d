package wxsubclient_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/wxsub/wxsub/wxsubclient"
)

// verifier checks SigV4 signatures as API Gateway's IAM authorizer does: it
// rebuilds the canonical request from what arrived (the signed headers, the
// body) and compares the signature it computes with the one sent.
type verifier struct {
	creds  aws.Credentials
	region string
}

func (v verifier) check(r *http.Request, body []byte) error {
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") {
		return fmt.Errorf("not signed: %q", auth)
	}
	fields := map[string]string{}
	for _, f := range strings.Split(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 "), ", ") {
		k, val, _ := strings.Cut(f, "=")
		fields[k] = val
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[0] != v.creds.AccessKeyID || scope[2] != v.region || scope[3] != "execute-api" || scope[4] != "aws4_request" {
		return fmt.Errorf("credential scope %q", fields["Credential"])
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %w", err)
	}
	re, _ := http.NewRequest(r.Method, "https://"+r.Host+r.URL.RequestURI(), strings.NewReader(string(body)))
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		if h != "host" {
			re.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), v.creds, re, hex.EncodeToString(sum[:]), "execute-api", v.region, at); err != nil {
		return err
	}
	if want := re.Header.Get("Authorization"); want != auth {
		return fmt.Errorf("signature does not match:\n got %s\nwant %s", auth, want)
	}
	return nil
}

// The client signs what it sends: the body, the Idempotency-Key, the host
// and the path, for execute-api in the stack's region.
func TestSigV4SignsWhatItSends(t *testing.T) {
	creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", SessionToken: "token-of-a-role"}
	v := verifier{creds: creds, region: "cn-north-1"}
	var checked int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := v.check(r, body); err != nil {
			t.Logf("%s %s refused: %v", r.Method, r.URL, err)
			w.WriteHeader(403)
			w.Write([]byte(`{"message":"Forbidden"}`))
			return
		}
		if r.Header.Get("X-Amz-Security-Token") != creds.SessionToken {
			t.Errorf("session token not sent")
		}
		checked++
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/messages":
			if r.Header.Get("Idempotency-Key") != "k-1" {
				t.Errorf("Idempotency-Key %q", r.Header.Get("Idempotency-Key"))
			}
			w.Write([]byte(`{"message_id":"m1","status":"sent","credits_left":0}`))
		default:
			w.Write([]byte(`{"openid":"o1","subscriptions":[]}`))
		}
	}))
	defer srv.Close()
	provider := credentials.StaticCredentialsProvider{Value: creds}
	c, err := wxsubclient.New(srv.URL, wxsubclient.WithSigV4(provider, "cn-north-1"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Send(ctx, wxsubclient.SendRequest{ToUser: "o1", TemplateID: "t1", Data: map[string]string{"thing2": "无线蓝牙耳机"}, IdempotencyKey: "k-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UserSubscriptions(ctx, "o1"); err != nil {
		t.Fatal(err)
	}
	if checked != 2 {
		t.Fatalf("%d requests verified, want 2", checked)
	}

	// Signed for another region, the same request is refused, and the
	// gateway's own answer comes back as an *Error without a code.
	other, _ := wxsubclient.New(srv.URL, wxsubclient.WithSigV4(provider, "us-east-1"))
	_, err = other.UserSubscriptions(ctx, "o1")
	e, ok := err.(*wxsubclient.Error)
	if !ok || e.Status != 403 || e.Code != "" || e.Message != "Forbidden" {
		t.Fatalf("signed for another region: got %v", err)
	}
	if checked != 2 {
		t.Fatalf("a request signed for another region was accepted")
	}
}

func TestRegionOf(t *testing.T) {
	for url, want := range map[string]string{
		"https://k3x9q2m7va.execute-api.cn-north-1.amazonaws.com.cn": "cn-north-1",
		"https://k3x9q2m7va.execute-api.us-east-1.amazonaws.com/":    "us-east-1",
		"https://api.example.com":                                    "",
		"http://127.0.0.1:3000":                                      "",
	} {
		if got := wxsubclient.RegionOf(url); got != want {
			t.Errorf("RegionOf(%s) = %q, want %q", url, got, want)
		}
	}
}
