package wechat_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxsub/wxsub/shared/wechat"
)

// closedBase is the URL of a loopback port nothing listens on.
func closedBase(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// dialCounter counts the connections a client opens, by address.
type dialCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (d *dialCounter) client() *http.Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		d.mu.Lock()
		d.n[addr]++
		d.mu.Unlock()
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}, DisableKeepAlives: true}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

func (d *dialCounter) count(base string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n[base[len("http://"):]]
}

// A base that cannot be reached is left for the next at once, and not tried
// again on every call.
func TestClientMovesToTheNextBaseWhenOneCannotBeReached(t *testing.T) {
	var served atomic.Int64
	backup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Write([]byte(`{"errcode":0,"errmsg":"ok","msgid":1}`))
	}))
	defer backup.Close()
	down := closedBase(t)
	d := &dialCounter{n: map[string]int{}}
	c := wechat.NewClient(down+", "+backup.URL+"/", d.client())
	for i := range 5 {
		if _, err := c.SendSubscribe(context.Background(), wxToken, wechat.Message{ToUser: "oUser", TemplateID: "tpl"}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if n := served.Load(); n != 5 {
		t.Errorf("the backup served %d sends, want 5", n)
	}
	if n := d.count(down); n != 1 {
		t.Errorf("the unreachable base was dialled %d times, want once (the client stays on the backup)", n)
	}
}

// A call that reached a base is never sent to another: a gateway error
// after the request was written is the call's outcome.
func TestClientNeverResendsAWrittenCall(t *testing.T) {
	var first, second atomic.Int64
	primary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer primary.Close()
	backup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		second.Add(1)
		w.Write([]byte(`{"errcode":0,"errmsg":"ok","msgid":1}`))
	}))
	defer backup.Close()
	c := wechat.NewClient(primary.URL+","+backup.URL, nil)
	if _, err := c.SendSubscribe(context.Background(), wxToken, wechat.Message{ToUser: "oUser", TemplateID: "tpl"}); err == nil {
		t.Fatal("a 502 from the first base was taken for a success")
	}
	if first.Load() != 1 || second.Load() != 0 {
		t.Fatalf("first base %d calls, backup %d; want 1 and 0", first.Load(), second.Load())
	}
}
