package keyword_test

import (
	"strings"
	"testing"

	"github.com/wxsub/wxsub/shared/keyword"
)

type valueCase struct {
	value string
	rule  string // "" when the value is valid
}

// checkCases runs Check for key on every case and compares the rule.
func checkCases(t *testing.T, key string, enum []string, cases []valueCase) {
	t.Helper()
	for _, c := range cases {
		p := keyword.Check(key, c.value, enum)
		switch {
		case c.rule == "" && p != nil:
			t.Errorf("%s=%q: rejected (%s: %s), want accepted", key, c.value, p.Rule, p.Message)
		case c.rule != "" && p == nil:
			t.Errorf("%s=%q: accepted, want %s", key, c.value, c.rule)
		case p != nil && p.Rule != c.rule:
			t.Errorf("%s=%q: rule %s (%s), want %s", key, c.value, p.Rule, p.Message, c.rule)
		case p != nil && (p.Key != key || !strings.HasPrefix(p.Message, key+" ")):
			t.Errorf("%s=%q: problem %+v does not name the key", key, c.value, p)
		}
	}
}

var (
	r = strings.Repeat
	// every type rejects an empty value and invalid UTF-8
	common = []valueCase{{"", "empty"}, {"\xff\xfe", "format"}}
)

func TestThing(t *testing.T) {
	checkCases(t, "thing1", nil, append([]valueCase{
		{"订单已发货", ""},
		{"Order #123 已发货!", ""},
		{r("字", 20), ""},
		{r("字", 21), "too_long"},
		{r("a", 20), ""},
		{r("a", 21), "too_long"},
		{r("a", 19) + "字", ""},
		{r("a", 20) + "字", "too_long"},
		{r("😀", 20), ""},
		{r("😀", 21), "too_long"},
		{" ", ""},
		{"line\nbreak", "format"},
		{"tab\there", "format"},
		{"a\u2028b", "format"},
		{"nul\x00", "format"},
	}, common...))
}

func TestNumber(t *testing.T) {
	checkCases(t, "number2", nil, append([]valueCase{
		{"0", ""},
		{"12", ""},
		{"3.5", ""},
		{"007", ""},
		{r("9", 32), ""},
		{r("9", 33), "too_long"},
		{r("9", 30) + ".5", ""},
		{r("9", 31) + ".5", "too_long"},
		{"1.5.2", "format"},
		{"-1", "format"},
		{"+1", "format"},
		{"1.", "format"},
		{".5", "format"},
		{"1,000", "format"},
		{"1e5", "format"},
		{" 12", "format"},
		{"１２", "format"},
		{"十二", "format"},
	}, common...))
}

func TestLetter(t *testing.T) {
	checkCases(t, "letter3", nil, append([]valueCase{
		{"abcXYZ", ""},
		{r("Z", 32), ""},
		{r("Z", 33), "too_long"},
		{"abc1", "format"},
		{"abc def", "format"},
		{"café", "format"},
		{"中", "format"},
		{"a-b", "format"},
	}, common...))
}

func TestSymbol(t *testing.T) {
	checkCases(t, "symbol4", nil, append([]valueCase{
		{"%", ""},
		{"!@#$%", ""},
		{"，。、", ""},
		{"¥·—", ""},
		{r("~", 5), ""},
		{r("~", 6), "too_long"},
		{r("，", 6), "too_long"},
		{"a%", "format"},
		{"1", "format"},
		{"% %", "format"},
		{"中", "format"},
		{"\n", "format"},
	}, common...))
}

func TestCharacterString(t *testing.T) {
	checkCases(t, "character_string13", nil, append([]valueCase{
		{"ORD-2024/001_A", ""},
		{"a1!", ""},
		{r("x", 32), ""},
		{r("x", 33), "too_long"},
		{r("x", 31) + "中", "format"},
		{r("x", 32) + "中", "too_long"},
		{"订单1", "format"},
		{"AB 12", "format"},
		{"ab\tc", "format"},
	}, common...))
}

