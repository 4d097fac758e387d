package localstack_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/store"
	"github.com/wxsub/wxsub/shared/wxpush"
)

// pushProxy stands between the simulator and the push route: it can hold
// pushes back, lose the answers of the first attempts (so that the simulator
// retries, as WeChat does), and remembers every push it forwarded.
type pushProxy struct {
	t      *testing.T
	target string
	srv    *httptest.Server

	mu        sync.Mutex
	gate      chan struct{} // non-nil: pushes wait until it is closed
	loseFirst int           // answer 502 to this many attempts after forwarding them
	seen      []forwarded
}

type forwarded struct {
	query, contentType string
	body               []byte
	status             int // the push route's answer
}

func (h *harness) proxyPushes() *pushProxy {
	p := &pushProxy{t: h.t, target: h.s.URL + "/v1/wechat/events"}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	h.t.Cleanup(func() {
		p.release()
		p.srv.Close()
	})
	h.s.Sim.SetPushURL(p.srv.URL + "/v1/wechat/events")
	return p
}

func (p *pushProxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	gate := p.gate
	p.mu.Unlock()
	if gate != nil {
		<-gate
	}
	body, _ := io.ReadAll(r.Body)
	status, answer := p.forward(r.URL.RawQuery, r.Header.Get("Content-Type"), body)
	p.mu.Lock()
	p.seen = append(p.seen, forwarded{query: r.URL.RawQuery, contentType: r.Header.Get("Content-Type"), body: body, status: status})
	lose := p.loseFirst > 0
	if lose {
		p.loseFirst--
	}
	p.mu.Unlock()
	if lose {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	w.WriteHeader(status)
	w.Write(answer)
}

func (p *pushProxy) forward(query, contentType string, body []byte) (int, []byte) {
	resp, err := http.Post(p.target+"?"+query, contentType, bytes.NewReader(body))
	if err != nil {
		return http.StatusBadGateway, nil
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, answer
}

func (p *pushProxy) hold() {
	p.mu.Lock()
	p.gate = make(chan struct{})
	p.mu.Unlock()
}

func (p *pushProxy) release() {
	p.mu.Lock()
	if p.gate != nil {
		close(p.gate)
		p.gate = nil
	}
	p.mu.Unlock()
}

func (p *pushProxy) forwarded() []forwarded {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]forwarded(nil), p.seen...)
}

// popup taps in the simulated popup without reporting the result, and
// returns the object wx.requestSubscribeMessage gives the mini-program.
func (h *harness) popup(u user, tmpl, status string) map[string]any {
	h.t.Helper()
	p := h.sim("POST", "/__sim/popup", map[string]any{"openid": u.openid, "results": map[string]string{tmpl: status}})
	if p.status != 200 {
		h.t.Fatalf("popup: %d %s", p.status, p.raw)
	}
	return p.body
}

func (h *harness) report(u user, result map[string]any) answer {
	h.t.Helper()
	a := h.api("POST", "/v1/subscriptions", u.token, map[string]any{"result": result})
	if a.status != 200 {
		h.t.Fatalf("report: %d %s", a.status, a.raw)
	}
	return a
}

func TestPushedTapsGrantAndSentEventsDeliver(t *testing.T) {
	t.Parallel()
	configs := map[string]func(*wechatsim.Config){
		"secure XML":    nil, // the local stack's default
		"secure JSON":   func(c *wechatsim.Config) { c.PushFormat = wxpush.JSON },
		"plaintext XML": func(c *wechatsim.Config) { c.PushSecure = false },
		"plaintext JSON": func(c *wechatsim.Config) {
			c.PushSecure, c.PushFormat = false, wxpush.JSON
		},
	}
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			var opts []option
			if cfg != nil {
				opts = append(opts, withSim(cfg))
			}
			if strings.HasPrefix(name, "plaintext") {
				opts = append(opts, withEnv(map[string]string{"WECHAT_PUSH_MODE": "plaintext"}))
			}
			h := start(t, opts...)
			u := h.login("oPushOnly000000000000000000")
			// The user taps "allow" twice; the mini-program reports nothing.
			h.popup(u, oneTime, "accept")
			h.s.Sim.Advance(time.Second) // a later tap is a later event
			h.popup(u, oneTime, "accept")
			h.s.Sim.Flush()
			if r := h.checkInvariant(u.openid, oneTime); r.Credits != 2 || r.Status != ledger.Accept {
				t.Fatalf("two pushed taps: %+v", r)
			}
			a := h.send(u.openid, oneTime)
			if a.status != 200 {
				t.Fatalf("send: %d %s", a.status, a.raw)
			}
			h.s.Sim.Flush()
			m := h.admin("GET", "/v1/messages/"+a.body["message_id"].(string), nil)
			if m.body["status"] != string(ledger.Delivered) {
				t.Fatalf("after its sent event the message is %s", m.raw)
			}
			if r := h.checkInvariant(u.openid, oneTime); r.Credits != 1 || r.Spent != 1 {
				t.Fatalf("after one delivered send: %+v", r)
			}
			if st := h.s.Sim.Stats().Pushes; st.Failed != 0 || st.Delivered != 3 {
				t.Fatalf("pushes %+v, want 3 delivered at the first attempt", st)
			}
		})
	}
}

