package wxpush

import (
	"encoding/xml"
	"fmt"
	"strconv"
)

// EncodeEvent writes ev in format f the way WeChat pushes it. In XML, strings
// are CDATA and the items of a subscription event are <List> elements inside
// the event's wrapper (<SubscribeMsgPopupEvent>, <SubscribeMsgChangeEvent>,
// <SubscribeMsgSentEvent>). In JSON, as real pushes come: CreateTime is a
// number, and the items are a top-level "List" that is an object when there
// is one item and an array when there are more (developers report both
// shapes; silenceper/wechat's miniprogram/message and WxJava's WxMaMessage
// read either); the items' own numbers are strings, as in WeChat's examples
// (https://developers.weixin.qq.com/doc/service/guide/product/subscription_messages/push.html).
// Each item carries the
// fields its event defines, plus any other field that is set. Items on an
// event that has none are an error.
func EncodeEvent(ev Event, f Format) ([]byte, error) {
	wrap := wrapper(ev.Event)
	if wrap == "" && len(ev.Items) > 0 {
		return nil, fmt.Errorf("wxpush: event %q has no List items, but %d were given", ev.Event, len(ev.Items))
	}
	switch f {
	case XML:
		if err := xmlSafeEvent(ev); err != nil {
			return nil, err
		}
		x := xmlOutEvent{
			ToUserName:   cdata{ev.ToUserName},
			FromUserName: cdata{ev.FromUserName},
			CreateTime:   ev.CreateTime,
			MsgType:      cdata{ev.MsgType},
			Event:        cdata{ev.Event},
		}
		if wrap != "" {
			x.Wrapper = &xmlOutWrapper{XMLName: xml.Name{Local: wrap}}
			for _, it := range ev.Items {
				x.Wrapper.List = append(x.Wrapper.List, xmlOutItemFor(ev.Event, it))
			}
		}
		return encode(x, f)
	case JSON:
		j := jsonOutEvent{
			ToUserName:   ev.ToUserName,
			FromUserName: ev.FromUserName,
			CreateTime:   ev.CreateTime,
			MsgType:      ev.MsgType,
			Event:        ev.Event,
		}
		if wrap != "" {
			list := []jsonOutItem{}
			for _, it := range ev.Items {
				list = append(list, jsonOutItemFor(ev.Event, it))
			}
			j.List = list
			if len(list) == 1 {
				j.List = list[0]
			}
		}
		return encode(j, f)
	}
	return nil, fmt.Errorf("wxpush: unknown format %q", f)
}

type xmlOutEvent struct {
	XMLName      xml.Name `xml:"xml"`
	ToUserName   cdata
	FromUserName cdata
	CreateTime   int64
	MsgType      cdata
	Event        cdata
	Wrapper      *xmlOutWrapper
}

type xmlOutWrapper struct {
	XMLName xml.Name
	List    []xmlOutItem
}

type xmlOutItem struct {
	TemplateID  cdata   `xml:"TemplateId"`
	Status      *cdata  `xml:"SubscribeStatusString,omitempty"`
	PopupScene  *int    `xml:",omitempty"`
	MsgID       *string `xml:",omitempty"`
	ErrorCode   *int    `xml:",omitempty"`
	ErrorStatus *cdata  `xml:",omitempty"`
}

type jsonOutEvent struct {
	ToUserName   string
	FromUserName string
	CreateTime   int64
	MsgType      string
	Event        string
	List         any `json:",omitempty"` // one jsonOutItem, or []jsonOutItem

}

type jsonOutItem struct {
	TemplateID  string  `json:"TemplateId"`
	Status      *string `json:"SubscribeStatusString,omitempty"`
	PopupScene  *string `json:",omitempty"`
	MsgID       *string `json:",omitempty"`
	ErrorCode   *string `json:",omitempty"`
	ErrorStatus *string `json:",omitempty"`
}

// itemFields says which fields an item of event carries: those the event
// defines, and any other that is set.
func itemFields(event string, it Item) (status, scene, msgID, code, errStatus bool) {
	popup, change, sent := event == EventPopup, event == EventChange, event == EventSent
	return popup || change || it.Status != "",
		popup || it.PopupScene != 0,
		sent || it.MsgID != "",
		sent || it.ErrorCode != 0,
		sent || it.ErrorStatus != ""
}

func xmlOutItemFor(event string, it Item) xmlOutItem {
	status, scene, msgID, code, errStatus := itemFields(event, it)
	x := xmlOutItem{TemplateID: cdata{it.TemplateID}}
	if status {
		x.Status = &cdata{it.Status}
	}
	if scene {
		x.PopupScene = &it.PopupScene
	}
	if msgID {
		x.MsgID = &it.MsgID
	}
	if code {
		x.ErrorCode = &it.ErrorCode
	}
	if errStatus {
		x.ErrorStatus = &cdata{it.ErrorStatus}
	}
	return x
}

func jsonOutItemFor(event string, it Item) jsonOutItem {
	status, scene, msgID, code, errStatus := itemFields(event, it)
	j := jsonOutItem{TemplateID: it.TemplateID}
	if status {
		j.Status = &it.Status
	}
	if scene {
		s := strconv.Itoa(it.PopupScene)
		j.PopupScene = &s
	}
	if msgID {
		j.MsgID = &it.MsgID
	}
	if code {
		s := strconv.Itoa(it.ErrorCode)
		j.ErrorCode = &s
	}
	if errStatus {
		j.ErrorStatus = &it.ErrorStatus
	}
	return j
}

// xmlSafeEvent checks that every string of ev can be written in XML.
func xmlSafeEvent(ev Event) error {
	if err := xmlText([2]string{"ToUserName", ev.ToUserName}, [2]string{"FromUserName", ev.FromUserName},
		[2]string{"MsgType", ev.MsgType}, [2]string{"Event", ev.Event}); err != nil {
		return err
	}
	for _, it := range ev.Items {
		if err := xmlText([2]string{"TemplateId", it.TemplateID}, [2]string{"SubscribeStatusString", it.Status},
			[2]string{"MsgID", it.MsgID}, [2]string{"ErrorStatus", it.ErrorStatus}); err != nil {
			return err
		}
	}
	return nil
}
