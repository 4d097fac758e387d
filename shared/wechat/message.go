package wechat

import (
	"context"
	"net/http"
)

// Value is one keyword's value in a subscription message.
type Value struct {
	Value string `json:"value"`
}

// Message is the body of a mini-program subscription message
// (POST /cgi-bin/message/subscribe/send).
type Message struct {
	ToUser           string           `json:"touser"`
	TemplateID       string           `json:"template_id"`
	Page             string           `json:"page,omitempty"`
	Data             map[string]Value `json:"data"`
	MiniprogramState string           `json:"miniprogram_state,omitempty"` // developer, trial or formal (default)
	Lang             string           `json:"lang,omitempty"`              // zh_CN (default), en_US, zh_HK or zh_TW
	// Miniprogram is only for an official account's message (see Biz):
	// subscribe/send has no such field.
	Miniprogram *MiniprogramLink `json:"miniprogram,omitempty"`
}

// Biz returns m as an official account's bizsend body.
func (m Message) Biz() BizMessage {
	return BizMessage{ToUser: m.ToUser, TemplateID: m.TemplateID, Page: m.Page, Miniprogram: m.Miniprogram,
		Data: m.Data, MiniprogramState: m.MiniprogramState, Lang: m.Lang}
}

// MiniprogramLink points an Official Account message at a mini-program page.
type MiniprogramLink struct {
	AppID    string `json:"appid"`
	PagePath string `json:"pagepath"`
}

// BizMessage is the body of an Official Account subscription message
// (POST /cgi-bin/message/subscribe/bizsend). WeChat documents two shapes and
// this is their union: the older one links to a web Page and/or a
// Miniprogram (the mini-program wins when both are set), the newer one
// mirrors Message with MiniprogramState and Lang. Unset fields are omitted.
type BizMessage struct {
	ToUser           string           `json:"touser"`
	TemplateID       string           `json:"template_id"`
	Page             string           `json:"page,omitempty"`
	Miniprogram      *MiniprogramLink `json:"miniprogram,omitempty"`
	Data             map[string]Value `json:"data"`
	MiniprogramState string           `json:"miniprogram_state,omitempty"`
	Lang             string           `json:"lang,omitempty"`
}

// SendResult is WeChat's answer to an accepted message.
type SendResult struct {
	MsgID string // "" when WeChat sent no msgid
}

type sendAnswer struct {
	MsgID idString `json:"msgid"`
}

// SendSubscribe sends a mini-program subscription message. The final
// delivery result arrives later as a subscribe_msg_sent_event push.
func (c *Client) SendSubscribe(ctx context.Context, accessToken string, m Message) (SendResult, error) {
	return c.send(ctx, "subscribe/send", "/cgi-bin/message/subscribe/send", accessToken, m)
}

// BizSend sends an Official Account subscription message.
func (c *Client) BizSend(ctx context.Context, accessToken string, m BizMessage) (SendResult, error) {
	return c.send(ctx, "subscribe/bizsend", "/cgi-bin/message/subscribe/bizsend", accessToken, m)
}

func (c *Client) send(ctx context.Context, op, path, accessToken string, body any) (SendResult, error) {
	var a sendAnswer
	err := c.do(ctx, call{
		op:      op,
		method:  http.MethodPost,
		path:    path,
		query:   withToken(accessToken),
		body:    body,
		secrets: []string{accessToken},
	}, &a)
	if err != nil {
		return SendResult{}, err
	}
	return SendResult{MsgID: string(a.MsgID)}, nil
}
