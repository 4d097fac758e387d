package wxpush_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/wxsub/wxsub/shared/wxpush"
)

const popupXML = `<xml>
  <ToUserName><![CDATA[gh_123456789abc]]></ToUserName>
  <FromUserName><![CDATA[otFpruAK8D-E6EfStSYonYSBZ8_4]]></FromUserName>
  <CreateTime>1610969440</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
  <Event><![CDATA[subscribe_msg_popup_event]]></Event>
  <SubscribeMsgPopupEvent>
    <List>
      <TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>
      <SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString>
      <PopupScene>2</PopupScene>
    </List>
    <List>
      <TemplateId><![CDATA[9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI]]></TemplateId>
      <SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString>
      <PopupScene>2</PopupScene>
    </List>
  </SubscribeMsgPopupEvent>
</xml>`

const changeXML = `<xml>
  <ToUserName><![CDATA[gh_123456789abc]]></ToUserName>
  <FromUserName><![CDATA[otFpruAK8D-E6EfStSYonYSBZ8_4]]></FromUserName>
  <CreateTime>1610969468</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
  <Event><![CDATA[subscribe_msg_change_event]]></Event>
  <SubscribeMsgChangeEvent>
    <List>
      <TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>
      <SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString>
    </List>
  </SubscribeMsgChangeEvent>
</xml>`

const sentXML = `<xml>
  <ToUserName><![CDATA[gh_123456789abc]]></ToUserName>
  <FromUserName><![CDATA[otFpruAK8D-E6EfStSYonYSBZ8_4]]></FromUserName>
  <CreateTime>1620963428</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
  <Event><![CDATA[subscribe_msg_sent_event]]></Event>
  <SubscribeMsgSentEvent>
    <List>
      <TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>
      <MsgID>1864323726461255680</MsgID>
      <ErrorCode>0</ErrorCode>
      <ErrorStatus><![CDATA[success]]></ErrorStatus>
    </List>
  </SubscribeMsgSentEvent>
</xml>`

var (
	popupEvent = wxpush.Event{
		ToUserName: "gh_123456789abc", FromUserName: "otFpruAK8D-E6EfStSYonYSBZ8_4",
		CreateTime: 1610969440, MsgType: "event", Event: wxpush.EventPopup,
		Items: []wxpush.Item{
			{TemplateID: "VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc", Status: "accept", PopupScene: 2},
			{TemplateID: "9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI", Status: "reject", PopupScene: 2},
		},
	}
	changeEvent = wxpush.Event{
		ToUserName: "gh_123456789abc", FromUserName: "otFpruAK8D-E6EfStSYonYSBZ8_4",
		CreateTime: 1610969468, MsgType: "event", Event: wxpush.EventChange,
		Items: []wxpush.Item{{TemplateID: "VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc", Status: "reject"}},
	}
	sentEvent = wxpush.Event{
		ToUserName: "gh_123456789abc", FromUserName: "otFpruAK8D-E6EfStSYonYSBZ8_4",
		CreateTime: 1620963428, MsgType: "event", Event: wxpush.EventSent,
		Items: []wxpush.Item{{TemplateID: "VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc", MsgID: "1864323726461255680", ErrorStatus: "success"}},
	}
)

// withStatus returns ev with item i's status replaced.
func withStatus(ev wxpush.Event, i int, status string) wxpush.Event {
	ev.Items = append([]wxpush.Item(nil), ev.Items...)
	ev.Items[i].Status = status
	return ev
}

