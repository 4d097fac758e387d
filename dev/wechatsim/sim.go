package wechatsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/wxsub/wxsub/shared/wxpush"
)

// Template types, as gettemplate reports them.
const (
	OneTime  = 2 // one message per accept
	LongTerm = 3 // messages until the user rejects
)

// Config configures a Sim. Zero values are replaced by generated or default
// ones; Sim.Config reports the effective values.
type Config struct {
	AppID          string // "wx" + 16 hex digits when empty
	Secret         string // 32 hex digits when empty
	PushToken      string // the message-push token; generated when empty
	EncodingAESKey string // 43 characters; generated when empty
	OriginalID     string // "gh_" + 12 hex digits when empty (ToUserName of pushes)

	PushURL        string        // where events are pushed; "" → no pushes
	PushFormat     wxpush.Format // XML (default) or JSON
	PushSecure     bool          // AES secure mode
	PushTimeout    time.Duration // per push attempt; default 5 s like WeChat
	PushAttempts   int           // attempts per push; default 3 like WeChat
	PushRetryDelay time.Duration // pause before a push's next attempt; default 1 s
	SendLatency    time.Duration // how long a subscribe/send is in flight (for 43108)
	Templates      []Template    // nil → DefaultTemplates()
	Now            func() time.Time
	HTTPClient     *http.Client // for pushes; nil → a plain client
	Logger         *slog.Logger // push failures; nil → discarded
	MaxRequestBody int64        // bytes; default 1 MiB
	// Kind is KindMiniprogram (the default) or KindOfficialAccount: a
	// service account (服务号) whose users log in by web OAuth, whose pages
	// use the JS-SDK's jsapi_ticket and <wx-open-subscribe>, and whose
	// popup events carry PopupScene 1.
	Kind string
}

// LogValue gives log/slog the simulated app's identity and push settings,
// never its secret, push token or EncodingAESKey.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("appid", c.AppID),
		slog.String("original_id", c.OriginalID),
		slog.String("push_url", c.PushURL),
		slog.String("push_format", string(c.PushFormat)),
		slog.Bool("push_secure", c.PushSecure),
	)
}

// Kinds of app a Sim plays.
const (
	KindMiniprogram     = "miniprogram"
	KindOfficialAccount = "official_account"
)

// A Sim is a simulated WeChat server for one mini-program. It is safe for
// concurrent use. The zero value is not usable; call New.
type Sim struct {
	cfg       Config // effective; PushURL is read under mu
	templates map[string]*Template
	cipher    *wxpush.Cipher
	mux       *http.ServeMux
	pusher    *pusher

	mu     sync.Mutex
	offset time.Duration // added to cfg.Now by Advance
	msgSeq int64         // last msgid issued; never reset
	st     *state
}

// New returns a Sim for cfg. It panics if cfg.EncodingAESKey is set but is
// not a valid EncodingAESKey, or if cfg.Templates holds a duplicate id.
func New(cfg Config) *Sim {
	cfg = withDefaults(cfg)
	c, err := wxpush.NewCipher(cfg.EncodingAESKey, cfg.AppID)
	if err != nil {
		panic(fmt.Sprintf("wechatsim: %v", err))
	}
	s := &Sim{
		cfg:       cfg,
		templates: make(map[string]*Template, len(cfg.Templates)),
		cipher:    c,
		mux:       http.NewServeMux(),
		msgSeq:    firstMsgID(),
	}
	for i := range cfg.Templates {
		t := &cfg.Templates[i]
		if _, dup := s.templates[t.ID]; dup {
			panic(fmt.Sprintf("wechatsim: duplicate template id %q", t.ID))
		}
		s.templates[t.ID] = t
	}
	s.pusher = newPusher(s)
	s.st = newState()
	s.routes()
	return s
}

