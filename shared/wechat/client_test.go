package wechat_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wxsub/wxsub/shared/wechat"
)

const (
	wxAppID  = "wx1234567890abcdef"
	wxSecret = "s3cr3t0123456789abcdef0123456789"
	wxToken  = "81_TOKENabcdefghijklmnopqrstuvwxyzTOKEN"
	wxCode   = "0c3LOGINCODEx1y2z3"
)

// wxRequest is what a fake WeChat server received.
type wxRequest struct {
	Method      string
	Path        string
	Query       url.Values
	ContentType string
	Body        []byte
}

// wxFake is a fake WeChat API answering every request with one status and body.
type wxFake struct {
	URL string

	mu     sync.Mutex
	status int
	body   string
	reqs   []wxRequest
}

func newWxFake(t testing.TB, status int, body string) *wxFake {
	t.Helper()
	f := &wxFake{status: status, body: body}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, wxRequest{r.Method, r.URL.Path, r.URL.Query(), r.Header.Get("Content-Type"), b})
		status, body := f.status, f.body
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// answer changes what the fake answers from now on.
func (f *wxFake) answer(status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.body = status, body
}

// only returns the single request the fake received.
func (f *wxFake) only(t *testing.T) wxRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) != 1 {
		t.Fatalf("fake WeChat got %d requests, want 1", len(f.reqs))
	}
	return f.reqs[0]
}

// newWxClient returns a client with its own transport, so tests share no connections.
func newWxClient(t *testing.T, baseURL string, timeout time.Duration) *wechat.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return wechat.NewClient(baseURL, &http.Client{Transport: tr, Timeout: timeout})
}

// wxJSON decodes a request body into a generic map.
func wxJSON(t *testing.T, r wxRequest) map[string]any {
	t.Helper()
	if !strings.HasPrefix(r.ContentType, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", r.ContentType)
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("request body %q is not a JSON object: %v", r.Body, err)
	}
	return m
}

func wxCheckRequest(t *testing.T, got wxRequest, method, path string, query url.Values) {
	t.Helper()
	if got.Method != method || got.Path != path {
		t.Errorf("request = %s %s, want %s %s", got.Method, got.Path, method, path)
	}
	if !reflect.DeepEqual(got.Query, query) {
		t.Errorf("query = %v, want %v", got.Query, query)
	}
}

func wxTokenQuery() url.Values { return url.Values{"access_token": {wxToken}} }

// wxNoSecrets fails if err, anything it wraps, or its errmsg shows a secret.
func wxNoSecrets(t *testing.T, err error) {
	t.Helper()
	var texts []string
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		texts = append(texts, e.Error(), fmt.Sprintf("%+v", e))
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	var we *wechat.Error
	if errors.As(err, &we) {
		texts = append(texts, we.Msg, we.RID)
	}
	for _, s := range texts {
		for _, secret := range []string{wxSecret, wxToken, wxCode} {
			if strings.Contains(s, secret) {
				t.Errorf("error text %q contains the secret %q", s, secret)
			}
		}
	}
}

func wxErr(t *testing.T, err error) *wechat.Error {
	t.Helper()
	var we *wechat.Error
	if !errors.As(err, &we) {
		t.Fatalf("error %v (%T) is not a *wechat.Error", err, err)
	}
	return we
}

func TestToken(t *testing.T) {
	for _, body := range []string{
		`{"access_token":"ACCESS","expires_in":7200}`,
		`{"access_token":"ACCESS","expires_in":"7200"}`,
		`{"access_token":"ACCESS","expires_in":7200,"errcode":0,"errmsg":"ok"}`,
		`{"access_token":"ACCESS","expires_in":"7200","errcode":"0"}`,
	} {
		f := newWxFake(t, 200, body)
		tok, err := newWxClient(t, f.URL, 0).Token(context.Background(), wxAppID, wxSecret)
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if want := (wechat.Token{AccessToken: "ACCESS", ExpiresIn: 2 * time.Hour}); tok != want {
			t.Errorf("%s: got %+v, want %+v", body, tok, want)
		}
		wxCheckRequest(t, f.only(t), "GET", "/cgi-bin/token", url.Values{
			"grant_type": {"client_credential"}, "appid": {wxAppID}, "secret": {wxSecret},
		})
	}
}