func TestParseEvent(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		want   wxpush.Event
		format wxpush.Format
	}{
		{"XML popup, two List elements", popupXML, popupEvent, wxpush.XML},
		{"XML change", changeXML, changeEvent, wxpush.XML},
		{"XML sent", sentXML, sentEvent, wxpush.XML},
		{"XML without CDATA, leading BOM and blank lines", "\ufeff\n\n" + strings.NewReplacer("<![CDATA[", "", "]]>", "").Replace(sentXML) + "\n", sentEvent, wxpush.XML},
		{"XML numbers in CDATA", strings.Replace(changeXML, "1610969468", "<![CDATA[ 1610969468 ]]>", 1), changeEvent, wxpush.XML},
		{"JSON popup, List array, numbers as strings", `{
			"ToUserName": "gh_123456789abc",
			"FromUserName": "otFpruAK8D-E6EfStSYonYSBZ8_4",
			"CreateTime": "1610969440",
			"MsgType": "event",
			"Event": "subscribe_msg_popup_event",
			"List": [
				{"TemplateId": "VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc", "SubscribeStatusString": "accept", "PopupScene": "2"},
				{"TemplateId": "9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI", "SubscribeStatusString": "reject", "PopupScene": "2"}
			]}`, popupEvent, wxpush.JSON},
		{"JSON popup, numbers as numbers", `{"ToUserName":"gh_123456789abc","FromUserName":"otFpruAK8D-E6EfStSYonYSBZ8_4","CreateTime":1610969440,"MsgType":"event","Event":"subscribe_msg_popup_event",
			"List":[{"TemplateId":"VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc","SubscribeStatusString":"accept","PopupScene":2},
			{"TemplateId":"9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI","SubscribeStatusString":"reject","PopupScene":2}]}`, popupEvent, wxpush.JSON},
		{"JSON change, List object", `{"ToUserName":"gh_123456789abc","FromUserName":"otFpruAK8D-E6EfStSYonYSBZ8_4","CreateTime":"1610969468","MsgType":"event","Event":"subscribe_msg_change_event",
			"List":{"TemplateId":"VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc","SubscribeStatusString":"reject"}}`, changeEvent, wxpush.JSON},
		{"JSON sent, List object, MsgID a big number", `{"ToUserName":"gh_123456789abc","FromUserName":"otFpruAK8D-E6EfStSYonYSBZ8_4","CreateTime":1620963428,"MsgType":"event","Event":"subscribe_msg_sent_event",
			"List":{"TemplateId":"VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc","MsgID":1864323726461255680,"ErrorCode":0,"ErrorStatus":"success"}}`, sentEvent, wxpush.JSON},
		{"JSON sent, MsgID and ErrorCode strings", `{"ToUserName":"gh_123456789abc","FromUserName":"otFpruAK8D-E6EfStSYonYSBZ8_4","CreateTime":"1620963428","MsgType":"event","Event":"subscribe_msg_sent_event",
			"List":[{"TemplateId":"VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc","MsgID":"1864323726461255680","ErrorCode":"0","ErrorStatus":"success"}]}`, sentEvent, wxpush.JSON},
		{"JSON wrapper key holding List", `{"ToUserName":"gh_123456789abc","FromUserName":"otFpruAK8D-E6EfStSYonYSBZ8_4","CreateTime":"1610969468","MsgType":"event","Event":"subscribe_msg_change_event",
			"SubscribeMsgChangeEvent":{"List":{"TemplateId":"VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc","SubscribeStatusString":"reject"}}}`, changeEvent, wxpush.JSON},
		{"JSON wrapper key holding the array", `{"ToUserName":"gh_123456789abc","FromUserName":"otFpruAK8D-E6EfStSYonYSBZ8_4","CreateTime":"1610969440","MsgType":"event","Event":"subscribe_msg_popup_event",
			"SubscribeMsgPopupEvent":[{"TemplateId":"VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc","SubscribeStatusString":"accept","PopupScene":"2"},
			{"TemplateId":"9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI","SubscribeStatusString":"reject","PopupScene":"2"}]}`, popupEvent, wxpush.JSON},
		{"JSON sent, failure", `{"ToUserName":"gh_1","FromUserName":"o1","CreateTime":"1","MsgType":"event","Event":"subscribe_msg_sent_event",
			"List":{"TemplateId":"T","MsgID":"7","ErrorCode":"10005","ErrorStatus":"failed:user block"}}`,
			wxpush.Event{ToUserName: "gh_1", FromUserName: "o1", CreateTime: 1, MsgType: "event", Event: wxpush.EventSent,
				Items: []wxpush.Item{{TemplateID: "T", MsgID: "7", ErrorCode: 10005, ErrorStatus: "failed:user block"}}}, wxpush.JSON},
		{"XML change under SubscribeMsgPopupEvent, as WeChat's own sample has it",
			strings.ReplaceAll(changeXML, "SubscribeMsgChangeEvent", "SubscribeMsgPopupEvent"), changeEvent, wxpush.XML},
		{"XML change under SubscribeMsgSentEvent", strings.ReplaceAll(changeXML, "SubscribeMsgChangeEvent", "SubscribeMsgSentEvent"), changeEvent, wxpush.XML},
		{"JSON change under SubscribeMsgPopupEvent", `{"ToUserName":"gh_123456789abc","FromUserName":"otFpruAK8D-E6EfStSYonYSBZ8_4","CreateTime":1610969468,"MsgType":"event","Event":"subscribe_msg_change_event",
			"SubscribeMsgPopupEvent":{"List":{"TemplateId":"VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc","SubscribeStatusString":"reject"}}}`, changeEvent, wxpush.JSON},
		{"XML popup with an accept variant", strings.Replace(popupXML, "[accept]", "[acceptWithAudio]", 1),
			withStatus(popupEvent, 0, "acceptWithAudio"), wxpush.XML},
		{"XML other event, header only", `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName>
			<CreateTime>1620000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[user_enter_tempsession]]></Event>
			<SessionFrom><![CDATA[sessionFrom]]></SessionFrom></xml>`,
			wxpush.Event{ToUserName: "gh_1", FromUserName: "o1", CreateTime: 1620000000, MsgType: "event", Event: "user_enter_tempsession"}, wxpush.XML},
		{"JSON other event, header only", `{"ToUserName":"gh_1","FromUserName":"o1","CreateTime":1620000000,"MsgType":"event","Event":"user_enter_tempsession","SessionFrom":"x","List":[{"TemplateId":"ignored"}]}`,
			wxpush.Event{ToUserName: "gh_1", FromUserName: "o1", CreateTime: 1620000000, MsgType: "event", Event: "user_enter_tempsession"}, wxpush.JSON},
		{"JSON text message", `{"ToUserName":"gh_1","FromUserName":"o1","CreateTime":1620000000,"MsgType":"text","Content":"hi","MsgId":1}`,
			wxpush.Event{ToUserName: "gh_1", FromUserName: "o1", CreateTime: 1620000000, MsgType: "text"}, wxpush.JSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, f, err := wxpush.ParseEvent([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseEvent: %v", err)
			}
			if f != tt.format {
				t.Errorf("format = %q, want %q", f, tt.format)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseEvent =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestParseEventRejects(t *testing.T) {
	header := `"ToUserName":"gh_1","FromUserName":"o1","CreateTime":"1620000000","MsgType":"event"`
	tests := []struct{ name, body, want string }{
		{"empty", "", "empty body"},
		{"blank", " \n\t", "empty body"},
		{"not XML or JSON", "hello", "neither XML nor"},
		{"JSON array", `[{"ToUserName":"gh_1"}]`, "neither XML nor"},
		{"truncated JSON", `{"ToUserName":"gh_1",`, "decode JSON"},
		{"JSON with trailing data", `{` + header + `,"Event":"x"} {}`, "decode JSON"},
		{"truncated XML", popupXML[:200], "decode XML"},
		{"XML with a second root", changeXML + "<xml></xml>", "more than one root"},
		{"XML with trailing text", changeXML + "junk", "text after the root"},
		{"XML root not xml", strings.ReplaceAll(changeXML, "xml>", "root>"), "want <xml>"},
		{"XML with unknown entity", `<xml><ToUserName>&foo;</ToUserName></xml>`, "decode XML"},
		{"missing ToUserName", `{"FromUserName":"o1","CreateTime":1,"MsgType":"text"}`, "no ToUserName"},
		{"missing FromUserName", `{"ToUserName":"gh_1","CreateTime":1,"MsgType":"text"}`, "no FromUserName"},
		{"missing CreateTime", `{"ToUserName":"gh_1","FromUserName":"o1","MsgType":"text"}`, "no valid CreateTime"},
		{"negative CreateTime", `{"ToUserName":"gh_1","FromUserName":"o1","CreateTime":-5,"MsgType":"text"}`, "no valid CreateTime"},
		{"CreateTime not a number", `{"ToUserName":"gh_1","FromUserName":"o1","CreateTime":"soon","MsgType":"text"}`, "CreateTime is not an integer"},
		{"CreateTime a fraction", `{"ToUserName":"gh_1","FromUserName":"o1","CreateTime":1.5,"MsgType":"text"}`, "CreateTime is not an integer"},
		{"CreateTime a bool", `{"ToUserName":"gh_1","FromUserName":"o1","CreateTime":true,"MsgType":"text"}`, "string or a number"},
		{"missing MsgType", `{"ToUserName":"gh_1","FromUserName":"o1","CreateTime":1}`, "no MsgType"},
		{"event without Event", `{` + header + `}`, "no Event"},
		{"popup without List", `{` + header + `,"Event":"subscribe_msg_popup_event"}`, "no List items"},
		{"popup with empty List", `{` + header + `,"Event":"subscribe_msg_popup_event","List":[]}`, "no List items"},
		{"item without TemplateId", `{` + header + `,"Event":"subscribe_msg_change_event","List":{"SubscribeStatusString":"reject"}}`, "no TemplateId"},
		{"PopupScene not a number", `{` + header + `,"Event":"subscribe_msg_popup_event","List":{"TemplateId":"T","PopupScene":"x"}}`, "PopupScene is not an integer"},
		{"ErrorCode out of range", `{` + header + `,"Event":"subscribe_msg_sent_event","List":{"TemplateId":"T","ErrorCode":99999999999}}`, "ErrorCode is out of range"},
		{"List of strings", `{` + header + `,"Event":"subscribe_msg_sent_event","List":["T"]}`, "decode JSON"},
		{"XML ErrorCode not a number", strings.Replace(sentXML, "<ErrorCode>0<", "<ErrorCode>zero<", 1), "ErrorCode is not an integer"},
	}
	for _, tt := range tests {
		_, _, err := wxpush.ParseEvent([]byte(tt.body))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ParseEvent error = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestEventDeeplyNested(t *testing.T) {
	// Hostile nesting must end in an error, not a crash or a hang.
	for _, body := range []string{
		"<xml>" + strings.Repeat("<a>", 200000) + "</xml>",
		`{"List":` + strings.Repeat("[", 200000) + "}",
		`{"ToUserName":` + strings.Repeat(`{"a":`, 200000) + "}",
	} {
		if _, _, err := wxpush.ParseEvent([]byte(body)); err == nil {
			t.Errorf("ParseEvent accepted %.40q…", body)
		}
	}
}

func TestEncodeEventShapes(t *testing.T) {
	tests := []struct {
		name   string
		ev     wxpush.Event
		format wxpush.Format
		want   []string // fragments, in order
	}{
		{"XML popup", popupEvent, wxpush.XML, []string{
			"<xml><ToUserName><![CDATA[gh_123456789abc]]></ToUserName>",
			"<CreateTime>1610969440</CreateTime>",
			"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe_msg_popup_event]]></Event>",
			"<SubscribeMsgPopupEvent><List><TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>" +
				"<SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString><PopupScene>2</PopupScene></List>",
			"<List><TemplateId><![CDATA[9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI]]></TemplateId>",
			"</List></SubscribeMsgPopupEvent></xml>",
		}},
		{"XML change", changeEvent, wxpush.XML, []string{
			"<SubscribeMsgChangeEvent><List><TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>" +
				"<SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString></List></SubscribeMsgChangeEvent></xml>",
		}},
		{"XML sent", sentEvent, wxpush.XML, []string{
			"<SubscribeMsgSentEvent><List><TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>" +
				"<MsgID>1864323726461255680</MsgID><ErrorCode>0</ErrorCode><ErrorStatus><![CDATA[success]]></ErrorStatus></List></SubscribeMsgSentEvent>",
		}},
		{"JSON popup", popupEvent, wxpush.JSON, []string{
			`{"ToUserName":"gh_123456789abc","FromUserName":"otFpruAK8D-E6EfStSYonYSBZ8_4","CreateTime":1610969440,"MsgType":"event","Event":"subscribe_msg_popup_event",`,
			`"List":[{"TemplateId":"VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc","SubscribeStatusString":"accept","PopupScene":"2"},{`,
		}},
		{"JSON sent, one item: List is an object", sentEvent, wxpush.JSON, []string{
			`"CreateTime":1620963428,`,
			`"List":{"TemplateId":"VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc","MsgID":"1864323726461255680","ErrorCode":"0","ErrorStatus":"success"}}`,
		}},
		{"JSON other event has no List", wxpush.Event{ToUserName: "gh_1", FromUserName: "o1", CreateTime: 5, MsgType: "event", Event: "user_enter_tempsession"}, wxpush.JSON, []string{
			`{"ToUserName":"gh_1","FromUserName":"o1","CreateTime":5,"MsgType":"event","Event":"user_enter_tempsession"}`,
		}},
	}
	for _, tt := range tests {
		b, err := wxpush.EncodeEvent(tt.ev, tt.format)
		if err != nil {
			t.Fatalf("%s: EncodeEvent: %v", tt.name, err)
		}
		rest := string(b)
		for _, frag := range tt.want {
			i := strings.Index(rest, frag)
			if i < 0 {
				t.Errorf("%s: output lacks (in order) %s\noutput: %s", tt.name, frag, b)
				break
			}
			rest = rest[i+len(frag):]
		}
	}
}

func TestEncodeParseRoundTrip(t *testing.T) {
	odd := wxpush.Event{
		ToUserName: "gh_<&>\"'", FromUserName: "o]]>x", CreateTime: 1 << 40, MsgType: "event", Event: wxpush.EventSent,
		Items: []wxpush.Item{
			{TemplateID: "a]]>b", MsgID: "18446744073709551615999", ErrorCode: -1, ErrorStatus: "failed:system failed"},
			{TemplateID: "中文模板", Status: "accept", PopupScene: 1, MsgID: "2"}, // fields beyond the event's own survive too
		},
	}
	other := wxpush.Event{ToUserName: "gh_1", FromUserName: "o1", CreateTime: 7, MsgType: "event", Event: "user_enter_tempsession"}
	for _, ev := range []wxpush.Event{popupEvent, changeEvent, sentEvent, odd, other} {
		for _, f := range []wxpush.Format{wxpush.XML, wxpush.JSON} {
			b, err := wxpush.EncodeEvent(ev, f)
			if err != nil {
				t.Fatalf("EncodeEvent(%s, %s): %v", ev.Event, f, err)
			}
			got, gotF, err := wxpush.ParseEvent(b)
			if err != nil {
				t.Fatalf("ParseEvent(EncodeEvent(%s, %s)): %v\n%s", ev.Event, f, err, b)
			}
			if gotF != f || !reflect.DeepEqual(got, ev) {
				t.Errorf("round trip %s: got %+v (%s), want %+v", f, got, gotF, ev)
			}
		}
	}
}

func TestEncodeEventRejects(t *testing.T) {
	withItems := wxpush.Event{ToUserName: "gh_1", FromUserName: "o1", CreateTime: 1, MsgType: "event", Event: "user_enter_tempsession",
		Items: []wxpush.Item{{TemplateID: "T"}}}
	if _, err := wxpush.EncodeEvent(withItems, wxpush.XML); err == nil {
		t.Error("EncodeEvent put List items on an event that has none")
	}
	if _, err := wxpush.EncodeEvent(popupEvent, "yaml"); err == nil {
		t.Error("EncodeEvent accepted an unknown format")
	}
}

func TestEncodeEventRejectsTextXMLCannotCarry(t *testing.T) {
	ev := changeEvent
	ev.Items = []wxpush.Item{{TemplateID: "T\x00", Status: "reject"}}
	if _, err := wxpush.EncodeEvent(ev, wxpush.XML); err == nil || !strings.Contains(err.Error(), "TemplateId") {
		t.Errorf("EncodeEvent(XML) with a NUL = %v, want an error naming TemplateId", err)
	}
	if _, err := wxpush.EncodeEvent(ev, wxpush.JSON); err != nil {
		t.Errorf("EncodeEvent(JSON) with a NUL: %v", err)
	}
	if _, err := wxpush.EncodeEnvelope(wxpush.Envelope{ToUserName: "gh_\x01", Encrypt: "x"}, wxpush.XML); err == nil {
		t.Error("EncodeEnvelope(XML) wrote a control character")
	}
}
