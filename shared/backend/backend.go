// Package backend builds wxsub's shared dependencies once per process (the
// DynamoDB store, the WeChat client, the token plane, the session signer, the
// template catalogue) and the handler of every function from them. Each
// function's main.go and the local stack use it, so the code that runs
// locally is the code that deploys.
package backend

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/wxsub/wxsub/shared/catalog"
	"github.com/wxsub/wxsub/shared/config"
	"github.com/wxsub/wxsub/shared/jssdk"
	"github.com/wxsub/wxsub/shared/login"
	"github.com/wxsub/wxsub/shared/messages"
	"github.com/wxsub/wxsub/shared/metrics"
	"github.com/wxsub/wxsub/shared/pushevents"
	"github.com/wxsub/wxsub/shared/quota"
	"github.com/wxsub/wxsub/shared/refresher"
	"github.com/wxsub/wxsub/shared/sessiontoken"
	"github.com/wxsub/wxsub/shared/store"
	"github.com/wxsub/wxsub/shared/subscriptions"
	"github.com/wxsub/wxsub/shared/sweep"
	"github.com/wxsub/wxsub/shared/tally"
	"github.com/wxsub/wxsub/shared/templates"
	"github.com/wxsub/wxsub/shared/token"
	"github.com/wxsub/wxsub/shared/wechat"
	"github.com/wxsub/wxsub/shared/wxpush"
)

// Backend holds the dependencies shared by wxsub's functions.
type Backend struct {
	Config config.Config
	Store  *store.Store
	WeChat *wechat.Client
	Tokens *token.Plane
	// Tickets keeps an official account's jsapi_ticket; nil for a mini-program.
	Tickets *token.Plane
	Catalog *catalog.Catalog
	Logger  *slog.Logger
	// Metrics writes CloudWatch metrics (EMF lines) to Options.MetricsOutput.
	Metrics *metrics.Writer
	// Sessions is nil when no SESSION_SIGNING_KEY is configured.
	Sessions *sessiontoken.Signer
	// Clock is the time reminders fall due by (Options.Clock).
	Clock func() time.Time
}

// LogValue gives log/slog the configuration (its own LogValue: no secrets);
// the rest of a Backend is connections, not state worth a log line.
func (b *Backend) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("config", b.Config))
}

// Options replaces parts of what Open builds (the local stack and tests use them).
type Options struct {
	// DB is the DynamoDB client; nil builds one from the configuration.
	DB store.API
	// HTTPClient calls WeChat; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
	// LogOutput receives the JSON logs; nil means stdout.
	LogOutput io.Writer
	// LogHandler formats the logs; nil means JSON, as in AWS.
	LogHandler HandlerFunc
	// MetricsOutput receives the metrics as EMF lines; nil means stdout,
	// where Lambda hands them to CloudWatch Logs.
	MetricsOutput io.Writer
	// TokenFetcher makes the token plane's fetches elsewhere; nil means the
	// refresher function named by WXSUB_REFRESHER, invoked through Lambda,
	// or this process when none is named.
	TokenFetcher token.Fetcher
	// Clock is the time reminders are scheduled and fall due by; nil means
	// time.Now. The local stack passes the simulator's clock, so that tests
	// and `make run` move time with POST /__sim/clock.
	Clock func() time.Time
}

// Open builds the dependencies for cfg.
func Open(ctx context.Context, cfg config.Config, o Options) (*Backend, error) {
	out := o.LogOutput
	if out == nil {
		out = os.Stdout
	}
	logger := NewLoggerWith(out, o.LogHandler)
	metricsOut := o.MetricsOutput
	if metricsOut == nil {
		metricsOut = os.Stdout
	}
	mw := metrics.New(metricsOut, nil)
	db := o.DB
	if db == nil {
		c, err := store.NewClient(ctx, store.ClientOptions{Endpoint: cfg.DynamoEndpoint})
		if err != nil {
			return nil, err
		}
		db = c
	}
	st := store.New(db, cfg.Table)
	wc := wechat.NewClient(cfg.APIBase, o.HTTPClient)
	fetcher := o.TokenFetcher
	if fetcher == nil && cfg.Refresher != "" {
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("backend: AWS config for invoking %s: %w", cfg.Refresher, err)
		}
		fetcher = refresher.Client{Call: refresher.LambdaCall(lambda.NewFromConfig(awsCfg), cfg.Refresher)}
	}
	b := &Backend{
		Config:  cfg,
		Store:   st,
		WeChat:  wc,
		Catalog: catalog.New(cfg.AppID, st, catalog.DefaultTTL),
		Logger:  logger,
		Metrics: mw,
		Clock:   o.Clock,
		Tokens: token.New(token.Config{
			AppID: cfg.AppID, Secret: cfg.Secret, Mode: token.Mode(cfg.TokenMode),
			Store: st, WeChat: wc, Logger: logger, Metrics: mw, Fetcher: fetcher,
		}),
	}
	if cfg.OfficialAccount() {
		b.Tickets = token.New(token.Config{
			AppID: cfg.AppID, Secret: cfg.Secret, Kind: token.JSAPITicket, AccessTokens: b.Tokens,
			Store: st, WeChat: wc, Logger: logger, Fetcher: fetcher,
		})
	}
	if len(cfg.SessionKey) > 0 {
		s, err := sessiontoken.NewSigner(cfg.SessionKey, cfg.SessionTTL)
		if err != nil {
			return nil, fmt.Errorf("backend: SESSION_SIGNING_KEY: %w", err)
		}
		b.Sessions = s
	}
	return b, nil
}