func TestStableToken(t *testing.T) {
	for _, force := range []bool{false, true} {
		f := newWxFake(t, 200, `{"access_token":"STABLE","expires_in":"1800"}`)
		tok, err := newWxClient(t, f.URL, 0).StableToken(context.Background(), wxAppID, wxSecret, force)
		if err != nil {
			t.Fatal(err)
		}
		if want := (wechat.Token{AccessToken: "STABLE", ExpiresIn: 30 * time.Minute}); tok != want {
			t.Errorf("got %+v, want %+v", tok, want)
		}
		r := f.only(t)
		wxCheckRequest(t, r, "POST", "/cgi-bin/stable_token", url.Values{})
		want := map[string]any{"grant_type": "client_credential", "appid": wxAppID, "secret": wxSecret, "force_refresh": force}
		if got := wxJSON(t, r); !reflect.DeepEqual(got, want) {
			t.Errorf("force=%v: body %v, want %v", force, got, want)
		}
	}
}

func TestTokenAnswerWithoutToken(t *testing.T) {
	f := newWxFake(t, 200, `{"expires_in":7200}`)
	c := newWxClient(t, f.URL, 0)
	_, err := c.Token(context.Background(), wxAppID, wxSecret)
	if got := wechat.ClassOf(err); got != wechat.ClassUnknown {
		t.Errorf("token answer without access_token: class %v (%v), want unknown", got, err)
	}
	_, err = c.StableToken(context.Background(), wxAppID, wxSecret, false)
	if got := wechat.ClassOf(err); got != wechat.ClassUnknown {
		t.Errorf("stable_token answer without access_token: class %v (%v), want unknown", got, err)
	}
}

func TestCode2Session(t *testing.T) {
	cases := []struct {
		body string
		want wechat.Session
	}{
		{`{"openid":"OPENID","session_key":"KEY"}`, wechat.Session{OpenID: "OPENID", SessionKey: "KEY"}},
		{`{"openid":"OPENID","session_key":"KEY","unionid":"UNION","errcode":0,"errmsg":""}`,
			wechat.Session{OpenID: "OPENID", SessionKey: "KEY", UnionID: "UNION"}},
	}
	for _, tc := range cases {
		f := newWxFake(t, 200, tc.body)
		s, err := newWxClient(t, f.URL, 0).Code2Session(context.Background(), wxAppID, wxSecret, wxCode)
		if err != nil {
			t.Fatal(err)
		}
		if s != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.body, s, tc.want)
		}
		wxCheckRequest(t, f.only(t), "GET", "/sns/jscode2session", url.Values{
			"appid": {wxAppID}, "secret": {wxSecret}, "js_code": {wxCode}, "grant_type": {"authorization_code"},
		})
	}
}

func TestCode2SessionErrors(t *testing.T) {
	cases := []struct {
		body  string
		code  int
		class wechat.Class
	}{
		{`{"errcode":40029,"errmsg":"invalid code, rid: 64e41852-5c2e1227-2885cbfa"}`, 40029, wechat.ClassRequest},
		{`{"errcode":40163,"errmsg":"code been used, rid: 64e41852-5c2e1227-2885cbfb"}`, 40163, wechat.ClassRequest},
		{`{"errcode":45011,"errmsg":"api minute-quota reach limit mustslower retry next minute"}`, 45011, wechat.ClassRate},
		{`{"errcode":-1,"errmsg":"system error"}`, -1, wechat.ClassUnavailable},
		{`{"errcode":0,"errmsg":"ok"}`, 0, wechat.ClassUnknown}, // no openid: unreadable answer
	}
	for _, tc := range cases {
		f := newWxFake(t, 200, tc.body)
		_, err := newWxClient(t, f.URL, 0).Code2Session(context.Background(), wxAppID, wxSecret, wxCode)
		if got := wechat.ClassOf(err); got != tc.class || wechat.CodeOf(err) != tc.code {
			t.Errorf("%s: got class %v code %d (%v), want %v %d", tc.body, got, wechat.CodeOf(err), err, tc.class, tc.code)
		}
		wxNoSecrets(t, err)
	}
}

