package localstack_test

import (
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/wxsub/wxsub/dev/loadgen"
	"github.com/wxsub/wxsub/dev/localstack"
)

// BenchmarkJSSDKConfig is one warm GET /v1/jssdk-config of an official
// account through the in-process stack: the ticket is in memory, so a page's
// signature costs no WeChat call and (between the plane's re-reads, every 3
// minutes) no DynamoDB request.
func BenchmarkJSSDKConfig(b *testing.B) {
	ctx := b.Context()
	s, err := localstack.Start(ctx, localstack.Options{
		Getenv: func(n string) string {
			if n == "WECHAT_APP_KIND" {
				return "official_account"
			}
			return ""
		},
		Addr: "127.0.0.1:0", SimAddr: "127.0.0.1:0", LogOutput: io.Discard, NoSchedules: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.RunSchedule(ctx, "RefreshTokenFunction"); err != nil {
		b.Fatal(err)
	}
	counter, err := loadgen.LocalCounter(s.DB, s.Sim, s.Config.AppID)
	if err != nil {
		b.Fatal(err)
	}
	u := s.URL + "/v1/jssdk-config?" + url.Values{"url": {"https://shop.example.com/notify?from=menu"}}.Encode()
	get := func() {
		resp, err := http.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("HTTP %d", resp.StatusCode)
		}
	}
	get() // warm: the ticket in memory, the connection open
	before, err := counter(ctx)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		get()
		n++
	}
	after, err := counter(ctx)
	if err != nil {
		b.Fatal(err)
	}
	d := after.Sub(before)
	b.ReportMetric(float64(d.DynamoDBTotal())/float64(n), "dynamodb-req/op")
	b.ReportMetric(float64(d.WeChatTotal())/float64(n), "wechat-req/op")
}