// FromEnv reads the configuration from the environment and opens the backend,
// checking that the named secrets are present.
func FromEnv(ctx context.Context, secrets ...string) (*Backend, error) {
	cfg, err := config.FromEnv(ctx, os.Getenv)
	if err != nil {
		return nil, err
	}
	if err := cfg.RequireSecret(secrets...); err != nil {
		return nil, err
	}
	return Open(ctx, cfg, Options{})
}

// MustFromEnv is FromEnv for a function's main: it exits when configuration is wrong.
func MustFromEnv(secrets ...string) *Backend {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := FromEnv(ctx, secrets...)
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("wxsub cannot start", "err", err)
		os.Exit(1)
	}
	return b
}

// Login is the session function's handler.
func (b *Backend) Login() *login.Handler {
	return &login.Handler{AppID: b.Config.AppID, Secret: b.Config.Secret, WeChat: b.WeChat, Sessions: b.Sessions, Logger: b.Logger,
		WebOAuth: b.Config.OfficialAccount()}
}

// Subscriptions is the subscriptions function's handler.
func (b *Backend) Subscriptions() *subscriptions.Handler {
	return &subscriptions.Handler{AppID: b.Config.AppID, Store: b.Store, Catalog: b.Catalog, Sessions: b.Sessions, Logger: b.Logger,
		Metrics: b.Metrics, PushOnly: b.Config.CreditSource == config.CreditsFromPush, OfficialAccount: b.Config.OfficialAccount()}
}

// Messages is the send function's handler.
func (b *Backend) Messages() *messages.Handler {
	return &messages.Handler{AppID: b.Config.AppID, Store: b.Store, Catalog: b.Catalog, WeChat: b.WeChat, Tokens: b.Tokens, Logger: b.Logger,
		Metrics: b.Metrics, Clock: b.Clock, OfficialAccount: b.Config.OfficialAccount()}
}

// Events is the events function's handler (WeChat's message push). Without
// a valid WECHAT_ENCODING_AES_KEY it refuses encrypted pushes, and says so
// in the log; WECHAT_PUSH_MODE=plaintext is needed for it to take any.
func (b *Backend) Events() *pushevents.Handler {
	h := &pushevents.Handler{AppID: b.Config.AppID, Token: b.Config.PushToken, Store: b.Store, Catalog: b.Catalog, Logger: b.Logger,
		Metrics: b.Metrics, AcceptPlaintext: b.Config.PushMode == config.PushPlaintext}
	if b.Config.EncodingAESKey != "" {
		c, err := wxpush.NewCipher(b.Config.EncodingAESKey, b.Config.AppID)
		if err != nil {
			b.Logger.Error("WECHAT_ENCODING_AES_KEY is not a 43-character EncodingAESKey: encrypted pushes will be refused")
		} else {
			h.Cipher = c
		}
	}
	return h
}

// Refresher is the refresh-token function's handler.
func (b *Backend) Refresher() *refresher.Handler {
	return &refresher.Handler{AppID: b.Config.AppID, Tokens: b.Tokens, Tickets: b.Tickets, Logger: b.Logger, Store: b.Store, Metrics: b.Metrics}
}

// Jssdk is the jssdk function's handler (GET /v1/jssdk-config).
func (b *Backend) Jssdk() *jssdk.Handler {
	return &jssdk.Handler{AppID: b.Config.AppID, OfficialAccount: b.Config.OfficialAccount(), Tickets: b.Tickets, Logger: b.Logger}
}

// Templates is the templates function's handler (GET /v1/templates,
// POST /v1/templates/sync and the hourly sync).
func (b *Backend) Templates() *templates.Handler {
	return &templates.Handler{AppID: b.Config.AppID, Catalog: b.Catalog, WeChat: b.WeChat, Tokens: b.Tokens,
		Sessions: b.Sessions, Logger: b.Logger}
}

// Quota is the quota function's handler (GET /v1/quota and the hourly quota watch).
func (b *Backend) Quota() *quota.Handler {
	return &quota.Handler{AppID: b.Config.AppID, TokenMode: token.Mode(b.Config.TokenMode), Store: b.Store,
		WeChat: b.WeChat, Tokens: b.Tokens, Metrics: b.Metrics, Logger: b.Logger}
}

// Tally is the tally function's handler.
func (b *Backend) Tally() *tally.Handler {
	return &tally.Handler{Store: b.Store, Logger: b.Logger, Reminders: b.Messages()}
}

// Sweep is the sweep function's handler.
func (b *Backend) Sweep() *sweep.Handler {
	return &sweep.Handler{AppID: b.Config.AppID, Store: b.Store, PendingAfter: b.Config.PendingAfter, Logger: b.Logger}
}
