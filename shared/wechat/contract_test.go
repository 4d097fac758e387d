package wechat_test

// Contract tests: every client method against the WeChat simulator
// (dev/wechatsim) over HTTP, and every error class reached through it,
// most of them through POST /__sim/faults.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/keyword"
	"github.com/wxsub/wxsub/shared/wechat"
)

func TestContractToken(t *testing.T) {
	e := newSimEnv(t)
	ctx := context.Background()
	var toks []wechat.Token
	for range 2 {
		tok, err := e.c.Token(ctx, e.appID, e.secret)
		if err != nil {
			t.Fatal(err)
		}
		e.remember(tok.AccessToken)
		if tok.ExpiresIn != 2*time.Hour {
			t.Errorf("ExpiresIn = %v, want 2h", tok.ExpiresIn)
		}
		toks = append(toks, tok)
	}
	if toks[0].AccessToken == toks[1].AccessToken {
		t.Fatal("two classic token calls returned the same token")
	}
	if n := e.sim.Stats().TokensIssued.Classic; n != 2 {
		t.Errorf("simulator issued %d classic tokens, want 2", n)
	}
	// Both tokens work during the 5-minute overlap; then only the newer one.
	for _, tok := range toks {
		if _, err := e.c.Categories(ctx, tok.AccessToken); err != nil {
			t.Errorf("token inside the overlap: %v", err)
		}
	}
	e.sim.Advance(5 * time.Minute)
	_, err := e.c.Categories(ctx, toks[0].AccessToken)
	e.check(t, err, simWant{op: "getcategory", class: wechat.ClassToken, code: 40001, http: 200, rid: true})
	if _, err := e.c.Categories(ctx, toks[1].AccessToken); err != nil {
		t.Errorf("newer token after the overlap: %v", err)
	}
}

func TestContractStableToken(t *testing.T) {
	e := newSimEnv(t)
	ctx := context.Background()
	get := func(force bool) wechat.Token {
		t.Helper()
		tok, err := e.c.StableToken(ctx, e.appID, e.secret, force)
		if err != nil {
			t.Fatalf("force=%v: %v", force, err)
		}
		e.remember(tok.AccessToken)
		if tok.ExpiresIn != 2*time.Hour {
			t.Errorf("force=%v: ExpiresIn = %v, want 2h", force, tok.ExpiresIn)
		}
		return tok
	}
	normal, again := get(false), get(false)
	if again != normal {
		t.Errorf("normal mode returned %q then %q, want the same token", normal.AccessToken, again.AccessToken)
	}
	forced := get(true)
	if forced.AccessToken == normal.AccessToken {
		t.Fatal("force_refresh returned the current token")
	}
	_, err := e.c.Templates(ctx, normal.AccessToken)
	e.check(t, err, simWant{op: "gettemplate", class: wechat.ClassToken, code: 40001, http: 200, rid: true})
	if _, err := e.c.Templates(ctx, forced.AccessToken); err != nil {
		t.Errorf("forced token: %v", err)
	}
	if st := e.sim.Stats(); st.ForceRefreshes != 1 || st.TokensIssued.Stable != 2 {
		t.Errorf("simulator counted %d force refreshes and %d stable tokens, want 1 and 2",
			st.ForceRefreshes, st.TokensIssued.Stable)
	}
}

func TestContractCode2Session(t *testing.T) {
	e := newSimEnv(t)
	for _, openid := range []string{"", "oAbCdE-chosen_openid"} {
		code, want := e.code(t, openid)
		s, err := e.c.Code2Session(context.Background(), e.appID, e.secret, code)
		if err != nil {
			t.Fatal(err)
		}
		if s.OpenID != want {
			t.Errorf("OpenID = %q, want %q", s.OpenID, want)
		}
		if key, err := base64.StdEncoding.DecodeString(s.SessionKey); err != nil || len(key) != 16 {
			t.Errorf("SessionKey %q is not 16 bytes in base64", s.SessionKey)
		}
		if s.UnionID != "" {
			t.Errorf("UnionID = %q for an app bound to no Open Platform account", s.UnionID)
		}
	}
}