func TestSendSubscribe(t *testing.T) {
	cases := []struct {
		body  string
		msgID string
	}{
		{`{"errcode":0,"errmsg":"ok"}`, ""},
		{`{"errcode":0,"errmsg":"ok","msgid":3058732478193991682}`, "3058732478193991682"},
		{`{"errcode":"0","errmsg":"ok","msgid":"3058732478193991682"}`, "3058732478193991682"},
		{`{"errcode":0,"errmsg":"ok","msgid":null}`, ""},
		{`{}`, ""},
	}
	m := wechat.Message{
		ToUser:     "OPENID",
		TemplateID: "TMPL",
		Page:       "index?foo=bar&x=<y>",
		Data:       map[string]wechat.Value{"thing1": {"会议"}, "date2": {"2019年10月1日 15:01"}},
		Lang:       "zh_CN",
	}
	for _, tc := range cases {
		f := newWxFake(t, 200, tc.body)
		res, err := newWxClient(t, f.URL, 0).SendSubscribe(context.Background(), wxToken, m)
		if err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		if res.MsgID != tc.msgID {
			t.Errorf("%s: msgid %q, want %q", tc.body, res.MsgID, tc.msgID)
		}
		r := f.only(t)
		wxCheckRequest(t, r, "POST", "/cgi-bin/message/subscribe/send", wxTokenQuery())
		want := map[string]any{
			"touser":      "OPENID",
			"template_id": "TMPL",
			"page":        "index?foo=bar&x=<y>",
			"data": map[string]any{
				"thing1": map[string]any{"value": "会议"},
				"date2":  map[string]any{"value": "2019年10月1日 15:01"},
			},
			"lang": "zh_CN", // miniprogram_state is left out when empty
		}
		if got := wxJSON(t, r); !reflect.DeepEqual(got, want) {
			t.Errorf("body %v, want %v", got, want)
		}
	}
}

func TestBizSend(t *testing.T) {
	cases := []struct {
		name string
		msg  wechat.BizMessage
		want map[string]any
	}{{
		name: "old shape: web page and mini-program link",
		msg: wechat.BizMessage{
			ToUser: "OPENID", TemplateID: "TMPL", Page: "https://example.com/a",
			Miniprogram: &wechat.MiniprogramLink{AppID: "wxapp", PagePath: "pages/index"},
			Data:        map[string]wechat.Value{"thing1": {"x"}},
		},
		want: map[string]any{
			"touser": "OPENID", "template_id": "TMPL", "page": "https://example.com/a",
			"miniprogram": map[string]any{"appid": "wxapp", "pagepath": "pages/index"},
			"data":        map[string]any{"thing1": map[string]any{"value": "x"}},
		},
	}, {
		name: "new shape: like subscribe/send",
		msg: wechat.BizMessage{
			ToUser: "OPENID", TemplateID: "TMPL", Page: "pages/index",
			Data:             map[string]wechat.Value{"thing1": {"x"}},
			MiniprogramState: "trial", Lang: "en_US",
		},
		want: map[string]any{
			"touser": "OPENID", "template_id": "TMPL", "page": "pages/index",
			"data":              map[string]any{"thing1": map[string]any{"value": "x"}},
			"miniprogram_state": "trial", "lang": "en_US",
		},
	}}
	for _, tc := range cases {
		f := newWxFake(t, 200, `{"errcode":0,"errmsg":"ok"}`)
		res, err := newWxClient(t, f.URL, 0).BizSend(context.Background(), wxToken, tc.msg)
		if err != nil || res.MsgID != "" {
			t.Fatalf("%s: got %+v, %v", tc.name, res, err)
		}
		r := f.only(t)
		wxCheckRequest(t, r, "POST", "/cgi-bin/message/subscribe/bizsend", wxTokenQuery())
		if got := wxJSON(t, r); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: body %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSendErrors(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		class  wechat.Class
		code   int
		rid    string
	}{
		{"no subscription", 200, `{"errcode":43101,"errmsg":"user refuse to accept the msg rid: 64e41852-5c2e1227-2885cbfa"}`,
			wechat.ClassNoSubscription, 43101, "64e41852-5c2e1227-2885cbfa"},
		{"errcode as string", 200, `{"errcode":"40001","errmsg":"invalid credential, access_token is invalid or not latest rid: 64e41852-5c2e1227-2885cbfb"}`,
			wechat.ClassToken, 40001, "64e41852-5c2e1227-2885cbfb"},
		{"old hint", 200, `{"errcode":47003,"errmsg":"argument invalid! data.thing1.value is empty hint: [Xy0Ab1234vr21!]"}`,
			wechat.ClassRequest, 47003, "Xy0Ab1234vr21!"},
		{"concurrent send", 200, `{"errcode":43108,"errmsg":"concurrent limit"}`, wechat.ClassRate, 43108, ""},
		{"busy", 200, `{"errcode":-1,"errmsg":"system error"}`, wechat.ClassUnavailable, -1, ""},
		{"HTTP 500 text", 500, `internal error`, wechat.ClassUnavailable, 0, ""},
		{"HTTP 502 JSON", 502, `{"errcode":-1,"errmsg":"system error rid: 1a2b3c4d-1a2b3c4d-1a2b3c4d"}`,
			wechat.ClassUnavailable, -1, "1a2b3c4d-1a2b3c4d-1a2b3c4d"},
		{"HTTP 404", 404, `404 page not found`, wechat.ClassRequest, 0, ""},
		{"HTTP 429", 429, ``, wechat.ClassRate, 0, ""},
		{"HTML on 200", 200, `<html><body>gateway</body></html>`, wechat.ClassUnknown, 0, ""},
		{"cut JSON on 200", 200, `{"errcode":0,"errmsg":"ok","msgid":30587`, wechat.ClassUnknown, 0, ""},
		{"array on 200", 200, `[]`, wechat.ClassUnknown, 0, ""},
		{"empty 200", 200, ``, wechat.ClassUnknown, 0, ""},
		{"msgid of a wrong type", 200, `{"errcode":0,"msgid":{"id":1}}`, wechat.ClassUnknown, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newWxFake(t, tc.status, tc.body)
			res, err := newWxClient(t, f.URL, 0).SendSubscribe(context.Background(), wxToken,
				wechat.Message{ToUser: "OPENID", TemplateID: "TMPL", Data: map[string]wechat.Value{"thing1": {"x"}}})
			if err == nil {
				t.Fatalf("got %+v and no error", res)
			}
			we := wxErr(t, err)
			if got := wechat.ClassOf(err); got != tc.class {
				t.Errorf("class %v, want %v (%v)", got, tc.class, err)
			}
			if we.Code != tc.code || we.RID != tc.rid || we.Op != "subscribe/send" || we.HTTPStatus != tc.status {
				t.Errorf("got Op %q Code %d RID %q HTTPStatus %d, want subscribe/send %d %q %d",
					we.Op, we.Code, we.RID, we.HTTPStatus, tc.code, tc.rid, tc.status)
			}
			if tc.code != 0 && !strings.Contains(err.Error(), fmt.Sprint(tc.code)) {
				t.Errorf("error %q does not show the errcode", err)
			}
			if tc.class == wechat.ClassUnknown && !errors.Is(err, wechat.ErrOutcomeUnknown) {
				t.Errorf("unknown outcome %v does not wrap ErrOutcomeUnknown", err)
			}
			wxNoSecrets(t, err)
		})
	}
}

