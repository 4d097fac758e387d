package wechatsim

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/wxsub/wxsub/shared/keyword"
)

// A Template is a subscription-message template of the app, as gettemplate
// lists it.
type Template struct {
	ID       string // priTmplId
	Title    string
	Type     int // OneTime (2) or LongTerm (3)
	TID      int // id of the public-library template it was picked from
	Keywords []Keyword
}

// A Keyword is one field of a template.
type Keyword struct {
	Key     string   // e.g. "thing1"; its type is keyword.TypeOf(Key)
	Name    string   // e.g. "商品名称"
	Enum    []string // allowed values of an enum keyword
	Example string   // a valid value, shown in gettemplate's example
}

// Ids of the default templates, fixed so that documentation can name them.
const (
	TmplOrderShipped  = "RaAXmaHZ6OFYKcCbG9rsyEpBqsERIZsLLga8-KL5xqI" // 订单发货通知, one-time
	TmplAppointment   = "nSWNoq_mrqwk4Up-1XPfuiDm6x3KR-Jts6fVHAmLTkI" // 预约成功通知, one-time
	TmplParkingFee    = "P5RUhDGpR0LutFKKpjVGZ-trspnbUoIMATwH6z-PZ8c" // 停车缴费提醒, one-time
	TmplServiceReview = "DkXHcCMhEuvWvcV6ElXNnt561_sR9rJL4WoM_rY5bzw" // 服务评价提醒, one-time
	TmplClinicVisit   = "X_XQ4rf6IKFB21E03B3DxRju50g_wxnwP9nFhdTrn4g" // 就诊提醒, long-term
)

// DefaultTemplates returns a realistic template set: four one-time templates
// and one long-term template that together use every keyword type,
// including an enum with its values.
func DefaultTemplates() []Template {
	return []Template{
		{ID: TmplOrderShipped, Title: "订单发货通知", Type: OneTime, TID: 1870, Keywords: []Keyword{
			{Key: "character_string1", Name: "订单编号", Example: "SO20240518001"},
			{Key: "thing2", Name: "商品名称", Example: "无线蓝牙耳机"},
			{Key: "amount3", Name: "订单金额", Example: "¥199.00"},
			{Key: "date4", Name: "发货日期", Example: "2024年5月18日"},
			{Key: "phrase5", Name: "物流状态", Example: "已发货"},
		}},
		{ID: TmplAppointment, Title: "预约成功通知", Type: OneTime, TID: 2145, Keywords: []Keyword{
			{Key: "name1", Name: "预约人", Example: "张三"},
			{Key: "phone_number2", Name: "联系电话", Example: "+86-0755-12345678"},
			{Key: "time3", Name: "预约时间", Example: "2024年5月20日 14:30"},
			{Key: "thing4", Name: "预约门店", Example: "南山科技园店"},
			{Key: "number5", Name: "预约人数", Example: "2"},
		}},
		{ID: TmplParkingFee, Title: "停车缴费提醒", Type: OneTime, TID: 3316, Keywords: []Keyword{
			{Key: "car_number1", Name: "车牌号码", Example: "粤B12345"},
			{Key: "time2", Name: "入场时间", Example: "08:30"},
			{Key: "amount3", Name: "停车费用", Example: "¥12.50"},
			{Key: "enum_string4", Name: "缴费状态", Enum: []string{"待缴费", "已缴费", "已超时"}, Example: "待缴费"},
			{Key: "letter5", Name: "停车分区", Example: "B"},
		}},
		{ID: TmplServiceReview, Title: "服务评价提醒", Type: OneTime, TID: 5412, Keywords: []Keyword{
			{Key: "thing1", Name: "服务项目", Example: "空调清洗"},
			{Key: "symbol2", Name: "服务评分", Example: "★★★★☆"},
			{Key: "date3", Name: "服务日期", Example: "2024-05-18"},
		}},
		{ID: TmplClinicVisit, Title: "就诊提醒", Type: LongTerm, TID: 8823, Keywords: []Keyword{
			{Key: "name1", Name: "就诊人", Example: "李四"},
			{Key: "thing2", Name: "就诊科室", Example: "心血管内科"},
			{Key: "time3", Name: "就诊时间", Example: "2024年5月20日 09:00"},
			{Key: "enum_string4", Name: "就诊状态", Enum: []string{"待就诊", "已签到", "已完成", "已取消"}, Example: "待就诊"},
			{Key: "character_string5", Name: "就诊号", Example: "A0123"},
		}},
	}
}

