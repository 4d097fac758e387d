package wxsubclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// SendRequest is the body of POST /v1/messages: WeChat's subscribe/send.
type SendRequest struct {
	ToUser     string `json:"touser"`
	TemplateID string `json:"template_id"`
	// Data maps each keyword (e.g. "thing2") to its value; it is sent in
	// WeChat's form {"thing2":{"value":"…"}}.
	Data map[string]string `json:"-"`
	// Page is the mini-program page the message opens, e.g. "pages/index/index".
	Page string `json:"page,omitempty"`
	// MiniprogramState is developer, trial or formal (the default).
	MiniprogramState string `json:"miniprogram_state,omitempty"`
	// Lang is zh_CN (the default), en_US, zh_HK or zh_TW.
	Lang string `json:"lang,omitempty"`
	// IdempotencyKey, when set, makes a repeat within 24 hours answer the
	// first answer and send nothing.
	IdempotencyKey string `json:"-"`
	// SendAt, when set, makes the message a reminder sent at that time (at
	// least a minute and at most a year ahead): the credit is held now and
	// the answer is 202 with status scheduled. Stacks without reminders
	// refuse the field (400 unknown_field).
	SendAt *time.Time `json:"send_at,omitempty"`
}

// MarshalJSON writes Data in WeChat's form.
func (r SendRequest) MarshalJSON() ([]byte, error) {
	type plain SendRequest
	return json.Marshal(struct {
		plain
		Data map[string]keywordValue `json:"data"`
	}{plain(r), wechatData(r.Data)})
}

type keywordValue struct {
	Value string `json:"value"`
}

func wechatData(d map[string]string) map[string]keywordValue {
	out := make(map[string]keywordValue, len(d))
	for k, v := range d {
		out[k] = keywordValue{v}
	}
	return out
}

// SendResult is a sent message.
type SendResult struct {
	MessageID string `json:"message_id"`
	Status    string `json:"status"`
	// CreditsLeft is the user's one-time credits left for the template;
	// nil for a long-term template.
	CreditsLeft *int64 `json:"credits_left"`
	// Warnings lists keys of Data the template does not have (left out).
	Warnings []Warning `json:"warnings,omitempty"`
	// SendAt is set for a reminder (Status scheduled).
	SendAt string `json:"send_at,omitempty"`
}

// Warning is a problem that did not stop the send.
type Warning struct {
	Code    string `json:"code"`
	Key     string `json:"key,omitempty"`
	Message string `json:"message"`
}