func TestTime(t *testing.T) {
	checkCases(t, "time5", nil, append([]valueCase{
		{"15:01", ""},
		{"9:05", ""},
		{"00:00", ""},
		{"23:59:59", ""},
		{"2019年10月1日 15:01", ""},
		{"2019年10月1日15:01", ""},
		{"2019-10-01 15:01", ""},
		{"2019/10/01 15:01:30", ""},
		{"2019.10.01 15:01", ""},
		{"10月1日 15:01", ""},
		{"10-01 15:01", ""},
		{"15:01~16:00", ""},
		{"15:01 ~ 16:00", ""},
		{"2019-10-01 15:01~2019-10-02 09:00", ""},
		{"2019年10月1日 15:01~2019年10月1日 17:00", ""},

		{"15", "format"},
		{"15:1", "format"},
		{"15:01:1", "format"},
		{"15:01:02:03", "format"},
		{"1501", "format"},
		{"3pm", "format"},
		{"2019-10-01", "format"},
		{"2019年10月1日", "format"},
		{"2019-10 15:01", "format"},
		{"2019年10月 15:01", "format"},
		{"15:01~", "format"},
		{"~15:01", "format"},
		{"15:01~16:00~17:00", "format"},
		{"2019-10-01  15:01", "format"},
		{" 15:01", "format"},
		{"15:01 ", "format"},
		{"15：01", "format"},
		{"2019-10/01 15:01", "format"},
		{"2019-10-01T15:01", "format"},
		{"13.5", "format"},

		{"24:00", "format"},
		{"12:60", "format"},
		{"12:00:60", "format"},
		{"2019-13-01 15:01", "format"},
		{"2019-10-32 15:01", "format"},
		{"15:01~25:00", "format"},
	}, common...))

	// A field out of range is named in the message.
	for value, want := range map[string]string{
		"24:00":            "time5 has hour 24, which must be from 0 to 23",
		"2019-13-01 15:01": "time5 has month 13, which must be from 1 to 12",
		"10月32日 8:00":      "time5 has day 32, which must be from 1 to 31",
	} {
		if p := keyword.Check("time5", value, nil); p == nil || p.Message != want {
			t.Errorf("Check(time5, %q) = %+v, want message %q", value, p, want)
		}
	}
}

func TestDate(t *testing.T) {
	checkCases(t, "date6", nil, append([]valueCase{
		{"2019年10月1日", ""},
		{"2019年10月", ""},
		{"10月1日", ""},
		{"2018-01-01", ""},
		{"2018/01/01", ""},
		{"2018.01.01", ""},
		{"2018-01", ""},
		{"01-01", ""},
		{"1-1", ""},
		{"12/31", ""},
		{"2019年10月1日 15:01", ""},
		{"2019年10月1日15:01", ""},
		{"2019-10-01 15:01:30", ""},
		{"2019-10-01~2019-10-07", ""},
		{"2019年10月1日 ~ 2019年10月7日", ""},
		{"2019-10-01 08:00~2019-10-01 18:00", ""},

		{"2019", "format"},
		{"2019年", "format"},
		{"2019年10", "format"},
		{"19年10月1日", "format"},
		{"10月1", "format"},
		{"10月", "format"},
		{"2019-1-1-1", "format"},
		{"2019-10/01", "format"},
		{"2019--01", "format"},
		{"201-10-01", "format"},
		{"Oct 1", "format"},
		{"15:01", "format"},
		{"2019-10-01 15", "format"},
		{"2019-10 15:01", "format"},
		{"2019-10-01T15:01", "format"},
		{"2019-10-01~", "format"},
		{"2019-10-01 ", "format"},

		{"2019-13-01", "format"},
		{"2019-00-01", "format"},
		{"2019-10-32", "format"},
		{"2019-10-00", "format"},
		{"13月1日", "format"},
		{"2019年10月32日", "format"},
		{"13-01", "format"},
		{"2019-10-01 24:00", "format"},
	}, common...))

	if p := keyword.Check("date6", "2019-13-01", nil); p == nil || p.Message != "date6 has month 13, which must be from 1 to 12" {
		t.Errorf("Check(date6, 2019-13-01) = %+v, want the month named", p)
	}
}

