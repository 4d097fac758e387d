// Package config reads wxsub's configuration, the same names everywhere
// (README.md lists them): from environment variables, and in AWS the
// secrets from one Secrets Manager secret or SSM SecureString parameter
// named by WXSUB_SECRETS.
package config

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// Defaults of the contract.
const (
	DefaultAPIBase    = "https://api.weixin.qq.com,https://api2.weixin.qq.com"
	DefaultTable      = "wxsub"
	DefaultSessionTTL = 168 * time.Hour
	// DefaultPendingAfter is how old a pending message must be before the
	// sweep declares it unknown: longer than any sending function's timeout
	// (template.yaml: 28 s for the send function, 60 s for the broadcast worker).
	DefaultPendingAfter = 90 * time.Second
)

// Config is wxsub's configuration. Its String and LogValue methods never
// print a secret.
type Config struct {
	AppID          string
	Secret         string
	APIBase        string
	TokenMode      string // "stable" or "classic"
	PushToken      string
	EncodingAESKey string
	Table          string
	DynamoEndpoint string
	SessionKey     []byte
	SessionTTL     time.Duration
	AdminKey       string
	// BroadcastQueueURL is the SQS queue of broadcast jobs (set by template.yaml).
	BroadcastQueueURL string
	// PendingAfter is WXSUB_PENDING_AFTER: the age at which the sweep turns a
	// message still pending into unknown.
	PendingAfter time.Duration
	// Refresher is WXSUB_REFRESHER: the name of the function that makes the
	// calls to WeChat's token APIs, which this one invokes when it needs a
	// token fetched; empty in that function itself (and in the local stack,
	// which calls it in-process).
	Refresher string
	// PushMode is WECHAT_PUSH_MODE: PushSecure accepts only encrypted pushes,
	// PushPlaintext also plaintext ones.
	PushMode string
	// CreditSource is WXSUB_CREDIT_SOURCE: CreditsFromBoth or CreditsFromPush.
	CreditSource string
	// AppKind is WECHAT_APP_KIND: KindMiniprogram or KindOfficialAccount
	// (a 服务号: web OAuth login, the JS-SDK's jsapi_ticket, bizsend).
	AppKind string
}

// Values of WECHAT_APP_KIND: one stack serves one app of one kind.
const (
	// KindMiniprogram is a mini-program: wx.login, wx.requestSubscribeMessage, subscribe/send.
	KindMiniprogram = "miniprogram"
	// KindOfficialAccount is a service official account (服务号): web OAuth
	// (snsapi_base), <wx-open-subscribe> with the JS-SDK, subscribe/bizsend.
	KindOfficialAccount = "official_account"
)

// OfficialAccount reports whether the app is an official account.
func (c Config) OfficialAccount() bool { return c.AppKind == KindOfficialAccount }

// Values of WECHAT_PUSH_MODE and WXSUB_CREDIT_SOURCE.
const (
	// PushSecure accepts only pushes with encrypt_type=aes and a valid
	// msg_signature (WeChat's secure and compatible modes).
	PushSecure = "secure"
	// PushPlaintext also accepts plaintext pushes, whose signature does not
	// cover the body.
	PushPlaintext = "plaintext"
	// CreditsFromBoth lets client reports and popup events both grant,
	// paired so that one tap counts once.
	CreditsFromBoth = "both"
	// CreditsFromPush lets only WeChat's popup events grant one-time credits.
	CreditsFromPush = "push"
)

// String describes the configuration without its secrets.
func (c Config) String() string {
	return fmt.Sprintf("appid=%s kind=%s api=%s token_api=%s table=%s dynamodb=%s session_ttl=%s push_mode=%s credit_source=%s",
		c.AppID, c.AppKind, c.APIBase, c.TokenMode, c.Table, orAWS(c.DynamoEndpoint), c.SessionTTL, c.PushMode, c.CreditSource)
}

// LogValue describes the configuration to log/slog without its secrets: of
// each secret only whether it is set.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("appid", c.AppID),
		slog.String("kind", c.AppKind),
		slog.String("api", c.APIBase),
		slog.String("token_api", c.TokenMode),
		slog.String("table", c.Table),
		slog.String("dynamodb", orAWS(c.DynamoEndpoint)),
		slog.Duration("session_ttl", c.SessionTTL),
		slog.Duration("pending_after", c.PendingAfter),
		slog.String("push_mode", c.PushMode),
		slog.String("credit_source", c.CreditSource),
		slog.String("refresher", c.Refresher),
		slog.String("broadcast_queue", c.BroadcastQueueURL),
		slog.Bool("secret_set", c.Secret != ""),
		slog.Bool("push_token_set", c.PushToken != ""),
		slog.Bool("encoding_aes_key_set", c.EncodingAESKey != ""),
		slog.Bool("session_signing_key_set", len(c.SessionKey) > 0),
		slog.Bool("admin_key_set", c.AdminKey != ""),
	)
}

func orAWS(s string) string {
	if s == "" {
		return "aws"
	}
	return s
}

// secretNames are the keys of the WXSUB_SECRETS JSON document.
var secretNames = []string{"WECHAT_SECRET", "WECHAT_PUSH_TOKEN", "WECHAT_ENCODING_AES_KEY", "SESSION_SIGNING_KEY"}