func TestErrmsgEchoingSecretIsBlanked(t *testing.T) {
	f := newWxFake(t, 200, `{"errcode":40125,"errmsg":"invalid appsecret `+wxSecret+` rid: 64e41852-5c2e1227-2885cbfa"}`)
	_, err := newWxClient(t, f.URL, 0).Code2Session(context.Background(), wxAppID, wxSecret, wxCode)
	we := wxErr(t, err)
	if we.Code != 40125 || we.RID != "64e41852-5c2e1227-2885cbfa" || !strings.HasPrefix(we.Msg, "invalid appsecret") {
		t.Errorf("got %+v", we)
	}
	wxNoSecrets(t, err)

	f.answer(200, `{"errcode":40001,"errmsg":"access_token `+wxToken+` is invalid"}`)
	_, err = newWxClient(t, f.URL, 0).SendSubscribe(context.Background(), wxToken, wechat.Message{})
	if wechat.ClassOf(err) != wechat.ClassToken {
		t.Errorf("class %v, want token", wechat.ClassOf(err))
	}
	wxNoSecrets(t, err)
}

func TestBaseURL(t *testing.T) {
	for _, suffix := range []string{"", "/", "/wx", "/wx/"} {
		f := newWxFake(t, 200, `{"access_token":"A","expires_in":7200}`)
		if _, err := newWxClient(t, f.URL+suffix, 0).Token(context.Background(), wxAppID, wxSecret); err != nil {
			t.Fatal(err)
		}
		want := strings.TrimSuffix(suffix, "/") + "/cgi-bin/token"
		if got := f.only(t).Path; got != want {
			t.Errorf("base %q: path %q, want %q", f.URL+suffix, got, want)
		}
	}
	// A nil *http.Client is replaced by a working default.
	f := newWxFake(t, 200, `{"access_token":"A","expires_in":7200}`)
	if _, err := wechat.NewClient(f.URL+"/", nil).Token(context.Background(), wxAppID, wxSecret); err != nil {
		t.Fatal(err)
	}
	_, err := wechat.NewClient("not a url", nil).Token(context.Background(), wxAppID, wxSecret)
	if err == nil {
		t.Error("a base URL without scheme and host was accepted")
	}
	wxNoSecrets(t, err)
}