func TestAmount(t *testing.T) {
	checkCases(t, "amount7", nil, append([]valueCase{
		{"¥100", ""},
		{"￥100", ""},
		{"$9.99", ""},
		{"€0.5", ""},
		{"£1234567890", ""},
		{"¥1234567890.12", ""},
		{"¥100元", ""},
		{"￥8.50元", ""},
		{"¥1.234", ""},  // WeChat names no number of decimals
		{"$0.0001", ""}, // nor does it cap them
		{"¥1234567890.999", ""},

		{"100元", "format"}, // WeChat refuses a bare amount: one currency symbol is required
		{"0.5元", "format"},

		{"100", "format"},
		{"9.99", "format"},
		{"¥", "format"},
		{"元", "format"},
		{"¥元", "format"},
		{"¥¥100", "format"},
		{"¥12345678901", "format"},
		{"¥1.", "format"},
		{"¥.5", "format"},
		{"¥1,000", "format"},
		{"-¥5", "format"},
		{"¥-5", "format"},
		{"¥ 100", "format"},
		{"100 元", "format"},
		{"USD100", "format"},
		{"¥100元元", "format"},
		{"100¥", "format"},
	}, common...))
}

func TestPhoneNumber(t *testing.T) {
	checkCases(t, "phone_number8", nil, append([]valueCase{
		{"13800138000", ""},
		{"+86-0766-66888866", ""}, // 17 characters
		{"(0766) 6688 8866", ""},
		{"138****5678", ""},       // masked: * is a symbol
		{"0755-12345678#801", ""}, // an extension
		{"1234#5", ""},
		{"+86-0766-668888661", "too_long"},
		{"138-abc", "format"},
		{"电话13800", "format"},
		{"+-()", "format"},
		{"****", "format"},
		{"１３８", "format"},
	}, common...))
}

func TestCarNumber(t *testing.T) {
	checkCases(t, "car_number9", nil, append([]valueCase{
		{"粤A8Z888挂", ""}, // 8 characters
		{"京A12345", ""},
		{"粤AD12345", ""},
		{"A12345", ""},
		{"WJ1234", ""},
		{"粤A8Z888挂X", "too_long"},
		{"京A1中345", "format"},
		{"粤A-12345", "format"},
		{"粤A 12345", "format"},
		{"粤挂", "format"},
		{"粤", "format"},
	}, common...))
}

func TestName(t *testing.T) {
	checkCases(t, "name10", nil, append([]valueCase{
		{"张三", ""},
		{"欧阳·娜娜", ""},
		{"John Smith", ""},
		{"O'Brien", ""},
		{"José", ""},
		{"Jose\u0301", ""},
		{"张三Tom", ""},
		{r("张", 10), ""},
		{r("张", 11), "too_long"},
		{"张" + r("a", 9), ""},
		{"张" + r("a", 10), "too_long"},
		{"张" + r("a", 19), "too_long"},
		{r("a", 20), ""},
		{r("a", 21), "too_long"},
		{"Tom2", "format"},
		{"Agent 007", "format"},
		{"  ", "format"},
		{"·", "format"},
		{"张\n三", "format"},
	}, common...))

	p := keyword.Check("name10", "张"+r("a", 19), nil)
	if want := "name10 must be at most 10 characters when it contains Chinese (got 20)"; p == nil || p.Message != want {
		t.Errorf("Check(name10, 20 with Chinese) = %+v, want message %q", p, want)
	}
}

