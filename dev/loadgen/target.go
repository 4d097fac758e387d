package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/wechat"
)

// Target is a running wxsub and the WeChat simulator it talks to.
type Target struct {
	// URL is the API base, e.g. http://127.0.0.1:3000.
	URL string
	// AdminKey is the bearer key of the server routes (the local stack's WXSUB_ADMIN_KEY).
	AdminKey string
	// SimURL is the simulator's base URL: logins, popups and its counters.
	SimURL string
	// HTTP makes the requests.
	HTTP *http.Client
}

// LogValue gives log/slog the target's addresses, never the admin key.
func (t Target) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", t.URL), slog.String("sim_url", t.SimURL))
}

// NewTarget returns a Target whose HTTP client keeps enough idle
// connections for a load of many concurrent requests.
func NewTarget(url, adminKey, simURL string) *Target {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 512
	tr.MaxIdleConnsPerHost = 256
	return &Target{
		URL: strings.TrimRight(url, "/"), AdminKey: adminKey, SimURL: strings.TrimRight(simURL, "/"),
		HTTP: &http.Client{Transport: tr, Timeout: 30 * time.Second},
	}
}

// Close releases the client's idle connections.
func (t *Target) Close() { t.HTTP.CloseIdleConnections() }

// answer is an HTTP answer.
type answer struct {
	status int
	body   []byte
}

// problem describes an unexpected answer without echoing more than the
// contract's error code and message.
func (a answer) problem(what string) error {
	var e struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(a.body, &e) == nil && e.Error.Code != "" {
		return fmt.Errorf("%s: %d %s: %s", what, a.status, e.Error.Code, e.Error.Message)
	}
	return fmt.Errorf("%s: HTTP %d", what, a.status)
}

func (t *Target) do(ctx context.Context, method, url, bearer string, body any) (answer, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{}, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return answer{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := t.HTTP.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: read the answer: %w", method, req.URL.Path, err)
	}
	return answer{status: resp.StatusCode, body: raw}, nil
}

// SimConfig is what the simulator says about itself.
type SimConfig struct {
	AppID     string `json:"appid"`
	Secret    string `json:"secret"`
	Templates []struct {
		ID   string `json:"id"`
		Type int    `json:"type"`
	} `json:"templates"`
}

// SimConfig reads the simulator's configuration (GET /__sim/config).
func (t *Target) SimConfig(ctx context.Context) (SimConfig, error) {
	var c SimConfig
	a, err := t.do(ctx, http.MethodGet, t.SimURL+"/__sim/config", "", nil)
	if err != nil {
		return c, fmt.Errorf("loadgen: simulator config: %w", err)
	}
	if a.status != http.StatusOK {
		return c, fmt.Errorf("loadgen: simulator config: %w", a.problem("GET /__sim/config"))
	}
	if err := json.Unmarshal(a.body, &c); err != nil {
		return c, fmt.Errorf("loadgen: simulator config: %w", err)
	}
	return c, nil
}

// SetQuota sets the simulator's daily limit of a WeChat API path (POST /__sim/quota).
func (t *Target) SetQuota(ctx context.Context, path string, daily int64) error {
	a, err := t.do(ctx, http.MethodPost, t.SimURL+"/__sim/quota", "", map[string]any{"path": path, "daily_limit": daily})
	if err == nil && a.status != http.StatusOK {
		err = a.problem("POST /__sim/quota")
	}
	if err != nil {
		return fmt.Errorf("loadgen: set the %s quota: %w", path, err)
	}
	return nil
}

// SimCounter reads the WeChat calls per path from the simulator's
// /__sim/stats. It observes no DynamoDB counters.
func (t *Target) SimCounter() Counter {
	return func(ctx context.Context) (Counts, error) {
		a, err := t.do(ctx, http.MethodGet, t.SimURL+"/__sim/stats", "", nil)
		if err == nil && a.status != http.StatusOK {
			err = a.problem("GET /__sim/stats")
		}
		if err != nil {
			return Counts{}, err
		}
		var st struct {
			Calls map[string]int64 `json:"calls"`
		}
		if err := json.Unmarshal(a.body, &st); err != nil {
			return Counts{}, fmt.Errorf("decode /__sim/stats: %w", err)
		}
		if st.Calls == nil {
			st.Calls = map[string]int64{}
		}
		return Counts{WeChat: st.Calls}, nil
	}
}

// SyncTemplates asks the stack to pull WeChat's template catalogue now
// (POST /v1/templates/sync). found is false when the stack has no such route.
func (t *Target) SyncTemplates(ctx context.Context) (found bool, err error) {
	a, err := t.do(ctx, http.MethodPost, t.URL+"/v1/templates/sync", t.AdminKey, nil)
	if err != nil {
		return false, fmt.Errorf("loadgen: template sync: %w", err)
	}
	switch {
	case a.status == http.StatusNotFound:
		return false, nil
	case a.status/100 != 2:
		return true, fmt.Errorf("loadgen: template sync: %w", a.problem("POST /v1/templates/sync"))
	}
	return true, nil
}