func TestTemplates(t *testing.T) {
	f := newWxFake(t, 200, `{"errcode":0,"errmsg":"ok","data":[
		{"priTmplId":"T1","title":"会议提醒","content":"会议时间:{{date2.DATA}}\n会议地点:{{thing1.DATA}}\n","example":"会议时间:2016年8月8日\n会议地点:TIT会议室\n","type":2},
		{"priTmplId":"T2","title":"配送通知","content":"状态:{{enum_string3.DATA}}\r\n单号:{{character_string13.DATA}}\r\n","example":"","type":"3",
		 "keywordEnumValueList":[{"keywordCode":"enum_string3","enumValueList":["已发货","已签收"]}]}]}`)
	ts, err := newWxClient(t, f.URL, 0).Templates(context.Background(), wxToken)
	if err != nil {
		t.Fatal(err)
	}
	want := []wechat.Template{{
		ID: "T1", Title: "会议提醒", Type: wechat.OneTime,
		Content: "会议时间:{{date2.DATA}}\n会议地点:{{thing1.DATA}}\n",
		Example: "会议时间:2016年8月8日\n会议地点:TIT会议室\n",
		Keywords: []wechat.Keyword{
			{Key: "date2", Name: "会议时间", Type: "date"},
			{Key: "thing1", Name: "会议地点", Type: "thing"},
		},
	}, {
		ID: "T2", Title: "配送通知", Type: wechat.LongTerm,
		Content: "状态:{{enum_string3.DATA}}\r\n单号:{{character_string13.DATA}}\r\n",
		Keywords: []wechat.Keyword{
			{Key: "enum_string3", Name: "状态", Type: "enum", Enum: []string{"已发货", "已签收"}},
			{Key: "character_string13", Name: "单号", Type: "character_string"},
		},
	}}
	if !reflect.DeepEqual(ts, want) {
		t.Errorf("got  %+v\nwant %+v", ts, want)
	}
	wxCheckRequest(t, f.only(t), "GET", "/wxaapi/newtmpl/gettemplate", wxTokenQuery())
}

func TestTemplatesErrors(t *testing.T) {
	f := newWxFake(t, 200, `{"errcode":200100,"errmsg":"wrong account type"}`)
	_, err := newWxClient(t, f.URL, 0).Templates(context.Background(), wxToken)
	if wechat.ClassOf(err) != wechat.ClassRequest || wechat.CodeOf(err) != 200100 || wxErr(t, err).Op != "gettemplate" {
		t.Errorf("got %v", err)
	}
}

func TestCategories(t *testing.T) {
	f := newWxFake(t, 200, `{"errcode":0,"errmsg":"ok","data":[{"id":616,"name":"公交"},{"id":"2","name":"教育"}]}`)
	cs, err := newWxClient(t, f.URL, 0).Categories(context.Background(), wxToken)
	if err != nil {
		t.Fatal(err)
	}
	if want := []wechat.Category{{ID: 616, Name: "公交"}, {ID: 2, Name: "教育"}}; !reflect.DeepEqual(cs, want) {
		t.Errorf("got %+v, want %+v", cs, want)
	}
	wxCheckRequest(t, f.only(t), "GET", "/wxaapi/newtmpl/getcategory", wxTokenQuery())
}

func TestPubTemplateKeywords(t *testing.T) {
	f := newWxFake(t, 200, `{"errcode":0,"errmsg":"ok","count":2,"data":[
		{"kid":1,"name":"物品名称","example":"名称","rule":"thing"},
		{"kid":"2","name":"金额","example":"￥1.00","rule":"amount"}]}`)
	ks, err := newWxClient(t, f.URL, 0).PubTemplateKeywords(context.Background(), wxToken, 99)
	if err != nil {
		t.Fatal(err)
	}
	want := []wechat.PubKeyword{
		{KID: 1, Name: "物品名称", Example: "名称", Rule: "thing"},
		{KID: 2, Name: "金额", Example: "￥1.00", Rule: "amount"},
	}
	if !reflect.DeepEqual(ks, want) {
		t.Errorf("got %+v, want %+v", ks, want)
	}
	wxCheckRequest(t, f.only(t), "GET", "/wxaapi/newtmpl/getpubtemplatekeywords",
		url.Values{"access_token": {wxToken}, "tid": {"99"}})
}

