package loadgen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxsub/wxsub/shared/wechat"
)

// NaiveResult is what the naive flow achieved.
type NaiveResult struct {
	// Messages is how many messages the flow tried to send; Delivered how
	// many WeChat accepted.
	Messages, Delivered int
	// TokenCalls is the token API calls the simulator counted.
	TokenCalls int64
	// StopCode is the errcode of the token call that stopped the flow
	// (45009 when the daily quota ran out); 0 when every message was tried.
	StopCode int
	// SendFailures counts sends WeChat refused after a token was had.
	SendFailures int
	Elapsed      time.Duration
}

// Naive runs the flow many tutorials teach against the simulator: for every
// message, fetch a token from GET /cgi-bin/token, then send with it. msg
// returns message i of n. The flow stops at the first token call that
// fails, as such code does when the token API answers 45009.
func (t *Target) Naive(ctx context.Context, appid, secret string, n, concurrency int, msg func(i int) wechat.Message) (NaiveResult, error) {
	if concurrency <= 0 {
		concurrency = 8
	}
	wc := wechat.NewClient(t.SimURL, t.HTTP)
	count := t.SimCounter()
	before, err := read(ctx, count)
	if err != nil {
		return NaiveResult{}, err
	}
	var (
		next      atomic.Int64
		stopped   atomic.Bool
		tried     atomic.Int64
		delivered atomic.Int64
		refused   atomic.Int64
		stopOnce  sync.Once
		stopCode  int
		wg        sync.WaitGroup
	)
	start := time.Now()
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopped.Load() && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				tried.Add(1)
				tok, err := wc.Token(ctx, appid, secret)
				if err != nil {
					stopOnce.Do(func() { stopCode = wechat.CodeOf(err) })
					stopped.Store(true)
					return
				}
				if _, err := wc.SendSubscribe(ctx, tok.AccessToken, msg(i)); err != nil {
					refused.Add(1)
					continue
				}
				delivered.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return NaiveResult{}, fmt.Errorf("loadgen: naive flow: %w", err)
	}
	after, err := read(ctx, count)
	if err != nil {
		return NaiveResult{}, err
	}
	return NaiveResult{
		Messages: int(tried.Load()), Delivered: int(delivered.Load()), TokenCalls: after.Sub(before).TokenCalls(),
		StopCode: stopCode, SendFailures: int(refused.Load()), Elapsed: elapsed,
	}, nil
}
