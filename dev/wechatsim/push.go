package wechatsim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/wxsub/wxsub/shared/wxpush"
)

// A pushJob is one event on its way to the push URL.
type pushJob struct {
	openid string
	url    string
	body   []byte // the encoded event
	event  string
}

// A pusher delivers events asynchronously, in order per openid, retrying
// like WeChat does.
type pusher struct {
	sim *Sim

	mu      sync.Mutex
	cond    *sync.Cond // signalled when pending drops to 0
	pending int        // prepared and not yet finished
	queues  map[string][]*pushJob
	closed  bool
	counts  PushCounts
	// slots bounds the pushes in flight at once: every user's queue has
	// its own worker, and thousands of them posting at once would open as
	// many connections (WeChat's pushes come from a bounded fleet too).
	slots chan struct{}
}

// maxPushesInFlight is how many pushes a simulator sends at once.
const maxPushesInFlight = 64

func newPusher(s *Sim) *pusher {
	p := &pusher{sim: s, queues: make(map[string][]*pushJob), slots: make(chan struct{}, maxPushesInFlight)}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// prepare builds the push of an event from openid with items, stamped with
// the simulated time, and returns it as a one-job list to release after the
// API answer is written. It returns nil when no push URL is set, there are
// no items or the pusher is closed.
func (p *pusher) prepare(openid, event string, items []wxpush.Item) []*pushJob {
	s := p.sim
	s.mu.Lock()
	target := s.cfg.PushURL
	created := s.now().Unix()
	s.mu.Unlock()
	if target == "" || len(items) == 0 {
		return nil
	}
	ev := wxpush.Event{
		ToUserName:   s.cfg.OriginalID,
		FromUserName: openid,
		CreateTime:   created,
		MsgType:      "event",
		Event:        event,
		Items:        items,
	}
	body, err := wxpush.EncodeEvent(ev, s.cfg.PushFormat)
	if err != nil {
		s.cfg.Logger.Error("wechatsim: encode push", "event", event, "err", err)
		return nil
	}
	j := &pushJob{openid: openid, url: target, body: body, event: event}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.pending++
	return []*pushJob{j}
}

// release queues a prepared job; the openid's worker starts if idle.
func (p *pusher) release(j *pushJob) {
	p.mu.Lock()
	defer p.mu.Unlock()
	q, busy := p.queues[j.openid]
	p.queues[j.openid] = append(q, j)
	if !busy {
		go p.work(j.openid)
	}
}

// work delivers the queue of openid until it is empty.
func (p *pusher) work(openid string) {
	for {
		p.mu.Lock()
		q := p.queues[openid]
		if len(q) == 0 {
			delete(p.queues, openid)
			p.mu.Unlock()
			return
		}
		j := q[0]
		p.queues[openid] = q[1:]
		p.mu.Unlock()

		ok := p.deliver(j)

		p.mu.Lock()
		if ok {
			p.counts.Delivered++
		} else {
			p.counts.Failed++
		}
		if p.pending--; p.pending == 0 {
			p.cond.Broadcast()
		}
		p.mu.Unlock()
	}
}

// deliver posts j up to the configured number of attempts, each signed
// (and in secure mode encrypted) afresh with the current simulated time and
// a new nonce. The event inside, and its CreateTime, stay the same, so
// receivers can de-duplicate.
func (p *pusher) deliver(j *pushJob) bool {
	s := p.sim
	var last error
	for i := range s.cfg.PushAttempts {
		if i > 0 {
			time.Sleep(s.cfg.PushRetryDelay) // WeChat does not retry at once either
		}
		p.mu.Lock()
		p.counts.Attempts++
		p.mu.Unlock()
		p.slots <- struct{}{}
		last = p.attempt(j)
		<-p.slots
		if last == nil {
			return true
		}
	}
	s.cfg.Logger.Warn("wechatsim: push given up", "event", j.event, "attempts", s.cfg.PushAttempts, "err", last)
	return false
}

func (p *pusher) attempt(j *pushJob) error {
	s := p.sim
	u, err := url.Parse(j.url)
	if err != nil {
		return fmt.Errorf("push URL: %w", err)
	}
	s.mu.Lock()
	ts := s.now().Unix()
	s.mu.Unlock()
	q, body, err := wxpush.SignedQuery(s.cfg.PushToken, j.body, s.cfg.PushSecure, s.cipher, ts, wxpush.NewNonce())
	if err != nil {
		return fmt.Errorf("sign push: %w", err)
	}
	for k, v := range u.Query() {
		q[k] = v
	}
	u.RawQuery = q.Encode()

	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.PushTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("push request: %w", err)
	}
	if s.cfg.PushFormat == wxpush.JSON {
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Set("Content-Type", "text/xml")
	}
	req.Header.Set("User-Agent", "Mozilla/4.0")
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("push: receiver answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// flush waits until no push is pending.
func (p *pusher) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.pending > 0 {
		p.cond.Wait()
	}
}

// close refuses new pushes and waits for the pending ones.
func (p *pusher) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.flush()
}

func (p *pusher) snapshot() PushCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts
}