func TestOneTapReportedByClientAndPushCountsOnce(t *testing.T) {
	t.Parallel()
	h := start(t)
	p := h.proxyPushes()

	// The push first, then the client's report.
	u := h.login("oPushFirst00000000000000000")
	result := h.popup(u, oneTime, "accept")
	h.s.Sim.Flush()
	if a := h.report(u, result); !strings.Contains(a.raw, `"credits":1`) {
		t.Fatalf("push then report: %s", a.raw)
	}
	// The report first, the push held back until after it.
	v := h.login("oReportFirst000000000000000")
	p.hold()
	result = h.popup(v, oneTime, "accept")
	if a := h.report(v, result); !strings.Contains(a.raw, `"credits":1`) {
		t.Fatalf("report then push: %s", a.raw)
	}
	p.release()
	h.s.Sim.Flush()
	for _, x := range []user{u, v} {
		if r := h.checkInvariant(x.openid, oneTime); r.Credits != 1 || r.Granted != 1 {
			t.Fatalf("one tap reported twice: %+v", r)
		}
	}
	// Each grant is used up by its pair: a second tap counts again.
	h.s.Sim.Advance(time.Second)
	h.report(v, h.popup(v, oneTime, "accept"))
	h.s.Sim.Flush()
	if r := h.checkInvariant(v.openid, oneTime); r.Credits != 2 {
		t.Fatalf("a second tap: %+v", r)
	}
	if got := len(p.forwarded()); got != 3 {
		t.Fatalf("%d pushes forwarded, want 3", got)
	}
}

func TestWeChatsRetriesOfAPushCountOnce(t *testing.T) {
	t.Parallel()
	h := start(t)
	p := h.proxyPushes()
	p.loseFirst = 2 // the route answers, the answer is lost: WeChat tries again
	u := h.login("oRetried0000000000000000000")
	h.popup(u, oneTime, "accept")
	h.s.Sim.Flush()
	seen := p.forwarded()
	if len(seen) != 3 {
		t.Fatalf("%d attempts, want 3", len(seen))
	}
	for i, s := range seen {
		if s.status != 200 {
			t.Fatalf("attempt %d answered %d", i, s.status)
		}
		if i > 0 && s.query == seen[0].query {
			t.Fatal("the simulator did not re-sign its retry")
		}
	}
	if r := h.checkInvariant(u.openid, oneTime); r.Credits != 1 || r.Granted != 1 {
		t.Fatalf("one push delivered three times: %+v", r)
	}
	// A push replayed as it was (same nonce) is refused and changes nothing.
	status, answer := p.forward(seen[0].query, seen[0].contentType, seen[0].body)
	if status != 409 || !strings.Contains(string(answer), "replayed_nonce") {
		t.Fatalf("replay: %d %s", status, answer)
	}
	if r := h.row(u.openid, oneTime); r.Credits != 1 {
		t.Fatalf("a replay changed the ledger: %+v", r)
	}
}

func TestChangeEventRejectZeroesTheBalance(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oSwitchOff00000000000000000")
	h.accept(u, oneTime, 3)
	h.s.Sim.Flush()
	if a := h.sim("POST", "/__sim/switch", map[string]any{"openid": u.openid, "template_id": oneTime}); a.status != 200 {
		t.Fatalf("switch: %d %s", a.status, a.raw)
	}
	h.s.Sim.Flush()
	r := h.checkInvariant(u.openid, oneTime)
	if r.Credits != 0 || r.Revoked != 3 || r.Status != ledger.Reject {
		t.Fatalf("after the change event: %+v", r)
	}
	calls := h.s.Sim.Stats().Calls[sendPath]
	if a := h.send(u.openid, oneTime); a.status != 409 || a.errCode() != "no_credit" {
		t.Fatalf("send after the switch-off: %d %s", a.status, a.raw)
	}
	if h.s.Sim.Stats().Calls[sendPath] != calls {
		t.Fatal("WeChat was called for a user who switched the template off")
	}
}

func TestStalePushesAreRefused(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oStale000000000000000000000")
	h.s.Sim.Advance(-6 * time.Minute) // WeChat's clock, 6 minutes behind
	h.popup(u, oneTime, "accept")
	h.s.Sim.Flush()
	h.s.Sim.Advance(6 * time.Minute)
	if st := h.s.Sim.Stats().Pushes; st.Failed != 1 || st.Delivered != 0 {
		t.Fatalf("pushes %+v: the stale push was not refused", st)
	}
	if a := h.admin("GET", "/v1/users/"+u.openid+"/subscriptions", nil); strings.Contains(a.raw, `"credits":1`) {
		t.Fatalf("a refused push granted a credit: %s", a.raw)
	}
	if !strings.Contains(h.logs.String(), "stale_timestamp") {
		t.Fatalf("the refusal is not logged:\n%s", h.logs.String())
	}
}

func TestSentEventSettlesAnUnknownMessage(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oUnknown00000000000000000000")
	h.accept(u, oneTime, 2)
	h.fault(map[string]any{"path": sendPath, "drop": true, "count": 1})
	a := h.send(u.openid, oneTime)
	if a.status != 504 {
		t.Fatalf("dropped send: %d %s", a.status, a.raw)
	}
	h.s.Sim.Flush()
	msgs := h.messages(u.openid, func(ms []store.Message) bool { return len(ms) == 1 && ms[0].Status == ledger.Delivered })
	if len(msgs) != 1 || msgs[0].Status != ledger.Delivered || msgs[0].WeChatMsgID == "" {
		t.Fatalf("the sent event did not settle the unknown message: %+v", msgs)
	}
	if r := h.checkInvariant(u.openid, oneTime); r.Credits != 1 || r.Spent != 1 {
		t.Fatalf("row %+v", r)
	}
}