func TestQuota(t *testing.T) {
	f := newWxFake(t, 200, `{"errcode":0,"errmsg":"ok",
		"quota":{"daily_limit":500000,"used":"12","remain":499988},
		"rate_limit":{"call_count":10000,"refresh_second":"60"},
		"component_rate_limit":{"call_count":"1050000","refresh_second":60}}`)
	q, err := newWxClient(t, f.URL, 0).Quota(context.Background(), wxToken, "/cgi-bin/stable_token")
	if err != nil {
		t.Fatal(err)
	}
	want := wechat.Quota{
		DailyLimit: 500000, Used: 12, Remain: 499988,
		RateLimit:          wechat.RateLimit{CallCount: 10000, RefreshSecond: 60},
		ComponentRateLimit: wechat.RateLimit{CallCount: 1050000, RefreshSecond: 60},
	}
	if q != want {
		t.Errorf("got %+v, want %+v", q, want)
	}
	r := f.only(t)
	wxCheckRequest(t, r, "POST", "/cgi-bin/openapi/quota/get", wxTokenQuery())
	if got := wxJSON(t, r); !reflect.DeepEqual(got, map[string]any{"cgi_path": "/cgi-bin/stable_token"}) {
		t.Errorf("body %v", got)
	}

	f.answer(200, `{"errcode":76021,"errmsg":"cgi_path not found, rid: 64e41852-5c2e1227-2885cbfa"}`)
	_, err = newWxClient(t, f.URL, 0).Quota(context.Background(), wxToken, "/nope")
	if we := wxErr(t, err); we.Code != 76021 || we.Op != "openapi/quota/get" || wechat.ClassOf(err) != wechat.ClassRequest {
		t.Errorf("got %+v", we)
	}
}

func TestClearQuota(t *testing.T) {
	f := newWxFake(t, 200, `{"errcode":0,"errmsg":"ok"}`)
	if err := newWxClient(t, f.URL, 0).ClearQuota(context.Background(), wxToken, wxAppID); err != nil {
		t.Fatal(err)
	}
	r := f.only(t)
	wxCheckRequest(t, r, "POST", "/cgi-bin/clear_quota", wxTokenQuery())
	if got := wxJSON(t, r); !reflect.DeepEqual(got, map[string]any{"appid": wxAppID}) {
		t.Errorf("body %v", got)
	}

	f.answer(200, `{"errcode":48006,"errmsg":"forbid to clear quota because of reaching the limit"}`)
	err := newWxClient(t, f.URL, 0).ClearQuota(context.Background(), wxToken, wxAppID)
	if wechat.CodeOf(err) != 48006 || wxErr(t, err).Op != "clear_quota" {
		t.Errorf("got %v", err)
	}
}

func TestClearQuotaV2(t *testing.T) {
	f := newWxFake(t, 200, `{"errcode":0,"errmsg":"ok"}`)
	if err := newWxClient(t, f.URL, 0).ClearQuotaV2(context.Background(), wxAppID, wxSecret); err != nil {
		t.Fatal(err)
	}
	r := f.only(t)
	wxCheckRequest(t, r, "POST", "/cgi-bin/clear_quota/v2", url.Values{"appid": {wxAppID}, "appsecret": {wxSecret}})
	if got := wxJSON(t, r); !reflect.DeepEqual(got, map[string]any{"appid": wxAppID, "appsecret": wxSecret}) {
		t.Errorf("body %v", got)
	}

	f.answer(200, `{"errcode":41004,"errmsg":"appsecret missing"}`)
	err := newWxClient(t, f.URL, 0).ClearQuotaV2(context.Background(), wxAppID, wxSecret)
	if wechat.CodeOf(err) != 41004 || wxErr(t, err).Op != "clear_quota/v2" {
		t.Errorf("got %v", err)
	}
	wxNoSecrets(t, err)
}

func TestRID(t *testing.T) {
	f := newWxFake(t, 200, `{"errcode":0,"errmsg":"ok","request":{"invoke_time":"1635156704","cost_in_ms":30,
		"request_url":"access_token=xxx&appid=wx","request_body":"{}","response_body":"{\"errcode\":45009}","client_ip":"1.2.3.4"}}`)
	info, err := newWxClient(t, f.URL, 0).RID(context.Background(), wxToken, "64e41852-5c2e1227-2885cbfa")
	if err != nil {
		t.Fatal(err)
	}
	want := wechat.RIDInfo{
		InvokeTime: 1635156704, CostInMs: 30, RequestURL: "access_token=xxx&appid=wx",
		RequestBody: "{}", ResponseBody: `{"errcode":45009}`, ClientIP: "1.2.3.4",
	}
	if info != want {
		t.Errorf("got %+v, want %+v", info, want)
	}
	r := f.only(t)
	wxCheckRequest(t, r, "POST", "/cgi-bin/openapi/rid/get", wxTokenQuery())
	if got := wxJSON(t, r); !reflect.DeepEqual(got, map[string]any{"rid": "64e41852-5c2e1227-2885cbfa"}) {
		t.Errorf("body %v", got)
	}

	f.answer(200, `{"errcode":76001,"errmsg":"rid not found"}`)
	_, err = newWxClient(t, f.URL, 0).RID(context.Background(), wxToken, "x")
	if wechat.CodeOf(err) != 76001 || wxErr(t, err).Op != "openapi/rid/get" {
		t.Errorf("got %v", err)
	}
}