// ExampleData returns the example value of every keyword of t, a valid
// data set for a send.
func (t Template) ExampleData() map[string]string {
	data := make(map[string]string, len(t.Keywords))
	for _, k := range t.Keywords {
		data[k.Key] = k.Example
	}
	return data
}

// Specs returns the keyword rules of t for keyword.Validate.
func (t Template) Specs() []keyword.Spec {
	specs := make([]keyword.Spec, len(t.Keywords))
	for i, k := range t.Keywords {
		specs[i] = keyword.Spec{Key: k.Key, Enum: k.Enum}
	}
	return specs
}

// content returns gettemplate's content and example texts of t.
func (t Template) content() (content, example string) {
	var c, e strings.Builder
	for _, k := range t.Keywords {
		fmt.Fprintf(&c, "%s:{{%s.DATA}}\n", k.Name, k.Key)
		fmt.Fprintf(&e, "%s:%s\n", k.Name, k.Example)
	}
	return c.String(), e.String()
}

func cloneTemplates(ts []Template) []Template {
	out := slices.Clone(ts)
	for i := range out {
		out[i].Keywords = slices.Clone(out[i].Keywords)
		for j := range out[i].Keywords {
			out[i].Keywords[j].Enum = slices.Clone(out[i].Keywords[j].Enum)
		}
	}
	return out
}

// keywordType returns the type name of a keyword key ("thing", "enum", …),
// or "" when keyword does not know it.
func keywordType(key string) string {
	if t, ok := keyword.TypeOf(key); ok {
		return fmt.Sprint(t)
	}
	return ""
}

// getTemplate serves GET /wxaapi/newtmpl/gettemplate.
func (s *Sim) getTemplate(r *http.Request, _ []byte) answer {
	if a, ok := s.checkToken(r); !ok {
		return a
	}
	type enumValues struct {
		KeywordCode   string   `json:"keywordCode"`
		EnumValueList []string `json:"enumValueList"`
	}
	type item struct {
		PriTmplID            string       `json:"priTmplId"`
		Title                string       `json:"title"`
		Content              string       `json:"content"`
		Example              string       `json:"example"`
		Type                 int          `json:"type"`
		KeywordEnumValueList []enumValues `json:"keywordEnumValueList,omitempty"`
	}
	data := make([]item, 0, len(s.cfg.Templates))
	for _, t := range s.cfg.Templates {
		content, example := t.content()
		it := item{PriTmplID: t.ID, Title: t.Title, Content: content, Example: example, Type: t.Type}
		for _, k := range t.Keywords {
			if len(k.Enum) > 0 {
				// keywordCode is written as the content writes the placeholder,
				// "enum_string2.DATA", as WeChat's gettemplate example has it
				// (https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/getMessageTemplateList.html).
				it.KeywordEnumValueList = append(it.KeywordEnumValueList, enumValues{k.Key + ".DATA", k.Enum})
			}
		}
		data = append(data, it)
	}
	return s.ok(struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
		Data    []item `json:"data"`
	}{0, "ok", data})
}

// categories are the service categories the simulated app is registered for.
var categories = []struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}{
	{307, "快递、物流"},
	{616, "公交"},
	{783, "生活服务"},
	{1023, "医疗服务"},
}

// getCategory serves GET /wxaapi/newtmpl/getcategory.
func (s *Sim) getCategory(r *http.Request, _ []byte) answer {
	if a, ok := s.checkToken(r); !ok {
		return a
	}
	return s.ok(struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
		Data    any    `json:"data"`
	}{0, "ok", categories})
}

// pubTemplateKeywords serves GET /wxaapi/newtmpl/getpubtemplatekeywords?tid=
// for the public-library templates the app's templates were picked from.
func (s *Sim) pubTemplateKeywords(r *http.Request, _ []byte) answer {
	if a, ok := s.checkToken(r); !ok {
		return a
	}
	tid, err := strconv.Atoi(r.URL.Query().Get("tid"))
	if err != nil {
		return s.fail(200014, "missing parameter tid")
	}
	i := slices.IndexFunc(s.cfg.Templates, func(t Template) bool { return t.TID == tid })
	if i < 0 {
		return s.failCode(200014)
	}
	type kw struct {
		KID     int    `json:"kid"`
		Name    string `json:"name"`
		Example string `json:"example"`
		Rule    string `json:"rule"`
	}
	t := s.cfg.Templates[i]
	data := make([]kw, len(t.Keywords))
	for j, k := range t.Keywords {
		data[j] = kw{KID: j + 1, Name: k.Name, Example: k.Example, Rule: keywordType(k.Key)}
	}
	return s.ok(struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
		Count   int    `json:"count"`
		Data    []kw   `json:"data"`
	}{0, "ok", len(data), data})
}
