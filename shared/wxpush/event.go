package wxpush

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The subscription-message events WeChat pushes.
const (
	// EventPopup reports the user's choices in a subscription popup.
	EventPopup = "subscribe_msg_popup_event"
	// EventChange reports a subscription the user turned off later.
	EventChange = "subscribe_msg_change_event"
	// EventSent reports the final delivery result of a sent message.
	EventSent = "subscribe_msg_sent_event"
)

// Event is a pushed event: the header every push carries and, for the three
// subscription events, one Item per template.
type Event struct {
	ToUserName   string // the mini-program's original id, gh_…
	FromUserName string // the user's openid
	CreateTime   int64  // Unix seconds
	MsgType      string // "event" for events
	Event        string // e.g. EventPopup; empty for non-event messages
	Items        []Item
}

// Item is one template's entry in the List of a subscription event. Which
// fields are set depends on the event: TemplateID, Status and PopupScene for
// a popup; TemplateID and Status for a change; TemplateID, MsgID, ErrorCode
// and ErrorStatus for a sent event.
type Item struct {
	TemplateID  string // TemplateId
	Status      string // SubscribeStatusString: "accept" or "reject"
	PopupScene  int    // 0 in a mini-program; 1 H5 page, 2 article on Official Accounts
	MsgID       string // kept as text: it can exceed what JSON numbers hold exactly
	ErrorCode   int    // 0 when delivered
	ErrorStatus string // "success", or a failure description
}

// wrapper returns the XML element that holds the List items of a
// subscription event, or "" for any other event.
func wrapper(event string) string {
	switch event {
	case EventPopup:
		return "SubscribeMsgPopupEvent"
	case EventChange:
		return "SubscribeMsgChangeEvent"
	case EventSent:
		return "SubscribeMsgSentEvent"
	}
	return ""
}

// ParseEvent parses a plaintext push body in XML or JSON and reports which
// format it was in. Every message yields its header; the three subscription
// events also yield their items and must carry at least one, each with a
// TemplateId. Numbers may be written as numbers or as strings.
func ParseEvent(body []byte) (Event, Format, error) {
	f, err := sniff(body)
	if err != nil {
		return Event{}, "", err
	}
	var ev Event
	if f == XML {
		ev, err = parseXMLEvent(body)
	} else {
		ev, err = parseJSONEvent(body)
	}
	if err != nil {
		return Event{}, f, err
	}
	if err := ev.check(); err != nil {
		return Event{}, f, err
	}
	return ev, f, nil
}

func (ev *Event) check() error {
	switch {
	case ev.ToUserName == "":
		return errors.New("wxpush: event has no ToUserName")
	case ev.FromUserName == "":
		return errors.New("wxpush: event has no FromUserName")
	case ev.CreateTime <= 0:
		return errors.New("wxpush: event has no valid CreateTime")
	case ev.MsgType == "":
		return errors.New("wxpush: event has no MsgType")
	case ev.MsgType == "event" && ev.Event == "":
		return errors.New("wxpush: event has MsgType event but no Event")
	}
	if wrapper(ev.Event) == "" {
		return nil
	}
	if len(ev.Items) == 0 {
		return fmt.Errorf("wxpush: %s has no List items", ev.Event)
	}
	for i, it := range ev.Items {
		if it.TemplateID == "" {
			return fmt.Errorf("wxpush: %s List item %d has no TemplateId", ev.Event, i)
		}
	}
	return nil
}

// rawItem is a List item as text, read from XML or JSON; item parses it.
type rawItem struct {
	TemplateID  string `xml:"TemplateId"`
	Status      string `xml:"SubscribeStatusString"`
	PopupScene  string
	MsgID       string
	ErrorCode   string
	ErrorStatus string
}

func parseXMLEvent(body []byte) (Event, error) {
	var x struct {
		XMLName      xml.Name
		ToUserName   string
		FromUserName string
		CreateTime   string
		MsgType      string
		Event        string
		Popup        []rawItem `xml:"SubscribeMsgPopupEvent>List"`
		Change       []rawItem `xml:"SubscribeMsgChangeEvent>List"`
		Sent         []rawItem `xml:"SubscribeMsgSentEvent>List"`
	}
	if err := decodeXML(body, &x); err != nil {
		return Event{}, err
	}
	if err := checkRoot(x.XMLName); err != nil {
		return Event{}, err
	}
	ev := Event{
		ToUserName:   strings.TrimSpace(x.ToUserName),
		FromUserName: strings.TrimSpace(x.FromUserName),
		MsgType:      strings.TrimSpace(x.MsgType),
		Event:        strings.TrimSpace(x.Event),
	}
	var err error
	if ev.CreateTime, err = parseInt("CreateTime", x.CreateTime); err != nil {
		return Event{}, err
	}
	var list []rawItem
	if wrapper(ev.Event) != "" {
		list = pickList(ev.Event, x.Popup, x.Change, x.Sent)
	}
	for _, xi := range list {
		it, err := xi.item()
		if err != nil {
			return Event{}, err
		}
		ev.Items = append(ev.Items, it)
	}
	return ev, nil
}