// wxCalls calls a token-plane API and a token-carrying API: between them
// every kind of secret travels in the query or body.
func wxCalls(c *wechat.Client) map[string]func(context.Context) error {
	return map[string]func(context.Context) error{
		"token": func(ctx context.Context) error {
			_, err := c.Token(ctx, wxAppID, wxSecret)
			return err
		},
		"jscode2session": func(ctx context.Context) error {
			_, err := c.Code2Session(ctx, wxAppID, wxSecret, wxCode)
			return err
		},
		"subscribe/send": func(ctx context.Context) error {
			_, err := c.SendSubscribe(ctx, wxToken, wechat.Message{ToUser: "OPENID", TemplateID: "T"})
			return err
		},
	}
}

func TestRefusedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ln.Close()
	for op, call := range wxCalls(newWxClient(t, base, 5*time.Second)) {
		err := call(context.Background())
		if got := wechat.ClassOf(err); got != wechat.ClassUnavailable {
			t.Errorf("%s: class %v (%v), want unavailable", op, got, err)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("%s: %v does not wrap ECONNREFUSED", op, err)
		}
		if we := wxErr(t, err); we.Op != op {
			t.Errorf("Op %q, want %q", we.Op, op)
		}
		wxNoSecrets(t, err)
	}
}

func TestTimeoutAfterRequestWritten(t *testing.T) {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		select { // hang until the client gives up or the test ends
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) })
	// The calls wait for their timeout side by side; the timeout is long
	// enough for a loaded machine to write a request to loopback.
	var wg sync.WaitGroup
	for op, call := range wxCalls(newWxClient(t, srv.URL, time.Second)) {
		wg.Go(func() {
			err := call(context.Background())
			if got := wechat.ClassOf(err); got != wechat.ClassUnknown {
				t.Errorf("%s: class %v (%v), want unknown", op, got, err)
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("%s: %v is not a timeout", op, err)
			}
			wxNoSecrets(t, err)
		})
	}
	wg.Wait()
}

func TestTimeoutBeforeRequestWritten(t *testing.T) {
	// The dial never completes, so nothing reaches WeChat.
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	c := wechat.NewClient("http://wechat.invalid", &http.Client{Transport: tr, Timeout: 100 * time.Millisecond})
	for op, call := range wxCalls(c) {
		err := call(context.Background())
		if got := wechat.ClassOf(err); got != wechat.ClassUnavailable {
			t.Errorf("%s: class %v (%v), want unavailable", op, got, err)
		}
		wxNoSecrets(t, err)
	}
}

func TestCancelAfterRequestWritten(t *testing.T) {
	received := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		received <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	c := newWxClient(t, srv.URL, 0)
	for op, call := range wxCalls(c) {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-received
			cancel()
		}()
		err := call(ctx)
		cancel()
		if got := wechat.ClassOf(err); got != wechat.ClassUnknown {
			t.Errorf("%s: class %v (%v), want unknown", op, got, err)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v does not wrap context.Canceled", op, err)
		}
		wxNoSecrets(t, err)
	}
}