func TestContractSendSubscribe(t *testing.T) {
	e := newSimEnv(t)
	tok := e.token(t)
	openid := e.subscriber(t, wechatsim.TmplOrderShipped, 2)
	m := wechat.Message{
		ToUser:           openid,
		TemplateID:       wechatsim.TmplOrderShipped,
		Page:             "pages/order/detail?id=SO20240518001",
		Data:             simData(t, wechatsim.TmplOrderShipped),
		MiniprogramState: "developer",
		Lang:             "zh_CN",
	}
	var ids []string
	for range 2 {
		res, err := e.c.SendSubscribe(context.Background(), tok, m)
		if err != nil {
			t.Fatal(err)
		}
		if res.MsgID == "" || slices.Contains(ids, res.MsgID) {
			t.Fatalf("MsgID %q after %q, want a new non-empty id", res.MsgID, ids)
		}
		ids = append(ids, res.MsgID)
	}
	inbox := e.inbox(t, openid)
	if len(inbox) != 2 {
		t.Fatalf("inbox holds %d messages, want 2", len(inbox))
	}
	for i, got := range inbox {
		if strconv.FormatInt(got.MsgID, 10) != ids[i] || got.TemplateID != m.TemplateID || got.Page != m.Page ||
			!got.SentAt.Equal(simStart) || !maps.Equal(got.Data, m.Data) {
			t.Errorf("inbox[%d] = %+v, want msgid %s and the message sent: %+v", i, got, ids[i], m)
		}
	}
	if n := e.sim.Credits(openid, m.TemplateID); n != 0 {
		t.Errorf("%d credits left after two sends for two accepts", n)
	}
}

func TestContractSendWithoutMsgID(t *testing.T) {
	e := newSimEnv(t)
	tok := e.token(t)
	openid := e.subscriber(t, wechatsim.TmplOrderShipped, 1)
	e.fault(t, wechatsim.PathSend, map[string]any{"omit_msgid": true})
	m := wechat.Message{ToUser: openid, TemplateID: wechatsim.TmplOrderShipped, Data: simData(t, wechatsim.TmplOrderShipped)}
	res, err := e.c.SendSubscribe(context.Background(), tok, m)
	if err != nil {
		t.Fatalf("a success without msgid is an error: %v", err)
	}
	if res.MsgID != "" {
		t.Fatalf("MsgID = %q from an answer without one", res.MsgID)
	}
	if len(e.inbox(t, openid)) != 1 {
		t.Fatal("the message was not delivered")
	}
}

func TestContractBizSend(t *testing.T) {
	e := newSimEnv(t)
	tok := e.token(t)
	openid := e.subscriber(t, wechatsim.TmplClinicVisit, 1)
	m := wechat.BizMessage{
		ToUser:      openid,
		TemplateID:  wechatsim.TmplClinicVisit,
		Page:        "https://example.com/visit",
		Miniprogram: &wechat.MiniprogramLink{AppID: e.appID, PagePath: "pages/visit/index?no=A0123"},
		Data:        simData(t, wechatsim.TmplClinicVisit),
	}
	// A long-term accept allows more than one message.
	for range 2 {
		res, err := e.c.BizSend(context.Background(), tok, m)
		if err != nil {
			t.Fatal(err)
		}
		if res.MsgID != "" {
			t.Errorf("MsgID = %q; bizsend answers carry none", res.MsgID)
		}
	}
	inbox := e.inbox(t, openid)
	if len(inbox) != 2 {
		t.Fatalf("inbox holds %d messages, want 2", len(inbox))
	}
	for i, got := range inbox {
		// The mini-program link wins over the web page.
		if got.TemplateID != m.TemplateID || got.Page != m.Miniprogram.PagePath || !maps.Equal(got.Data, m.Data) {
			t.Errorf("inbox[%d] = %+v, want the message sent: %+v", i, got, m)
		}
	}
}

func TestContractTemplates(t *testing.T) {
	e := newSimEnv(t)
	got, err := e.c.Templates(context.Background(), e.token(t))
	if err != nil {
		t.Fatal(err)
	}
	want := wechatsim.DefaultTemplates()
	if len(got) != len(want) {
		t.Fatalf("%d templates, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.ID != w.ID || g.Title != w.Title || g.Type != wechat.TemplateType(w.Type) {
			t.Errorf("template %d = %s %q %v, want %s %q %v", i, g.ID, g.Title, g.Type, w.ID, w.Title, w.Type)
		}
		if len(g.Keywords) != len(w.Keywords) {
			t.Errorf("%s: %d keywords, want %d", w.ID, len(g.Keywords), len(w.Keywords))
			continue
		}
		for j, wk := range w.Keywords {
			gk := g.Keywords[j]
			typ, _ := keyword.TypeOf(wk.Key)
			if gk.Key != wk.Key || gk.Name != wk.Name || gk.Type != string(typ) || !slices.Equal(gk.Enum, wk.Enum) {
				t.Errorf("%s keyword %d = %+v, want key %s name %s type %s enum %q", w.ID, j, gk, wk.Key, wk.Name, typ, wk.Enum)
			}
			if !strings.Contains(g.Example, wk.Example) {
				t.Errorf("%s: example %q lacks %q", w.ID, g.Example, wk.Example)
			}
		}
	}
}

