package wechatsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/wxsub/wxsub/shared/keyword"
	"github.com/wxsub/wxsub/shared/wxpush"
)

// sendRequest is the union of the subscribe/send body and both bizsend
// bodies.
type sendRequest struct {
	ToUser           string          `json:"touser"`
	TemplateID       string          `json:"template_id"`
	Page             string          `json:"page"`
	Data             json.RawMessage `json:"data"`
	MiniprogramState string          `json:"miniprogram_state"`
	Lang             string          `json:"lang"`
	Miniprogram      *struct {
		AppID    string `json:"appid"`
		PagePath string `json:"pagepath"`
	} `json:"miniprogram"`
}

var (
	miniprogramStates = []string{"", "developer", "trial", "formal"}
	langs             = []string{"", "zh_CN", "en_US", "zh_HK", "zh_TW"}
)

// send returns the handler of subscribe/send (withMsgID) or bizsend, whose
// answer carries no msgid.
//
// The checks run in this order: token, body, touser (40003), template_id
// (40037), data (47001, 47003), miniprogram_state and lang (47003), a send
// to the same user in flight (43108), the user's subscription (43101).
func (s *Sim) send(withMsgID bool) apiHandler {
	return func(r *http.Request, body []byte) answer {
		if a, ok := s.requirePOST(r); !ok {
			return a
		}
		if a, ok := s.checkToken(r); !ok {
			return a
		}
		var req sendRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return s.failCode(47001)
		}
		s.mu.Lock()
		_, known := s.st.users[req.ToUser]
		s.mu.Unlock()
		if !known && !s.ownOpenID(req.ToUser) {
			return s.failCode(40003) // malformed, or another app's
		}
		t := s.templates[req.TemplateID]
		if t == nil {
			return s.failCode(40037)
		}
		data, ok := parseData(req.Data)
		if !ok {
			return s.failCode(47001)
		}
		if problems := keyword.Validate(t.Specs(), data); len(problems) > 0 {
			return s.fail(47003, dataProblem(problems[0]))
		}
		for _, k := range keyword.Extra(t.Specs(), data) {
			delete(data, k) // WeChat ignores keys the template does not have
		}
		if !slices.Contains(miniprogramStates, req.MiniprogramState) {
			return s.fail(47003, "argument invalid! miniprogram_state invalid")
		}
		if !slices.Contains(langs, req.Lang) {
			return s.fail(47003, "argument invalid! lang invalid")
		}
		page := req.Page
		if req.Miniprogram != nil && req.Miniprogram.PagePath != "" {
			page = req.Miniprogram.PagePath // the mini-program wins over a web page
		}
		d := Delivered{TemplateID: t.ID, Data: data, Page: page, MiniprogramState: req.MiniprogramState, Lang: req.Lang}

		msgID, code := s.deliver(req.ToUser, t, d)
		if code != 0 {
			return s.failCode(code)
		}
		var a answer
		if withMsgID {
			a = s.ok(struct {
				ErrCode int    `json:"errcode"`
				ErrMsg  string `json:"errmsg"`
				MsgID   int64  `json:"msgid"`
			}{0, "ok", msgID})
		} else {
			a = s.ok(struct {
				ErrCode int    `json:"errcode"`
				ErrMsg  string `json:"errmsg"`
			}{0, "ok"})
		}
		a.pushes = s.pusher.prepare(req.ToUser, wxpush.EventSent, []wxpush.Item{{
			TemplateID: t.ID, MsgID: strconv.FormatInt(msgID, 10), ErrorCode: 0, ErrorStatus: "success",
		}})
		return a
	}
}

// deliver spends the user's subscription and puts d in the inbox after the
// configured latency. It returns the msgid, or 43108 or 43101.
func (s *Sim) deliver(openid string, t *Template, d Delivered) (int64, int) {
	latency := s.cfg.SendLatency
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st // Reset may replace s.st while the message is in flight
	u := st.users[openid]
	switch {
	case u == nil && s.ownOpenID(openid):
		return 0, 43101 // a user of the app who never subscribed
	case u == nil: // reset between the checks and now
		return 0, 40003
	case u.inFlight > 0:
		return 0, 43108
	}
	sub := u.subs[t.ID]
	switch {
	case sub != nil && sub.status == "ban":
		// A template the platform banned: "43107 订阅消息能力封禁"
		// (https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html).
		return 0, 43107
	case sub == nil || u.mainOff,
		t.Type == LongTerm && sub.status != "accept",
		t.Type == OneTime && sub.credits < 1:
		return 0, 43101
	case t.Type == OneTime:
		sub.credits--
	}
	s.msgSeq++
	d.MsgID = s.msgSeq
	if latency > 0 {
		u.inFlight++
		s.mu.Unlock()
		time.Sleep(latency)
		s.mu.Lock()
		u.inFlight--
	}
	d.SentAt = s.now()
	u.inbox = append(u.inbox, d)
	st.delivered++
	return d.MsgID, 0
}

// parseData reads the data object of a send, {"thing1":{"value":"…"}},
// into keyword values. A value may also be a JSON number. It reports false
// when data is not such an object (WeChat's 47001); a missing data is an
// empty one, which keyword validation then rejects.
func parseData(raw json.RawMessage) (map[string]string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return map[string]string{}, true
	}
	var items map[string]json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil, false
	}
	data := make(map[string]string, len(items))
	for k, item := range items {
		var v struct {
			Value json.RawMessage `json:"value"`
		}
		if json.Unmarshal(item, &v) != nil {
			return nil, false
		}
		var str string
		var num json.Number
		switch {
		case len(v.Value) == 0 || bytes.Equal(v.Value, []byte("null")):
		case json.Unmarshal(v.Value, &str) == nil:
		case json.Unmarshal(v.Value, &num) == nil:
			str = num.String()
		default:
			return nil, false
		}
		data[k] = str
	}
	return data, true
}

// dataProblem words a keyword problem the way WeChat's 47003 errmsg does.
func dataProblem(p keyword.Problem) string {
	switch p.Rule {
	case keyword.RuleMissing, keyword.RuleEmpty:
		return "argument invalid! data." + p.Key + ".value is empty"
	}
	return "argument invalid! data." + p.Key + ".value invalid"
}