func TestCanceledBeforeCall(t *testing.T) {
	f := newWxFake(t, 200, `{"errcode":0}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for op, call := range wxCalls(newWxClient(t, f.URL, 0)) {
		if got := wechat.ClassOf(call(ctx)); got != wechat.ClassUnavailable {
			t.Errorf("%s: class %v, want unavailable", op, got)
		}
	}
}

func TestConnectionClosedAfterRequestRead(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err == nil {
					io.ReadAll(req.Body)
				}
			}()
		}
	}()
	for op, call := range wxCalls(newWxClient(t, "http://"+ln.Addr().String(), 5*time.Second)) {
		err := call(context.Background())
		if got := wechat.ClassOf(err); got != wechat.ClassUnknown {
			t.Errorf("%s: class %v (%v), want unknown", op, got, err)
		}
		wxNoSecrets(t, err)
	}
}

func TestBodyCutShort(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, `{"errcode":0,`)
	}))
	t.Cleanup(srv.Close)
	_, err := newWxClient(t, srv.URL, 5*time.Second).SendSubscribe(context.Background(), wxToken, wechat.Message{})
	if got := wechat.ClassOf(err); got != wechat.ClassUnknown {
		t.Errorf("class %v (%v), want unknown", got, err)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("%v does not wrap io.ErrUnexpectedEOF", err)
	}
	wxNoSecrets(t, err)
}

func FuzzSendSubscribeAnswer(f *testing.F) {
	f.Add(`{"errcode":0,"errmsg":"ok","msgid":3058732478193991682}`)
	f.Add(`{"errcode":"43101","errmsg":"user refuse to accept the msg rid: 64e41852-5c2e1227-2885cbfa"}`)
	f.Add(`{"errcode":"","msgid":""}`)
	f.Add(`<html>`)
	fake := newWxFake(f, 200, "")
	tr := &http.Transport{}
	f.Cleanup(tr.CloseIdleConnections)
	c := wechat.NewClient(fake.URL, &http.Client{Transport: tr, Timeout: 10 * time.Second})
	f.Fuzz(func(t *testing.T, body string) {
		fake.answer(200, body)
		_, err := c.SendSubscribe(context.Background(), wxToken, wechat.Message{})
		if err == nil {
			if !json.Valid([]byte(body)) {
				t.Fatalf("invalid JSON %q accepted as a success", body)
			}
			return
		}
		wxErr(t, err)
		if !json.Valid([]byte(body)) && wechat.ClassOf(err) != wechat.ClassUnknown {
			t.Fatalf("invalid JSON %q: class %v, want unknown", body, wechat.ClassOf(err))
		}
	})
}

func TestOAuthUser(t *testing.T) {
	// The answer carries the user's web access_token and refresh_token:
	// neither may come out of the client.
	f := newWxFake(t, 200, `{"access_token":"USERTOKEN","expires_in":7200,"refresh_token":"REFRESH","openid":"OPENID","scope":"snsapi_base"}`)
	u, err := newWxClient(t, f.URL, 0).OAuthUser(context.Background(), wxAppID, wxSecret, wxCode)
	if err != nil {
		t.Fatal(err)
	}
	if u != (wechat.WebUser{OpenID: "OPENID", Scope: "snsapi_base"}) {
		t.Errorf("got %+v", u)
	}
	if strings.Contains(fmt.Sprintf("%+v", u), "USERTOKEN") || strings.Contains(fmt.Sprintf("%+v", u), "REFRESH") {
		t.Error("the user's token leaked into the answer")
	}
	wxCheckRequest(t, f.only(t), "GET", "/sns/oauth2/access_token", url.Values{
		"appid": {wxAppID}, "secret": {wxSecret}, "code": {wxCode}, "grant_type": {"authorization_code"},
	})
}

func TestOAuthUserErrors(t *testing.T) {
	for body, code := range map[string]int{
		`{"errcode":40029,"errmsg":"invalid code"}`:      40029,
		`{"errcode":40163,"errmsg":"code been used"}`:    40163,
		`{"access_token":"X","expires_in":7200}`:         0, // no openid
		`{"errcode":40125,"errmsg":"invalid appsecret"}`: 40125,
	} {
		f := newWxFake(t, 200, body)
		_, err := newWxClient(t, f.URL, 0).OAuthUser(context.Background(), wxAppID, wxSecret, wxCode)
		if err == nil || wechat.CodeOf(err) != code {
			t.Errorf("%s: got %v (code %d), want code %d", body, err, wechat.CodeOf(err), code)
		}
		wxNoSecrets(t, err)
	}
}

func TestJSAPITicket(t *testing.T) {
	f := newWxFake(t, 200, `{"errcode":0,"errmsg":"ok","ticket":"bxLdikRXVbTPdHSM05e5u5sUoXNKd8","expires_in":7200}`)
	tk, err := newWxClient(t, f.URL, 0).JSAPITicket(context.Background(), wxToken)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Ticket != "bxLdikRXVbTPdHSM05e5u5sUoXNKd8" || tk.ExpiresIn != 2*time.Hour {
		t.Errorf("got %+v", tk)
	}
	wxCheckRequest(t, f.only(t), "GET", "/cgi-bin/ticket/getticket", url.Values{"access_token": {wxToken}, "type": {"jsapi"}})

	f = newWxFake(t, 200, `{"errcode":40001,"errmsg":"invalid credential, access_token is invalid or not latest"}`)
	_, err = newWxClient(t, f.URL, 0).JSAPITicket(context.Background(), wxToken)
	if wechat.ClassOf(err) != wechat.ClassToken {
		t.Errorf("40001: class %v (%v), want ClassToken", wechat.ClassOf(err), err)
	}
	wxNoSecrets(t, err)
}