// Send sends a subscription message to one user, spending one credit
// (POST /v1/messages). Refusals come back as *Error: CodeNoCredit,
// CodeInvalidData (one Details entry per bad keyword), …
func (c *Client) Send(ctx context.Context, r SendRequest) (*SendResult, error) {
	var h http.Header
	if r.IdempotencyKey != "" {
		h = http.Header{"Idempotency-Key": {r.IdempotencyKey}}
	}
	var out SendResult
	if err := c.do(ctx, http.MethodPost, "/v1/messages", r, h, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Message is a message's record: pending, sent, delivered, failed, unknown
// (and, with reminders, scheduled or cancelled).
type Message struct {
	MessageID   string `json:"message_id"`
	ToUser      string `json:"touser"`
	TemplateID  string `json:"template_id"`
	Status      string `json:"status"`
	ErrCode     int    `json:"errcode"`
	ErrMsg      string `json:"errmsg,omitempty"`
	WeChatMsgID string `json:"wechat_msgid,omitempty"`
	BroadcastID string `json:"broadcast_id,omitempty"`
	// SendAt is a reminder's time; Reason says why a reminder was cancelled.
	SendAt    string `json:"send_at,omitempty"`
	Reason    string `json:"reason,omitempty"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

// Message reads a message (GET /v1/messages/{id}).
func (c *Client) Message(ctx context.Context, id string) (*Message, error) {
	var out Message
	if err := c.do(ctx, http.MethodGet, "/v1/messages/"+url.PathEscape(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CancelMessage cancels a scheduled reminder, releasing its credit, and
// returns the message, now cancelled (DELETE /v1/messages/{id}). A message
// that has started answers 409 not_scheduled.
func (c *Client) CancelMessage(ctx context.Context, id string) (*Message, error) {
	var out Message
	if err := c.do(ctx, http.MethodDelete, "/v1/messages/"+url.PathEscape(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UserMessages reads one page of a user's messages, newest first
// (GET /v1/users/{openid}/messages); status filters them when not empty
// (e.g. "scheduled"). Pass the returned next to read the following page,
// until it is "".
func (c *Client) UserMessages(ctx context.Context, openid, status, next string) ([]Message, string, error) {
	q := url.Values{}
	if status != "" {
		q.Set("status", status)
	}
	if next != "" {
		q.Set("next", next)
	}
	path := "/v1/users/" + url.PathEscape(openid) + "/messages"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out struct {
		Messages []Message `json:"messages"`
		Next     string    `json:"next"`
	}
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &out); err != nil {
		return nil, "", err
	}
	return out.Messages, out.Next, nil
}

// Ledger is a user's subscriptions, every template of the app.
type Ledger struct {
	OpenID        string         `json:"openid"`
	Subscriptions []Subscription `json:"subscriptions"`
}

// Subscription is one template of a user's ledger.
type Subscription struct {
	TemplateID string `json:"template_id"`
	Title      string `json:"title,omitempty"`
	// Type is one_time or long_term.
	Type string `json:"type"`
	// Status is accept, reject, ban or off; nil if the user never answered.
	Status *string `json:"status"`
	// Credits is nil for a long-term template.
	Credits   *int64  `json:"credits"`
	UpdatedAt *string `json:"updated_at"`
}

// UserSubscriptions reads a user's ledger (GET /v1/users/{openid}/subscriptions).
func (c *Client) UserSubscriptions(ctx context.Context, openid string) (*Ledger, error) {
	var out Ledger
	if err := c.do(ctx, http.MethodGet, "/v1/users/"+url.PathEscape(openid)+"/subscriptions", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// BroadcastRequest is the body of POST /v1/broadcasts: a send without touser.
type BroadcastRequest struct {
	TemplateID       string            `json:"template_id"`
	Data             map[string]string `json:"-"`
	Page             string            `json:"page,omitempty"`
	MiniprogramState string            `json:"miniprogram_state,omitempty"`
	Lang             string            `json:"lang,omitempty"`
}

// MarshalJSON writes Data in WeChat's form.
func (r BroadcastRequest) MarshalJSON() ([]byte, error) {
	type plain BroadcastRequest
	return json.Marshal(struct {
		plain
		Data map[string]keywordValue `json:"data"`
	}{plain(r), wechatData(r.Data)})
}

// Broadcast queues a message to every user who may receive it and returns
// the broadcast's id (POST /v1/broadcasts). Follow it with BroadcastStatus.
func (c *Client) Broadcast(ctx context.Context, r BroadcastRequest) (string, error) {
	var out struct {
		BroadcastID string `json:"broadcast_id"`
	}
	if err := c.do(ctx, http.MethodPost, "/v1/broadcasts", r, nil, &out); err != nil {
		return "", err
	}
	return out.BroadcastID, nil
}

// BroadcastState is a broadcast's counts and state.
type BroadcastState struct {
	BroadcastID string `json:"broadcast_id"`
	TemplateID  string `json:"template_id"`
	// State is queued, running or done.
	State     string `json:"state"`
	Queued    int64  `json:"queued"`
	Sent      int64  `json:"sent"`
	NoCredit  int64  `json:"no_credit"`
	Failed    int64  `json:"failed"`
	Unknown   int64  `json:"unknown"`
	CreatedAt string `json:"created_at"`
}

// Done reports whether every queued user has an outcome.
func (b *BroadcastState) Done() bool { return b.State == "done" }

// Finished is how many queued users have an outcome.
func (b *BroadcastState) Finished() int64 { return b.Sent + b.NoCredit + b.Failed + b.Unknown }

// BroadcastStatus reads a broadcast's counts and state (GET /v1/broadcasts/{id}).
func (c *Client) BroadcastStatus(ctx context.Context, id string) (*BroadcastState, error) {
	var out BroadcastState
	if err := c.do(ctx, http.MethodGet, "/v1/broadcasts/"+url.PathEscape(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// BroadcastOutcome is one user's message of a broadcast.
type BroadcastOutcome struct {
	MessageID string `json:"message_id"`
	ToUser    string `json:"touser"`
	Status    string `json:"status"`
}

// BroadcastMessages reads one page of a broadcast's messages
// (GET /v1/broadcasts/{id}/messages); pass the returned next to read the
// following page, until it is "". limit 0 takes the stack's default (100).
func (c *Client) BroadcastMessages(ctx context.Context, id, next string, limit int) ([]BroadcastOutcome, string, error) {
	q := url.Values{}
	if next != "" {
		q.Set("next", next)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := "/v1/broadcasts/" + url.PathEscape(id) + "/messages"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out struct {
		Messages []BroadcastOutcome `json:"messages"`
		Next     string             `json:"next"`
	}
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &out); err != nil {
		return nil, "", err
	}
	return out.Messages, out.Next, nil
}

// Catalogue is the app's templates as last synced from WeChat.
type Catalogue struct {
	Templates []Template `json:"templates"`
	SyncedAt  *string    `json:"synced_at"`
}

// Template is one template of the catalogue.
type Template struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Type is one_time or long_term.
	Type     string    `json:"type"`
	Keywords []Keyword `json:"keywords"`
}

// Keyword is one keyword of a template and its rule.
type Keyword struct {
	Key    string   `json:"key"`
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	MaxLen int      `json:"max_len,omitempty"`
	Enum   []string `json:"enum,omitempty"`
}

// SyncTemplates pulls WeChat's gettemplate into the catalogue now and
// returns the catalogue (POST /v1/templates/sync).
func (c *Client) SyncTemplates(ctx context.Context) (*Catalogue, error) {
	var out Catalogue
	if err := c.do(ctx, http.MethodPost, "/v1/templates/sync", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Quota is WeChat's quotas and wxsub's counts for today (China time).
type Quota struct {
	// WeChat maps each API path to its quota, or to an error when WeChat
	// could not report it.
	WeChat map[string]PathQuota `json:"wechat"`
	Today  Today                `json:"today"`
}

// PathQuota is WeChat's quota of one API path.
type PathQuota struct {
	DailyLimit int64      `json:"daily_limit"`
	Used       int64      `json:"used"`
	Remain     int64      `json:"remain"`
	RateLimit  *RateLimit `json:"rate_limit,omitempty"`
	// Error is set when WeChat could not report this path.
	Error *struct {
		Code    string       `json:"code"`
		Message string       `json:"message"`
		WeChat  *WeChatError `json:"wechat,omitempty"`
	} `json:"error,omitempty"`
}

// RateLimit is a path's rate limit.
type RateLimit struct {
	CallCount     int64 `json:"call_count"`
	RefreshSecond int64 `json:"refresh_second"`
}

// Today is wxsub's counts for the day.
type Today struct {
	Day     string `json:"day"`
	Sent    int64  `json:"sent"`
	Unknown int64  `json:"unknown"`
	// Failed counts failed sends by WeChat errcode.
	Failed   map[string]int64 `json:"failed"`
	Granted  int64            `json:"granted"`
	Spent    int64            `json:"spent"`
	Released int64            `json:"released"`
}

// Quota reads the quotas (GET /v1/quota).
func (c *Client) Quota(ctx context.Context) (*Quota, error) {
	var out Quota
	if err := c.do(ctx, http.MethodGet, "/v1/quota", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