// User is a simulated mini-program user with a wxsub session.
type User struct {
	OpenID string
	// Token is the session token POST /v1/session returned.
	Token string
}

// Login creates n users: each gets a wx.login code from the simulator and
// exchanges it at POST /v1/session.
func (t *Target) Login(ctx context.Context, n int, concurrency int) ([]User, error) {
	users := make([]User, n)
	res, err := Run(ctx, "login", Options{Concurrency: concurrency, Count: n}, nil, func(ctx context.Context, i int) error {
		a, err := t.do(ctx, http.MethodPost, t.SimURL+"/__sim/login", "", map[string]string{})
		if err != nil {
			return err
		}
		var l struct{ Code, OpenID string }
		if a.status != http.StatusOK || json.Unmarshal(a.body, &l) != nil || l.Code == "" {
			return a.problem("POST /__sim/login")
		}
		a, err = t.do(ctx, http.MethodPost, t.URL+"/v1/session", "", map[string]string{"code": l.Code})
		if err != nil {
			return err
		}
		var s struct {
			Token  string `json:"token"`
			OpenID string `json:"openid"`
		}
		if a.status != http.StatusOK || json.Unmarshal(a.body, &s) != nil || s.Token == "" {
			return a.problem("POST /v1/session")
		}
		users[i] = User{OpenID: s.OpenID, Token: s.Token}
		return nil
	})
	if err == nil && res.Failures > 0 {
		err = fmt.Errorf("%d of %d logins failed; first: %s", res.Failures, n, res.FirstFailure)
	}
	if err != nil {
		return nil, fmt.Errorf("loadgen: login: %w", err)
	}
	return users, nil
}

// Tap makes every user accept template times times in the simulator's
// subscription popup, so that WeChat's side holds the credits.
func (t *Target) Tap(ctx context.Context, users []User, template string, times, concurrency int) error {
	n := len(users) * times
	res, err := Run(ctx, "tap", Options{Concurrency: concurrency, Count: n}, nil, func(ctx context.Context, i int) error {
		u := users[i%len(users)]
		a, err := t.do(ctx, http.MethodPost, t.SimURL+"/__sim/popup", "",
			map[string]any{"openid": u.OpenID, "results": map[string]string{template: "accept"}})
		if err != nil {
			return err
		}
		var r map[string]any
		if a.status != http.StatusOK || json.Unmarshal(a.body, &r) != nil || r[template] != "accept" {
			return a.problem("POST /__sim/popup")
		}
		return nil
	})
	if err == nil && res.Failures > 0 {
		err = fmt.Errorf("%d of %d taps failed; first: %s", res.Failures, n, res.FirstFailure)
	}
	if err != nil {
		return fmt.Errorf("loadgen: popup: %w", err)
	}
	return nil
}

// ReportOp reports, for users[i % len(users)], the result object an accepted
// popup gives the mini-program (POST /v1/subscriptions). It expects 200.
func (t *Target) ReportOp(users []User, template string) Op {
	body := map[string]any{"result": map[string]string{"errMsg": "requestSubscribeMessage:ok", template: "accept"}}
	return func(ctx context.Context, i int) error {
		u := users[i%len(users)]
		a, err := t.do(ctx, http.MethodPost, t.URL+"/v1/subscriptions", u.Token, body)
		if err != nil {
			return err
		}
		if a.status != http.StatusOK {
			return a.problem("POST /v1/subscriptions")
		}
		return nil
	}
}

// SendOp sends template, with valid example data, to users[i % len(users)]
// (POST /v1/messages). It expects 200 with status "sent".
func (t *Target) SendOp(users []User, template string) (Op, error) {
	data, err := ExampleData(template)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, i int) error {
		u := users[i%len(users)]
		a, err := t.do(ctx, http.MethodPost, t.URL+"/v1/messages", t.AdminKey, map[string]any{
			"touser": u.OpenID, "template_id": template, "page": "pages/index/index", "data": data,
		})
		if err != nil {
			return err
		}
		var s struct{ Status string }
		if a.status != http.StatusOK || json.Unmarshal(a.body, &s) != nil || s.Status != "sent" {
			return a.problem("POST /v1/messages")
		}
		return nil
	}, nil
}

// ExampleData is valid data for one of the simulator's default templates,
// in subscribe/send's form.
func ExampleData(template string) (map[string]wechat.Value, error) {
	for _, tp := range wechatsim.DefaultTemplates() {
		if tp.ID != template {
			continue
		}
		d := make(map[string]wechat.Value, len(tp.Keywords))
		for _, k := range tp.Keywords {
			v := k.Example
			if v == "" && len(k.Enum) > 0 {
				v = k.Enum[0]
			}
			d[k.Key] = wechat.Value{Value: v}
		}
		return d, nil
	}
	return nil, errors.New("loadgen: " + template + " is not one of the simulator's default templates")
}