func TestPhrase(t *testing.T) {
	checkCases(t, "phrase11", nil, append([]valueCase{
		{"配送中", ""},
		{"已", ""},
		{r("中", 5), ""},
		{r("中", 6), "too_long"},
		{"配送a", "format"},
		{"配送 中", "format"},
		{"OK", "format"},
		{"配送！", "format"},
	}, common...))
}

func TestEnum(t *testing.T) {
	checkCases(t, "enum_string12", []string{"待支付", "已支付"}, append([]valueCase{
		{"已支付", ""},
		{"待支付", ""},
		{"已取消", "not_in_enum"},
		{"已支付 ", "not_in_enum"},
		{r("长", 30), "not_in_enum"},
	}, common...))
	checkCases(t, "enum_string12", []string{r("长", 30)}, []valueCase{
		{r("长", 30), ""}, // the template's own value, however long
	})
	checkCases(t, "enum_string12", nil, append([]valueCase{
		{"任意值", ""},
		{r("值", 20), ""},
		{r("值", 21), "too_long"},
		{"a\nb", "format"},
	}, common...))

	p := keyword.Check("enum_string12", "x", []string{"待支付", "已支付"})
	if want := `enum_string12 must be one of the template's values: "待支付", "已支付"`; p == nil || p.Message != want {
		t.Errorf("Check(enum, not listed) = %+v, want message %q", p, want)
	}
}

func TestTooLongMessage(t *testing.T) {
	p := keyword.Check("thing1", r("a", 23), nil)
	if want := "thing1 must be at most 20 characters (got 23)"; p == nil || p.Message != want {
		t.Fatalf("Check = %+v, want message %q", p, want)
	}
}

func TestTypeOf(t *testing.T) {
	tests := []struct {
		key  string
		want keyword.Type
		ok   bool
	}{
		{"thing1", keyword.Thing, true},
		{"thing01", keyword.Thing, true},
		{"number2", keyword.Number, true},
		{"letter3", keyword.Letter, true},
		{"symbol4", keyword.Symbol, true},
		{"character_string13", keyword.CharacterString, true},
		{"time5", keyword.Time, true},
		{"date6", keyword.Date, true},
		{"amount7", keyword.Amount, true},
		{"phone_number3", keyword.PhoneNumber, true},
		{"car_number10", keyword.CarNumber, true},
		{"name11", keyword.Name, true},
		{"phrase12", keyword.Phrase, true},
		{"enum_string2", keyword.Enum, true},
		{"thing", "", false},
		{"1", "", false},
		{"", "", false},
		{"thingx1", "", false},
		{"thing1a", "", false},
		{"Thing1", "", false},
		{"enum1", "", false},
		{"string1", "", false},
		{"number_1", "", false},
		{"thing-1", "", false},
	}
	for _, tt := range tests {
		got, ok := keyword.TypeOf(tt.key)
		if got != tt.want || ok != tt.ok {
			t.Errorf("TypeOf(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.ok)
		}
	}
}

func TestMaxLen(t *testing.T) {
	want := map[keyword.Type]int{
		keyword.Thing: 20, keyword.Number: 32, keyword.Letter: 32, keyword.Symbol: 5,
		keyword.CharacterString: 32, keyword.PhoneNumber: 17, keyword.CarNumber: 8,
		keyword.Name: 20, keyword.Phrase: 5,
		keyword.Time: 0, keyword.Date: 0, keyword.Amount: 0, keyword.Enum: 0, "unknown": 0,
	}
	for typ, n := range want {
		if got := keyword.MaxLen(typ); got != n {
			t.Errorf("MaxLen(%s) = %d, want %d", typ, got, n)
		}
	}
}

func TestCheckUnknownKey(t *testing.T) {
	p := keyword.Check("remark1", "hello", nil)
	if p == nil || p.Rule != "unknown_key" || p.Key != "remark1" {
		t.Fatalf("Check(remark1) = %+v, want unknown_key", p)
	}
}
