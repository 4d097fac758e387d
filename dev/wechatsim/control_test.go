package wechatsim_test

import (
	"encoding/json"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/keyword"
	"github.com/wxsub/wxsub/shared/wxpush"
)

func TestGeneratedConfig(t *testing.T) {
	e := newEnv(t, wechatsim.Config{PushURL: "http://127.0.0.1:3000/v1/wechat/events"})
	c := e.cfg
	checks := map[string]struct {
		value   string
		pattern string
	}{
		"appid":          {c.AppID, `^wx[0-9a-f]{16}$`},
		"secret":         {c.Secret, `^[0-9a-f]{32}$`},
		"original id":    {c.OriginalID, `^gh_[0-9a-f]{12}$`},
		"push token":     {c.PushToken, `^[A-Za-z0-9]{32}$`},
		"EncodingAESKey": {c.EncodingAESKey, `^[A-Za-z0-9]{43}$`},
	}
	for name, ch := range checks {
		if !regexp.MustCompile(ch.pattern).MatchString(ch.value) {
			t.Errorf("%s %q does not match %s", name, ch.value, ch.pattern)
		}
	}
	if _, err := wxpush.NewCipher(c.EncodingAESKey, c.AppID); err != nil {
		t.Errorf("generated EncodingAESKey: %v", err)
	}
	other := wechatsim.New(wechatsim.Config{})
	defer other.Close()
	if other.Config().AppID == c.AppID || other.Config().Secret == c.Secret {
		t.Error("two simulators generated the same credentials")
	}
	given := wechatsim.New(wechatsim.Config{AppID: "wx1234567890abcdef", Secret: "s3cret", PushToken: "tok", EncodingAESKey: c.EncodingAESKey})
	defer given.Close()
	if g := given.Config(); g.AppID != "wx1234567890abcdef" || g.Secret != "s3cret" || g.PushToken != "tok" || g.EncodingAESKey != c.EncodingAESKey {
		t.Errorf("given credentials were replaced: %+v", g)
	}
}

func TestConfigEndpoint(t *testing.T) {
	e := newEnv(t, wechatsim.Config{PushURL: "http://127.0.0.1:3000/v1/wechat/events"})
	_, body := e.do("GET", "/__sim/config", nil)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range raw {
		names = append(names, k)
	}
	slices.Sort(names)
	if want := []string{"appid", "encoding_aes_key", "kind", "push_token", "push_url", "secret", "templates"}; !slices.Equal(names, want) {
		t.Fatalf("config fields %v, want %v", names, want)
	}
	var got struct {
		AppID, Secret  string
		PushURL        string `json:"push_url"`
		PushToken      string `json:"push_token"`
		EncodingAESKey string `json:"encoding_aes_key"`
		Templates      []struct {
			ID, Title string
			Type      int
			Keywords  []struct {
				Key, Name, Type string
				Enum            []string
			}
		}
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.AppID != e.cfg.AppID || got.Secret != e.cfg.Secret || got.PushToken != e.cfg.PushToken ||
		got.EncodingAESKey != e.cfg.EncodingAESKey || got.PushURL != "http://127.0.0.1:3000/v1/wechat/events" {
		t.Fatalf("config %s does not match the Sim's %+v", body, e.cfg)
	}
	if len(got.Templates) != len(e.cfg.Templates) {
		t.Fatalf("%d templates, want %d", len(got.Templates), len(e.cfg.Templates))
	}
	for i, tm := range got.Templates {
		want := e.cfg.Templates[i]
		if tm.ID != want.ID || tm.Title != want.Title || tm.Type != want.Type || len(tm.Keywords) != len(want.Keywords) {
			t.Fatalf("template %d: %+v, want %+v", i, tm, want)
		}
		for j, k := range tm.Keywords {
			typ, _ := keyword.TypeOf(k.Key)
			if k.Key != want.Keywords[j].Key || k.Name != want.Keywords[j].Name || k.Type != string(typ) || k.Type == "" ||
				!slices.Equal(k.Enum, want.Keywords[j].Enum) {
				t.Errorf("keyword %+v, want %+v of type %s", k, want.Keywords[j], typ)
			}
		}
	}
}

func TestStatsEndpoint(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	e.token()
	e.classic()
	tok := e.stable(true).str("access_token")
	openid := e.user(wechatsim.TmplOrderShipped, 2)
	e.popup(openid, map[string]string{wechatsim.TmplClinicVisit: "accept"})
	wantOK(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)))
	var got wechatsim.Stats
	_, body := e.do("GET", "/__sim/stats", nil)
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := wechatsim.Stats{
		Calls:          map[string]int64{wechatsim.PathStableToken: 2, wechatsim.PathToken: 1, wechatsim.PathSend: 1},
		ForceRefreshes: 1,
		TokensIssued:   wechatsim.TokenCounts{Classic: 1, Stable: 2},
		Credits:        map[string]map[string]int{openid: {wechatsim.TmplOrderShipped: 1}},
		Delivered:      1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stats\n got %+v\nwant %+v", got, want)
	}
	if !reflect.DeepEqual(e.sim.Stats(), want) {
		t.Fatalf("Stats() %+v differs from /__sim/stats", e.sim.Stats())
	}
	for _, k := range []string{`"calls"`, `"force_refreshes"`, `"tokens_issued"`, `"classic"`, `"stable"`, `"credits"`, `"delivered"`} {
		if !strings.Contains(string(body), k) {
			t.Errorf("stats JSON lacks %s: %s", k, body)
		}
	}
}