// pickList returns the List items of a subscription event: those under the
// event's own wrapper, or else those under another subscription wrapper.
// The items belong to the event named by the Event field, whatever wraps
// them: WeChat's own sample of subscribe_msg_change_event wraps its items
// in <SubscribeMsgPopupEvent>
// (https://developers.weixin.qq.com/doc/service/guide/product/subscription_messages/push.html),
// which developers report as a documentation mistake, and what production
// sends is not known, so every wrapper is read.
func pickList[T any](event string, popup, change, sent []T) []T {
	own := map[string][]T{EventPopup: popup, EventChange: change, EventSent: sent}[event]
	if len(own) > 0 {
		return own
	}
	for _, l := range [][]T{popup, change, sent} {
		if len(l) > 0 {
			return l
		}
	}
	return nil
}

// parseInt parses a decimal integer field; an empty field is 0. The value
// itself stays out of the error, since it comes from the request.
func parseInt(field, s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("wxpush: %s is not an integer", field)
	}
	return n, nil
}

// item converts the raw text of a List item.
func (xi rawItem) item() (Item, error) {
	it := Item{
		TemplateID:  strings.TrimSpace(xi.TemplateID),
		Status:      strings.TrimSpace(xi.Status),
		MsgID:       strings.TrimSpace(xi.MsgID),
		ErrorStatus: strings.TrimSpace(xi.ErrorStatus),
	}
	var err error
	if it.PopupScene, err = parseInt32("PopupScene", xi.PopupScene); err != nil {
		return Item{}, err
	}
	if it.ErrorCode, err = parseInt32("ErrorCode", xi.ErrorCode); err != nil {
		return Item{}, err
	}
	return it, nil
}

// parseInt32 is parseInt for fields kept within int32, so that they mean the
// same on every platform.
func parseInt32(field, s string) (int, error) {
	n, err := parseInt(field, s)
	if err == nil && int64(int32(n)) != n {
		err = fmt.Errorf("wxpush: %s is out of range", field)
	}
	return int(n), err
}

// jsonText is a JSON string, or a number kept as its literal text.
type jsonText string

func (t *jsonText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = jsonText(s)
		return nil
	case len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9'):
		*t = jsonText(b)
		return nil
	}
	return errors.New("want a string or a number")
}

// jsonItems is a List: an array of items, or a single item object.
type jsonItems []jsonItem

func (l *jsonItems) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		return nil
	case len(b) > 0 && b[0] == '{':
		var it jsonItem
		if err := json.Unmarshal(b, &it); err != nil {
			return err
		}
		*l = jsonItems{it}
		return nil
	}
	var items []jsonItem
	if err := json.Unmarshal(b, &items); err != nil {
		return err
	}
	*l = items
	return nil
}

// jsonWrapper is the value under a wrapper key such as
// "SubscribeMsgPopupEvent": {"List": …}, or the items directly.
type jsonWrapper jsonItems

func (w *jsonWrapper) UnmarshalJSON(b []byte) error {
	var obj struct {
		List *jsonItems
	}
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &obj); err != nil {
			return err
		}
		if obj.List != nil {
			*w = jsonWrapper(*obj.List)
			return nil
		}
	}
	return (*jsonItems)(w).UnmarshalJSON(b)
}

type jsonItem struct {
	TemplateID  jsonText `json:"TemplateId"`
	Status      jsonText `json:"SubscribeStatusString"`
	PopupScene  jsonText
	MsgID       jsonText
	ErrorCode   jsonText
	ErrorStatus jsonText
}

func parseJSONEvent(body []byte) (Event, error) {
	var j struct {
		ToUserName   string
		FromUserName string
		CreateTime   jsonText
		MsgType      string
		Event        string
		List         jsonItems
		Popup        jsonWrapper `json:"SubscribeMsgPopupEvent"`
		Change       jsonWrapper `json:"SubscribeMsgChangeEvent"`
		Sent         jsonWrapper `json:"SubscribeMsgSentEvent"`
	}
	if err := decodeJSON(body, &j); err != nil {
		return Event{}, err
	}
	ev := Event{
		ToUserName:   strings.TrimSpace(j.ToUserName),
		FromUserName: strings.TrimSpace(j.FromUserName),
		MsgType:      strings.TrimSpace(j.MsgType),
		Event:        strings.TrimSpace(j.Event),
	}
	var err error
	if ev.CreateTime, err = parseInt("CreateTime", string(j.CreateTime)); err != nil {
		return Event{}, err
	}
	list := j.List // WeChat's documented shape: a top-level List
	if len(list) == 0 {
		list = pickList(ev.Event, jsonItems(j.Popup), jsonItems(j.Change), jsonItems(j.Sent))
	}
	if wrapper(ev.Event) == "" {
		list = nil
	}
	for _, ji := range list {
		xi := rawItem{
			TemplateID:  string(ji.TemplateID),
			Status:      string(ji.Status),
			PopupScene:  string(ji.PopupScene),
			MsgID:       string(ji.MsgID),
			ErrorCode:   string(ji.ErrorCode),
			ErrorStatus: string(ji.ErrorStatus),
		}
		it, err := xi.item()
		if err != nil {
			return Event{}, err
		}
		ev.Items = append(ev.Items, it)
	}
	return ev, nil
}
