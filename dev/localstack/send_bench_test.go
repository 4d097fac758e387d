package localstack_test

import (
	"io"
	"testing"

	"github.com/wxsub/wxsub/dev/loadgen"
	"github.com/wxsub/wxsub/dev/localstack"
	"github.com/wxsub/wxsub/dev/wechatsim"
)

// BenchmarkSend is one warm POST /v1/messages through the in-process stack:
// HTTP in, reserve, subscribe/send to the simulator, settle, HTTP out. It
// reports what each send cost as the stack counted it. The time per send
// grows with the number of messages stored, because the in-process DynamoDB
// copies its table for every transaction (see docs/performance.md).
func BenchmarkSend(b *testing.B) {
	ctx := b.Context()
	s, err := localstack.Start(ctx, localstack.Options{
		Getenv: func(string) string { return "" }, Addr: "127.0.0.1:0", SimAddr: "127.0.0.1:0",
		LogOutput: io.Discard, NoSchedules: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	s.Sim.SetPushURL("") // the sent events would cost the push function's requests
	if err := s.RunSchedule(ctx, "RefreshTokenFunction"); err != nil {
		b.Fatal(err)
	}
	tok, err := s.Backend.Tokens.Get(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Backend.Catalog.Sync(ctx, s.Backend.WeChat, tok.Value); err != nil {
		b.Fatal(err)
	}
	counter, err := loadgen.LocalCounter(s.DB, s.Sim, s.Config.AppID)
	if err != nil {
		b.Fatal(err)
	}
	t := loadgen.NewTarget(s.URL, s.AdminKey, s.SimURL)
	b.Cleanup(t.Close)

	// A long-term subscription, so that every iteration can send.
	tmpl := wechatsim.TmplClinicVisit
	users, err := t.Login(ctx, 1, 1)
	if err != nil {
		b.Fatal(err)
	}
	if err := t.Tap(ctx, users, tmpl, 1, 1); err != nil {
		b.Fatal(err)
	}
	if err := t.ReportOp(users, tmpl)(ctx, 0); err != nil {
		b.Fatal(err)
	}
	send, err := t.SendOp(users, tmpl)
	if err != nil {
		b.Fatal(err)
	}
	if err := send(ctx, 0); err != nil { // warm: token and catalogue in memory, connections open
		b.Fatal(err)
	}

	before, err := counter(ctx)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		if err := send(ctx, n); err != nil {
			b.Fatal(err)
		}
		n++
	}
	after, err := counter(ctx)
	if err != nil {
		b.Fatal(err)
	}
	d := after.Sub(before)
	b.ReportMetric(float64(d.DynamoDBTotal())/float64(n), "dynamodb-req/op")
	b.ReportMetric(float64(d.WeChatTotal())/float64(n), "wechat-req/op")
	b.ReportMetric(float64(d.TokenReads)/float64(n), "token-reads/op")
}