// FromEnv reads the configuration from getenv (os.Getenv in production). When
// WXSUB_SECRETS names a Secrets Manager secret (an ARN) or an SSM parameter (a
// name starting with "/"), the secrets missing from the environment are read
// from it.
func FromEnv(ctx context.Context, getenv func(string) string) (Config, error) {
	env := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	secrets := map[string]string{}
	for _, n := range secretNames {
		if v := getenv(n); v != "" {
			secrets[n] = v
		}
	}
	if src := env("WXSUB_SECRETS", ""); src != "" && len(secrets) < len(secretNames) {
		loaded, err := loadSecrets(ctx, src)
		if err != nil {
			return Config{}, err
		}
		for k, v := range loaded {
			if _, ok := secrets[k]; !ok {
				secrets[k] = v
			}
		}
	}
	c := Config{
		AppID:          env("WECHAT_APPID", ""),
		Secret:         secrets["WECHAT_SECRET"],
		APIBase:        strings.TrimRight(env("WECHAT_API_BASE", DefaultAPIBase), "/"),
		TokenMode:      env("WECHAT_TOKEN_API", "stable"),
		PushToken:      secrets["WECHAT_PUSH_TOKEN"],
		EncodingAESKey: secrets["WECHAT_ENCODING_AES_KEY"],
		Table:          env("TABLE_NAME", DefaultTable),
		DynamoEndpoint: env("DYNAMODB_ENDPOINT", ""),
		SessionKey:     []byte(secrets["SESSION_SIGNING_KEY"]),
		SessionTTL:     DefaultSessionTTL,
		AdminKey:       env("WXSUB_ADMIN_KEY", ""),

		BroadcastQueueURL: env("BROADCAST_QUEUE_URL", ""),
		PendingAfter:      DefaultPendingAfter,
		Refresher:         env("WXSUB_REFRESHER", ""),
		PushMode:          env("WECHAT_PUSH_MODE", PushSecure),
		CreditSource:      env("WXSUB_CREDIT_SOURCE", CreditsFromBoth),
		AppKind:           env("WECHAT_APP_KIND", KindMiniprogram),
	}
	if c.AppKind != KindMiniprogram && c.AppKind != KindOfficialAccount {
		return Config{}, fmt.Errorf("config: WECHAT_APP_KIND must be miniprogram or official_account, got %q", c.AppKind)
	}
	if c.PushMode != PushSecure && c.PushMode != PushPlaintext {
		return Config{}, fmt.Errorf("config: WECHAT_PUSH_MODE must be secure or plaintext, got %q", c.PushMode)
	}
	if c.CreditSource != CreditsFromBoth && c.CreditSource != CreditsFromPush {
		return Config{}, fmt.Errorf("config: WXSUB_CREDIT_SOURCE must be both or push, got %q", c.CreditSource)
	}
	if v := env("WXSUB_PENDING_AFTER", ""); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 30*time.Second {
			return Config{}, fmt.Errorf("config: WXSUB_PENDING_AFTER must be a Go duration of at least 30s (longer than the send function's timeout), got %q", v)
		}
		c.PendingAfter = d
	}
	if v := env("SESSION_TTL", ""); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("config: SESSION_TTL must be a positive Go duration such as 168h, got %q", v)
		}
		c.SessionTTL = d
	}
	if c.TokenMode != "stable" && c.TokenMode != "classic" {
		return Config{}, fmt.Errorf("config: WECHAT_TOKEN_API must be stable or classic, got %q", c.TokenMode)
	}
	if c.AppID == "" {
		return Config{}, fmt.Errorf("config: WECHAT_APPID is not set")
	}
	return c, nil
}

// RequireSecret reports a clear error when a secret the function needs is missing.
func (c Config) RequireSecret(names ...string) error {
	for _, n := range names {
		var v string
		switch n {
		case "WECHAT_SECRET":
			v = c.Secret
		case "WECHAT_PUSH_TOKEN":
			v = c.PushToken
		case "WECHAT_ENCODING_AES_KEY":
			v = c.EncodingAESKey
		case "SESSION_SIGNING_KEY":
			v = string(c.SessionKey)
		}
		if v == "" {
			return fmt.Errorf("config: %s is not set (environment or WXSUB_SECRETS)", n)
		}
	}
	return nil
}

func loadSecrets(ctx context.Context, src string) (map[string]string, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("config: load AWS config: %w", err)
	}
	var doc string
	switch {
	case strings.HasPrefix(src, "arn:") && strings.Contains(src, ":secretsmanager:"):
		out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(src)})
		if err != nil {
			return nil, fmt.Errorf("config: read secret %s: %w", src, err)
		}
		doc = aws.ToString(out.SecretString)
	case strings.HasPrefix(src, "/"):
		out, err := ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(src), WithDecryption: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("config: read parameter %s: %w", src, err)
		}
		doc = aws.ToString(out.Parameter.Value)
	default:
		return nil, fmt.Errorf("config: WXSUB_SECRETS must be a Secrets Manager ARN or an SSM parameter name starting with /, got %q", src)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		// Do not wrap: the parse error could quote the secret.
		return nil, fmt.Errorf("config: %s is not a JSON object of strings with keys %s", src, strings.Join(secretNames, ", "))
	}
	return m, nil
}