func withDefaults(cfg Config) Config {
	if cfg.AppID == "" {
		cfg.AppID = "wx" + randomHex(8)
	}
	if cfg.Secret == "" {
		cfg.Secret = randomHex(16)
	}
	if cfg.PushToken == "" {
		cfg.PushToken = randomAlnum(32)
	}
	if cfg.EncodingAESKey == "" {
		key, err := wxpush.GenerateEncodingAESKey()
		if err != nil {
			panic(fmt.Sprintf("wechatsim: %v", err))
		}
		cfg.EncodingAESKey = key
	}
	if cfg.OriginalID == "" {
		cfg.OriginalID = "gh_" + randomHex(6)
	}
	if cfg.PushFormat == "" {
		cfg.PushFormat = wxpush.XML
	}
	if cfg.PushTimeout <= 0 {
		cfg.PushTimeout = 5 * time.Second
	}
	if cfg.PushRetryDelay <= 0 {
		cfg.PushRetryDelay = time.Second
	}
	if cfg.PushAttempts <= 0 {
		cfg.PushAttempts = 3
	}
	if cfg.Templates == nil {
		cfg.Templates = DefaultTemplates()
	} else {
		cfg.Templates = cloneTemplates(cfg.Templates)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxRequestBody <= 0 {
		cfg.MaxRequestBody = 1 << 20
	}
	switch cfg.Kind {
	case "":
		cfg.Kind = KindMiniprogram
	case KindMiniprogram, KindOfficialAccount:
	default:
		panic(fmt.Sprintf("wechatsim: Kind must be %q or %q, got %q", KindMiniprogram, KindOfficialAccount, cfg.Kind))
	}
	return cfg
}

// ServeHTTP serves WeChat's API paths and the /__sim/ control endpoints.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Kind == KindOfficialAccount && allowCORS(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// officialAccount reports whether the Sim plays an official account.
func (s *Sim) officialAccount() bool { return s.cfg.Kind == KindOfficialAccount }

// Config returns the effective configuration, with generated values filled in.
func (s *Sim) Config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg := s.cfg
	cfg.Templates = cloneTemplates(s.cfg.Templates)
	return cfg
}

// SetPushURL sets where events are pushed from now on; "" stops pushes.
func (s *Sim) SetPushURL(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.PushURL = url
}

// Advance moves the simulated clock forward by d. Token expiry, code expiry,
// daily quotas and push timestamps all follow the simulated clock.
func (s *Sim) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset += d
}

// Now returns the simulated time.
func (s *Sim) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now()
}

// now returns the simulated time; s.mu must be held.
func (s *Sim) now() time.Time { return s.cfg.Now().Add(s.offset) }

// Credits returns how many one-time messages openid has left for templateID.
// It is 0 for a long-term template, whose state Status reports.
func (s *Sim) Credits(openid, templateID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub := s.st.sub(openid, templateID); sub != nil {
		return sub.credits
	}
	return 0
}

// Status returns the last choice openid made for templateID: "accept",
// "reject", "ban", or "" when the user never chose.
func (s *Sim) Status(openid, templateID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub := s.st.sub(openid, templateID); sub != nil {
		return sub.status
	}
	return ""
}

// Inbox returns the messages delivered to openid, oldest first.
func (s *Sim) Inbox(openid string) []Delivered {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.users[openid]
	if u == nil {
		return nil
	}
	return slices.Clone(u.inbox)
}

// SetQuota sets the daily call limit of a WeChat API path such as
// "/cgi-bin/message/subscribe/send". It lasts until Reset.
func (s *Sim) SetQuota(path string, dailyLimit int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.limits[path] = dailyLimit
}

// InvalidateTokens makes every token issued so far answer 40001.
func (s *Sim) InvalidateTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.st.tokens {
		t.revoked = true
	}
}

// Reset returns the Sim to a fresh start: the same appid, secret, keys,
// templates and push URL, but no tokens, users, credits, messages, counters,
// quota overrides, faults or clock offset.
func (s *Sim) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st = newState()
	s.offset = 0
}

// Flush waits until every push queued so far has been delivered or given up.
func (s *Sim) Flush() { s.pusher.flush() }

// Close stops accepting pushes and waits for the ones in flight.
func (s *Sim) Close() { s.pusher.close() }

// readBody reads at most the configured limit of r's body.
func (s *Sim) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBody))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return b, nil
}

// writeJSON writes v as a JSON answer with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encode answer"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

// marshal encodes v as JSON without HTML escaping, as WeChat does.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode JSON: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