func TestReset(t *testing.T) {
	e := newEnv(t, wechatsim.Config{PushURL: "http://127.0.0.1:1/events"})
	before := e.sim.Config()
	tok := e.token()
	openid := e.user(wechatsim.TmplOrderShipped, 1)
	e.sim.SetQuota(wechatsim.PathSend, 0)
	e.sim.Advance(time.Hour)
	e.control("POST", "/__sim/faults", map[string]any{"path": wechatsim.PathToken, "errcode": -1, "count": 5})
	e.control("POST", "/__sim/reset", nil)

	after := e.sim.Config()
	if after.AppID != before.AppID || after.Secret != before.Secret || after.PushToken != before.PushToken ||
		after.EncodingAESKey != before.EncodingAESKey || after.PushURL != before.PushURL || !reflect.DeepEqual(after.Templates, before.Templates) {
		t.Fatal("reset changed the configuration")
	}
	if !e.sim.Now().Equal(start) {
		t.Fatalf("reset left the clock at %v", e.sim.Now())
	}
	if s := e.sim.Stats(); len(s.Calls) != 0 || len(s.Credits) != 0 || s.Delivered != 0 || s.TokensIssued.Stable != 0 {
		t.Fatalf("stats after reset: %+v", s)
	}
	if c := e.check(tok); c != 40001 {
		t.Fatalf("old token after reset: errcode %d, want 40001", c)
	}
	wantOK(t, e.classic()) // the fault is gone
	tok = e.token()
	// The user is forgotten: a user of the app without a subscription.
	wantErr(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped)), 43101, "user refuse")
	e.login(openid)
	e.popup(openid, map[string]string{wechatsim.TmplOrderShipped: "accept"})
	wantOK(t, e.send(tok, e.message(openid, wechatsim.TmplOrderShipped))) // the quota override is gone
}

func TestInboxNeedsOpenID(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	if status, _ := e.do("GET", "/__sim/inbox", nil); status != 400 {
		t.Fatalf("inbox without openid: HTTP %d, want 400", status)
	}
	if got := e.inbox("oNobody"); len(got) != 0 {
		t.Fatalf("inbox of an unknown user: %v", got)
	}
}

func TestRIDGetRemembersFailedRequests(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	bad := e.wx("POST", wechatsim.PathStableToken, map[string]any{"grant_type": "client_credential", "appid": e.cfg.AppID, "secret": "wrong-secret"})
	rid := bad.str("errmsg")[strings.LastIndex(bad.str("errmsg"), " ")+1:]
	ridGet := func(rid string) obj {
		return e.wx("POST", wechatsim.PathRIDGet+"?access_token="+url.QueryEscape(tok), map[string]string{"rid": rid})
	}
	o := ridGet(rid)
	wantOK(t, o)
	req, _ := o["request"].(map[string]any)
	if req["request_url"] != wechatsim.PathStableToken || req["invoke_time"] != json.Number(jsonInt(int(start.Unix()))) {
		t.Fatalf("rid/get request %v", req)
	}
	if rb, _ := req["request_body"].(string); !strings.Contains(rb, e.cfg.AppID) || strings.Contains(rb, "wrong-secret") {
		t.Fatalf("request_body %q: want the appid and no secret", rb)
	}
	if resp, _ := req["response_body"].(string); !strings.Contains(resp, "40125") {
		t.Fatalf("response_body %q", resp)
	}
	wantErr(t, ridGet("00000000-00000000-00000000"), 76001, "")
	wantErr(t, ridGet("not-a-rid"), 76002, "")
	e.sim.Advance(7*24*time.Hour + time.Second)
	tok = e.token()
	o = e.wx("POST", wechatsim.PathRIDGet+"?access_token="+url.QueryEscape(tok), map[string]string{"rid": rid})
	wantErr(t, o, 76004, "")
}

func TestRIDGetHidesTheToken(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	bad := e.send(tok, map[string]any{"touser": "oNobody", "template_id": wechatsim.TmplOrderShipped})
	rid := bad.str("errmsg")[strings.LastIndex(bad.str("errmsg"), " ")+1:]
	o := e.wx("POST", wechatsim.PathRIDGet+"?access_token="+url.QueryEscape(tok), map[string]string{"rid": rid})
	req, _ := o["request"].(map[string]any)
	if u, _ := req["request_url"].(string); !strings.HasPrefix(u, wechatsim.PathSend+"?access_token=") || strings.Contains(u, tok) {
		t.Fatalf("request_url %q: want the path with the token blanked", u)
	}
}