func TestContractCategories(t *testing.T) {
	e := newSimEnv(t)
	tok := e.token(t)
	got, err := e.c.Categories(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	// What the simulator serves, read without the client.
	resp, err := e.srv.Client().Get(e.srv.URL + wechatsim.PathGetCategory + "?access_token=" + tok)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw struct {
		Data []wechat.Category `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || !slices.Equal(got, raw.Data) {
		t.Errorf("categories = %+v, want %+v", got, raw.Data)
	}
}

func TestContractPubTemplateKeywords(t *testing.T) {
	e := newSimEnv(t)
	tok := e.token(t)
	for _, tm := range wechatsim.DefaultTemplates() {
		got, err := e.c.PubTemplateKeywords(context.Background(), tok, tm.TID)
		if err != nil {
			t.Fatalf("tid %d: %v", tm.TID, err)
		}
		if len(got) != len(tm.Keywords) {
			t.Fatalf("tid %d: %d keywords, want %d", tm.TID, len(got), len(tm.Keywords))
		}
		for i, k := range tm.Keywords {
			typ, _ := keyword.TypeOf(k.Key)
			want := wechat.PubKeyword{KID: i + 1, Name: k.Name, Example: k.Example, Rule: string(typ)}
			if got[i] != want {
				t.Errorf("tid %d keyword %d = %+v, want %+v", tm.TID, i, got[i], want)
			}
		}
	}
}

func TestContractQuota(t *testing.T) {
	e := newSimEnv(t)
	ctx := context.Background()
	tok := e.token(t)
	openid := e.subscriber(t, wechatsim.TmplClinicVisit, 1)
	e.sim.SetQuota(wechatsim.PathSend, 50)
	quota := func(path string) wechat.Quota {
		t.Helper()
		q, err := e.c.Quota(ctx, tok, path)
		if err != nil {
			t.Fatalf("quota of %s: %v", path, err)
		}
		if q.Remain != q.DailyLimit-q.Used || q.RateLimit.CallCount <= 0 || q.RateLimit.RefreshSecond != 60 {
			t.Errorf("quota of %s = %+v: remain is not limit minus used, or no per-minute rate", path, q)
		}
		return q
	}
	if q := quota(wechatsim.PathSend); q.DailyLimit != 50 || q.Used != 0 {
		t.Errorf("before sending: %+v, want limit 50, used 0", q)
	}
	m := wechat.Message{ToUser: openid, TemplateID: wechatsim.TmplClinicVisit, Data: simData(t, wechatsim.TmplClinicVisit)}
	for range 3 {
		if _, err := e.c.SendSubscribe(ctx, tok, m); err != nil {
			t.Fatal(err)
		}
	}
	if q := quota(wechatsim.PathSend); q.Used != 3 || q.Remain != 47 {
		t.Errorf("after 3 sends: %+v, want used 3, remain 47", q)
	}
	// quota/get counts itself: this is its third call.
	if q := quota(wechatsim.PathQuotaGet); q.Used != 3 {
		t.Errorf("quota/get used %d, want 3", q.Used)
	}
	_, err := e.c.Quota(ctx, tok, "/cgi-bin/no/such/api")
	e.check(t, err, simWant{op: "openapi/quota/get", class: wechat.ClassRequest, code: 76021, http: 200, rid: true})
}

func TestContractClearQuota(t *testing.T) {
	for name, clear := range map[string]func(e *simEnv, tok string) error{
		"clear_quota": func(e *simEnv, tok string) error {
			return e.c.ClearQuota(context.Background(), tok, e.appID)
		},
		"clear_quota/v2": func(e *simEnv, _ string) error {
			return e.c.ClearQuotaV2(context.Background(), e.appID, e.secret)
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newSimEnv(t)
			ctx := context.Background()
			tok := e.token(t)
			openid := e.subscriber(t, wechatsim.TmplClinicVisit, 1)
			m := wechat.Message{ToUser: openid, TemplateID: wechatsim.TmplClinicVisit, Data: simData(t, wechatsim.TmplClinicVisit)}
			e.sim.SetQuota(wechatsim.PathSend, 1)
			if _, err := e.c.SendSubscribe(ctx, tok, m); err != nil {
				t.Fatal(err)
			}
			_, err := e.c.SendSubscribe(ctx, tok, m)
			e.check(t, err, simWant{op: "subscribe/send", class: wechat.ClassRate, code: 45009, http: 200, rid: true})

			if err := clear(e, tok); err != nil {
				t.Fatal(err)
			}
			if _, err := e.c.SendSubscribe(ctx, tok, m); err != nil {
				t.Errorf("send after %s: %v", name, err)
			}
			if got := len(e.inbox(t, openid)); got != 2 {
				t.Errorf("inbox holds %d messages, want 2", got)
			}
		})
	}
}

func TestContractRID(t *testing.T) {
	e := newSimEnv(t)
	ctx := context.Background()
	tok := e.token(t)
	openid := e.subscriber(t, wechatsim.TmplOrderShipped, 1)
	_, err := e.c.SendSubscribe(ctx, tok, wechat.Message{ToUser: openid, TemplateID: "no-such-template", Data: simData(t, wechatsim.TmplOrderShipped)})
	sendErr := e.check(t, err, simWant{op: "subscribe/send", class: wechat.ClassRequest, code: 40037, http: 200, rid: true})

	info, err := e.c.RID(ctx, tok, sendErr.RID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(info.RequestURL, wechatsim.PathSend) || strings.Contains(info.RequestURL, tok) {
		t.Errorf("RequestURL = %q, want the send path without the token", info.RequestURL)
	}
	if !strings.Contains(info.RequestBody, "no-such-template") || !strings.Contains(info.RequestBody, openid) {
		t.Errorf("RequestBody = %q, want the message sent", info.RequestBody)
	}
	if !strings.Contains(info.ResponseBody, `"errcode":40037`) || !strings.Contains(info.ResponseBody, sendErr.RID) {
		t.Errorf("ResponseBody = %q, want the 40037 answer", info.ResponseBody)
	}
	if info.InvokeTime != simStart.Unix() || info.ClientIP != "127.0.0.1" {
		t.Errorf("InvokeTime %d, ClientIP %q, want %d and 127.0.0.1", info.InvokeTime, info.ClientIP, simStart.Unix())
	}

	// A rid/get record of a failed login shows neither the secret nor the code.
	code, _ := e.code(t, "")
	if _, err := e.c.Code2Session(ctx, e.appID, e.secret, code); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.Code2Session(ctx, e.appID, e.secret, code)
	loginErr := e.check(t, err, simWant{op: "jscode2session", class: wechat.ClassRequest, code: 40163, http: 200, rid: true})
	info, err = e.c.RID(ctx, tok, loginErr.RID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(info.RequestURL, wechatsim.PathCode2Session) ||
		strings.Contains(info.RequestURL, e.secret) || strings.Contains(info.RequestURL, code) {
		t.Errorf("RequestURL = %q, want the login path without secret and code", info.RequestURL)
	}

	// A well-formed rid the simulator never issued.
	_, err = e.c.RID(ctx, tok, "00000000-00000000-00000000")
	e.check(t, err, simWant{op: "openapi/rid/get", class: wechat.ClassRequest, code: 76001, http: 200, rid: true})
}

// TestContractErrors reaches every error class through the simulator: its
// own rules (tokens, codes, credits, keyword data, quotas), its control
// endpoints, and faults injected with POST /__sim/faults.
func TestContractErrors(t *testing.T) {
	const (
		shipped = wechatsim.TmplOrderShipped
		clinic  = wechatsim.TmplClinicVisit
	)
	send := func(c *wechat.Client, tok string, m wechat.Message) error {
		_, err := c.SendSubscribe(context.Background(), tok, m)
		return err
	}
	// sendable returns a token and a message its user holds one credit for.
	sendable := func(t *testing.T, e *simEnv) (string, wechat.Message) {
		t.Helper()
		tok := e.token(t)
		openid := e.subscriber(t, shipped, 1)
		return tok, wechat.Message{ToUser: openid, TemplateID: shipped, Data: simData(t, shipped)}
	}
	// delivered asserts how many messages reached the message's user.
	delivered := func(t *testing.T, e *simEnv, m wechat.Message, n int) {
		t.Helper()
		if got := len(e.sim.Inbox(m.ToUser)); got != n {
			t.Errorf("inbox holds %d messages, want %d", got, n)
		}
	}
	sendWant := func(class wechat.Class, code, status int, rid bool) simWant {
		return simWant{op: "subscribe/send", class: class, code: code, http: status, rid: rid}
	}

	cases := []struct {
		name string
		run  func(t *testing.T, e *simEnv) error
		want simWant
	}{
		// ClassToken
		{"40001 after /__sim/tokens/invalidate", func(t *testing.T, e *simEnv) error {
			tok, m := sendable(t, e)
			e.control(t, http.MethodPost, "/__sim/tokens/invalidate", nil, nil)
			err := send(e.c, tok, m)
			delivered(t, e, m, 0)
			return err
		}, sendWant(wechat.ClassToken, 40001, 200, true)},
		{"42001 past expiry", func(t *testing.T, e *simEnv) error {
			tok := e.token(t)
			e.sim.Advance(2*time.Hour + time.Second)
			_, err := e.c.Templates(context.Background(), tok)
			return err
		}, simWant{op: "gettemplate", class: wechat.ClassToken, code: 42001, http: 200, rid: true}},
		{"41001 no token", func(t *testing.T, e *simEnv) error {
			_, m := sendable(t, e)
			return send(e.c, "", m)
		}, sendWant(wechat.ClassToken, 41001, 200, true)},
		{"40014 fault", func(t *testing.T, e *simEnv) error {
			tok := e.token(t)
			e.fault(t, wechatsim.PathGetCategory, map[string]any{"errcode": 40014})
			_, err := e.c.Categories(context.Background(), tok)
			return err
		}, simWant{op: "getcategory", class: wechat.ClassToken, code: 40014, http: 200, rid: true}},

		// ClassRequest
		{"40037 unknown template", func(t *testing.T, e *simEnv) error {
			tok, m := sendable(t, e)
			m.TemplateID = "no-such-template"
			return send(e.c, tok, m)
		}, sendWant(wechat.ClassRequest, 40037, 200, true)},
		{"47003 bad data", func(t *testing.T, e *simEnv) error {
			tok, m := sendable(t, e)
			m.Data["thing2"] = wechat.Value{}
			err := send(e.c, tok, m)
			if we, ok := errors.AsType[*wechat.Error](err); !ok || !strings.Contains(we.Msg, "data.thing2.value is empty") {
				t.Errorf("errmsg of %v does not name the empty keyword", err)
			}
			if n := e.sim.Credits(m.ToUser, m.TemplateID); n != 1 {
				t.Errorf("a refused message spent a credit: %d left", n)
			}
			return err
		}, sendWant(wechat.ClassRequest, 47003, 200, true)},
		{"40003 unknown openid", func(t *testing.T, e *simEnv) error {
			tok, m := sendable(t, e)
			m.ToUser = "oUnknownUser0000000000000000"
			return send(e.c, tok, m)
		}, sendWant(wechat.ClassRequest, 40003, 200, true)},
		{"40029 bad code", func(t *testing.T, e *simEnv) error {
			_, err := e.c.Code2Session(context.Background(), e.appID, e.secret, e.remember("0a1NotIssuedCode"))
			return err
		}, simWant{op: "jscode2session", class: wechat.ClassRequest, code: 40029, http: 200, rid: true}},
		{"40163 reused code", func(t *testing.T, e *simEnv) error {
			code, _ := e.code(t, "")
			if _, err := e.c.Code2Session(context.Background(), e.appID, e.secret, code); err != nil {
				t.Fatal(err)
			}
			_, err := e.c.Code2Session(context.Background(), e.appID, e.secret, code)
			return err
		}, simWant{op: "jscode2session", class: wechat.ClassRequest, code: 40163, http: 200, rid: true}},
		{"40125 wrong secret", func(t *testing.T, e *simEnv) error {
			_, err := e.c.Token(context.Background(), e.appID, e.remember("0000"+e.secret[4:]))
			return err
		}, simWant{op: "token", class: wechat.ClassRequest, code: 40125, http: 200, rid: true}},
		{"200014 unknown tid", func(t *testing.T, e *simEnv) error {
			_, err := e.c.PubTemplateKeywords(context.Background(), e.token(t), 99999)
			return err
		}, simWant{op: "getpubtemplatekeywords", class: wechat.ClassRequest, code: 200014, http: 200, rid: true}},
		{"45168 fault", func(t *testing.T, e *simEnv) error {
			tok, m := sendable(t, e)
			e.fault(t, wechatsim.PathSend, map[string]any{"errcode": 45168})
			err := send(e.c, tok, m)
			delivered(t, e, m, 0)
			return err
		}, sendWant(wechat.ClassRequest, 45168, 200, true)},

		// ClassNoSubscription
		{"43101 at zero credits", func(t *testing.T, e *simEnv) error {
			tok, m := sendable(t, e)
			if err := send(e.c, tok, m); err != nil {
				t.Fatal(err)
			}
			err := send(e.c, tok, m)
			delivered(t, e, m, 1)
			return err
		}, sendWant(wechat.ClassNoSubscription, 43101, 200, true)},
		{"43101 after a long-term reject", func(t *testing.T, e *simEnv) error {
			tok := e.token(t)
			openid := e.subscriber(t, clinic, 1)
			if _, err := e.sim.Popup(openid, map[string]string{clinic: "reject"}); err != nil {
				t.Fatal(err)
			}
			_, err := e.c.BizSend(context.Background(), tok, wechat.BizMessage{ToUser: openid, TemplateID: clinic, Data: simData(t, clinic)})
			return err
		}, simWant{op: "subscribe/bizsend", class: wechat.ClassNoSubscription, code: 43101, http: 200, rid: true}},
		{"43101 fault", func(t *testing.T, e *simEnv) error {
			tok := e.token(t)
			openid := e.subscriber(t, clinic, 1)
			e.fault(t, wechatsim.PathBizSend, map[string]any{"errcode": 43101})
			_, err := e.c.BizSend(context.Background(), tok, wechat.BizMessage{ToUser: openid, TemplateID: clinic, Data: simData(t, clinic)})
			return err
		}, simWant{op: "subscribe/bizsend", class: wechat.ClassNoSubscription, code: 43101, http: 200, rid: true}},

		// ClassRate
		{"45009 small daily quota", func(t *testing.T, e *simEnv) error {
			tok, m := sendable(t, e)
			e.sim.SetQuota(wechatsim.PathSend, 0)
			err := send(e.c, tok, m)
			delivered(t, e, m, 0)
			return err
		}, sendWant(wechat.ClassRate, 45009, 200, true)},
		{"45011 fault", func(t *testing.T, e *simEnv) error {
			code, _ := e.code(t, "")
			e.fault(t, wechatsim.PathCode2Session, map[string]any{"errcode": 45011})
			_, err := e.c.Code2Session(context.Background(), e.appID, e.secret, code)
			return err
		}, simWant{op: "jscode2session", class: wechat.ClassRate, code: 45011, http: 200, rid: true}},
		{"43108 fault", func(t *testing.T, e *simEnv) error {
			tok, m := sendable(t, e)
			e.fault(t, wechatsim.PathSend, map[string]any{"errcode": 43108})
			err := send(e.c, tok, m)
			delivered(t, e, m, 0)
			return err
		}, sendWant(wechat.ClassRate, 43108, 200, true)},
		{"HTTP 429 fault", func(t *testing.T, e *simEnv) error {
			tok, m := sendable(t, e)
			e.fault(t, wechatsim.PathSend, map[string]any{"http_status": 429})
			return send(e.c, tok, m)
		}, sendWant(wechat.ClassRate, 0, 429, false)},

		// ClassUnavailable
		{"errcode -1 fault", func(t *testing.T, e *simEnv) error {
			e.fault(t, wechatsim.PathStableToken, map[string]any{"errcode": -1})
			_, err := e.c.StableToken(context.Background(), e.appID, e.secret, false)
			return err
		}, simWant{op: "stable_token", class: wechat.ClassUnavailable, code: -1, http: 200, rid: true}},
		{"HTTP 502 fault", func(t *testing.T, e *simEnv) error {
			tok, m := sendable(t, e)
			e.fault(t, wechatsim.PathSend, map[string]any{"http_status": 502})
			err := send(e.c, tok, m)
			delivered(t, e, m, 0)
			return err
		}, sendWant(wechat.ClassUnavailable, 0, 502, false)},
		{"closed server", func(t *testing.T, e *simEnv) error {
			tok, m := sendable(t, e)
			e.shutDown()
			err := send(e.c, tok, m)
			delivered(t, e, m, 0)
			return err
		}, sendWant(wechat.ClassUnavailable, 0, 0, false)},

		// ClassUnknown: the request reached the simulator, which acted on it.
		{"delay_ms past the client timeout", func(t *testing.T, e *simEnv) error {
			tok, m := sendable(t, e)
			e.fault(t, wechatsim.PathSend, map[string]any{"delay_ms": 5000})
			err := send(e.quick, tok, m)
			e.srv.Close() // waits for the delayed answer to be abandoned
			delivered(t, e, m, 1)
			return err
		}, sendWant(wechat.ClassUnknown, 0, 0, false)},
		{"drop", func(t *testing.T, e *simEnv) error {
			tok, m := sendable(t, e)
			e.fault(t, wechatsim.PathSend, map[string]any{"drop": true})
			err := send(e.c, tok, m)
			delivered(t, e, m, 1)
			if n := e.calls(wechatsim.PathSend); n != 1 {
				t.Errorf("simulator got %d sends, want 1: the client must not resend", n)
			}
			return err
		}, sendWant(wechat.ClassUnknown, 0, 0, false)},
		{"malformed body fault", func(t *testing.T, e *simEnv) error {
			tok, m := sendable(t, e)
			e.fault(t, wechatsim.PathSend, map[string]any{"body": `{"errcode":0,"errmsg":"ok","msgid":`})
			return send(e.c, tok, m)
		}, sendWant(wechat.ClassUnknown, 0, 200, false)},
		{"token answer without a token", func(t *testing.T, e *simEnv) error {
			e.fault(t, wechatsim.PathToken, map[string]any{"body": `{"expires_in":7200}`})
			_, err := e.c.Token(context.Background(), e.appID, e.secret)
			return err
		}, simWant{op: "token", class: wechat.ClassUnknown, http: 200}},
		{"login timeout", func(t *testing.T, e *simEnv) error {
			code, _ := e.code(t, "")
			e.fault(t, wechatsim.PathCode2Session, map[string]any{"delay_ms": 5000})
			_, err := e.quick.Code2Session(context.Background(), e.appID, e.secret, code)
			return err
		}, simWant{op: "jscode2session", class: wechat.ClassUnknown}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newSimEnv(t)
			e.check(t, tc.run(t, e), tc.want)
		})
	}
}

// simMethod is one client method, called with arguments that succeed.
type simMethod struct {
	op, path string
	get      bool // sent as an HTTP GET
	token    bool // takes an access token
	call     func(ctx context.Context, t *testing.T, c *wechat.Client) error
}

// methods returns every client method, ready to call against e.
func (e *simEnv) methods(t *testing.T) []simMethod {
	t.Helper()
	ctx := context.Background()
	tok := e.token(t)
	openid := e.subscriber(t, wechatsim.TmplClinicVisit, 1)
	data := simData(t, wechatsim.TmplClinicVisit)
	_, err := e.c.SendSubscribe(ctx, tok, wechat.Message{ToUser: openid, TemplateID: "no-such-template", Data: data})
	rid := e.check(t, err, simWant{op: "subscribe/send", class: wechat.ClassRequest, code: 40037, http: 200, rid: true}).RID
	tid := wechatsim.DefaultTemplates()[0].TID
	return []simMethod{
		{"token", wechatsim.PathToken, true, false, func(ctx context.Context, _ *testing.T, c *wechat.Client) error {
			tk, err := c.Token(ctx, e.appID, e.secret)
			e.remember(tk.AccessToken)
			return err
		}},
		{"stable_token", wechatsim.PathStableToken, false, false, func(ctx context.Context, _ *testing.T, c *wechat.Client) error {
			_, err := c.StableToken(ctx, e.appID, e.secret, false)
			return err
		}},
		{"jscode2session", wechatsim.PathCode2Session, true, false, func(ctx context.Context, t *testing.T, c *wechat.Client) error {
			code, _ := e.code(t, "")
			_, err := c.Code2Session(ctx, e.appID, e.secret, code)
			return err
		}},
		{"subscribe/send", wechatsim.PathSend, false, true, func(ctx context.Context, _ *testing.T, c *wechat.Client) error {
			_, err := c.SendSubscribe(ctx, tok, wechat.Message{ToUser: openid, TemplateID: wechatsim.TmplClinicVisit, Data: data})
			return err
		}},
		{"subscribe/bizsend", wechatsim.PathBizSend, false, true, func(ctx context.Context, _ *testing.T, c *wechat.Client) error {
			_, err := c.BizSend(ctx, tok, wechat.BizMessage{ToUser: openid, TemplateID: wechatsim.TmplClinicVisit, Data: data})
			return err
		}},
		{"gettemplate", wechatsim.PathGetTemplate, true, true, func(ctx context.Context, _ *testing.T, c *wechat.Client) error {
			_, err := c.Templates(ctx, tok)
			return err
		}},
		{"getcategory", wechatsim.PathGetCategory, true, true, func(ctx context.Context, _ *testing.T, c *wechat.Client) error {
			_, err := c.Categories(ctx, tok)
			return err
		}},
		{"getpubtemplatekeywords", wechatsim.PathPubKeywords, true, true, func(ctx context.Context, _ *testing.T, c *wechat.Client) error {
			_, err := c.PubTemplateKeywords(ctx, tok, tid)
			return err
		}},
		{"openapi/quota/get", wechatsim.PathQuotaGet, false, true, func(ctx context.Context, _ *testing.T, c *wechat.Client) error {
			_, err := c.Quota(ctx, tok, wechatsim.PathSend)
			return err
		}},
		{"clear_quota", wechatsim.PathClearQuota, false, true, func(ctx context.Context, _ *testing.T, c *wechat.Client) error {
			return c.ClearQuota(ctx, tok, e.appID)
		}},
		{"clear_quota/v2", wechatsim.PathClearQuotaV2, false, false, func(ctx context.Context, _ *testing.T, c *wechat.Client) error {
			return c.ClearQuotaV2(ctx, e.appID, e.secret)
		}},
		{"openapi/rid/get", wechatsim.PathRIDGet, false, true, func(ctx context.Context, _ *testing.T, c *wechat.Client) error {
			_, err := c.RID(ctx, tok, rid)
			return err
		}},
	}
}

// TestContractEveryMethodFails breaks every client method in every way the
// simulator can, and checks the class, that exactly one request reached the
// simulator (the client never retries), and that the next call succeeds
// once a fault is spent.
func TestContractEveryMethodFails(t *testing.T) {
	type breaker struct {
		name     string
		applies  func(m simMethod) bool // nil: every method
		inject   func(t *testing.T, e *simEnv, m simMethod)
		quick    bool  // make the failing call with the short-timeout client
		reached  int64 // requests of the failing call that reach the simulator
		class    wechat.Class
		code     int
		http     int
		rid      bool
		recovers bool // the next call succeeds
	}
	fault := func(f map[string]any) func(t *testing.T, e *simEnv, m simMethod) {
		return func(t *testing.T, e *simEnv, m simMethod) { e.fault(t, m.path, f) }
	}
	breakers := []breaker{
		{name: "errcode -1", reached: 1, inject: fault(map[string]any{"errcode": -1}),
			class: wechat.ClassUnavailable, code: -1, http: 200, rid: true, recovers: true},
		{name: "errcode 45011", reached: 1, inject: fault(map[string]any{"errcode": 45011}),
			class: wechat.ClassRate, code: 45011, http: 200, rid: true, recovers: true},
		{name: "http 502", reached: 1, inject: fault(map[string]any{"http_status": 502}),
			class: wechat.ClassUnavailable, http: 502, recovers: true},
		{name: "malformed body", reached: 1, inject: fault(map[string]any{"body": `{"errcode":0,"errmsg":"ok"`}),
			class: wechat.ClassUnknown, http: 200, recovers: true},
		{name: "delay", reached: 1, inject: fault(map[string]any{"delay_ms": 5000}), quick: true,
			class: wechat.ClassUnknown, recovers: true},
		// GETs included: net/http would replay a GET whose reused
		// connection closes unanswered; the client must not let it.
		{name: "drop", reached: 1, inject: fault(map[string]any{"drop": true}),
			class: wechat.ClassUnknown, recovers: true},
		{name: "tokens invalidated", reached: 1, applies: func(m simMethod) bool { return m.token },
			inject: func(t *testing.T, e *simEnv, _ simMethod) {
				e.control(t, http.MethodPost, "/__sim/tokens/invalidate", nil, nil)
			},
			class: wechat.ClassToken, code: 40001, http: 200, rid: true},
		{name: "server closed", inject: func(_ *testing.T, e *simEnv, _ simMethod) { e.shutDown() },
			class: wechat.ClassUnavailable},
	}
	// The method list is the same for every environment.
	ops := newSimEnv(t).methods(t)
	for _, b := range breakers {
		for i, op := range ops {
			if b.applies != nil && !b.applies(op) {
				continue
			}
			t.Run(b.name+"/"+op.op, func(t *testing.T) {
				ctx := context.Background()
				e := newSimEnv(t)
				m := e.methods(t)[i]
				before := e.calls(m.path)
				b.inject(t, e, m)
				c := e.c
				if b.quick {
					c = e.quick
				}
				e.check(t, m.call(ctx, t, c), simWant{op: m.op, class: b.class, code: b.code, http: b.http, rid: b.rid})
				want := b.reached
				if b.recovers {
					if err := m.call(ctx, t, e.c); err != nil {
						t.Errorf("call after the fault: %v", err)
					}
					want++
				}
				e.srv.Close() // waits for every request in flight
				if got := e.calls(m.path) - before; got != want {
					t.Errorf("simulator got %d calls, want %d", got, want)
				}
			})
		}
	}
}
