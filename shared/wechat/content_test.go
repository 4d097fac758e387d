package wechat_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/wxsub/wxsub/shared/wechat"
)

func TestParseContent(t *testing.T) {
	cases := []struct {
		name    string
		content string
		want    []wechat.Keyword
	}{
		{"documented example", "会议时间:{{date2.DATA}}\n会议地点:{{thing1.DATA}}\n", []wechat.Keyword{
			{Key: "date2", Name: "会议时间", Type: "date"},
			{Key: "thing1", Name: "会议地点", Type: "thing"},
		}},
		{"CRLF", "订单号:{{character_string13.DATA}}\r\n状态:{{enum_string2.DATA}}\r\n", []wechat.Keyword{
			{Key: "character_string13", Name: "订单号", Type: "character_string"},
			{Key: "enum_string2", Name: "状态", Type: "enum"},
		}},
		{"escaped newlines", `金额:{{amount3.DATA}}\n电话:{{phone_number4.DATA}}\n`, []wechat.Keyword{
			{Key: "amount3", Name: "金额", Type: "amount"},
			{Key: "phone_number4", Name: "电话", Type: "phone_number"},
		}},
		{"no labels", "{{thing1.DATA}}{{number2.DATA}}", []wechat.Keyword{
			{Key: "thing1", Type: "thing"},
			{Key: "number2", Type: "number"},
		}},
		{"full-width colon and spaces", " 车牌号 ： {{ car_number5.DATA }}\n姓名：{{name6.DATA}}", []wechat.Keyword{
			{Key: "car_number5", Name: "车牌号", Type: "car_number"},
			{Key: "name6", Name: "姓名", Type: "name"},
		}},
		{"two on one line", "时间:{{time1.DATA}} 进度:{{phrase2.DATA}}", []wechat.Keyword{
			{Key: "time1", Name: "时间", Type: "time"},
			{Key: "phrase2", Name: "进度", Type: "phrase"},
		}},
		{"every other type", "{{letter1.DATA}}{{symbol2.DATA}}", []wechat.Keyword{
			{Key: "letter1", Type: "letter"},
			{Key: "symbol2", Type: "symbol"},
		}},
		{"repeated key listed once", "A:{{thing1.DATA}}\nB:{{thing1.DATA}}", []wechat.Keyword{
			{Key: "thing1", Name: "A", Type: "thing"},
		}},
		{"placeholder without .DATA", "备注:{{thing9}}", []wechat.Keyword{
			{Key: "thing9", Name: "备注", Type: "thing"},
		}},
		{"unclosed placeholder ignored", "A:{{thing1.DATA}}\nB:{{thing2.DATA", []wechat.Keyword{
			{Key: "thing1", Name: "A", Type: "thing"},
		}},
		{"invalid key ignored", "A:{{ .DATA}}\nB:{{th ing.DATA}}\nC:{{thing3.DATA}}", []wechat.Keyword{
			{Key: "thing3", Name: "C", Type: "thing"},
		}},
		{"plain text", "没有字段", nil},
		{"empty", "", nil},
	}
	for _, tc := range cases {
		if got := wechat.ParseContent(tc.content); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: ParseContent(%q)\n got  %+v\n want %+v", tc.name, tc.content, got, tc.want)
		}
	}
}

func TestKeyType(t *testing.T) {
	for key, want := range map[string]string{
		"thing1": "thing", "number12": "number", "character_string13": "character_string",
		"enum_string2": "enum", "time": "time", "phone_number10": "phone_number",
	} {
		if got := wechat.KeyType(key); got != want {
			t.Errorf("KeyType(%q) = %q, want %q", key, got, want)
		}
	}
}

func ExampleParseContent() {
	for _, k := range wechat.ParseContent("会议时间:{{date2.DATA}}\n会议地点:{{thing1.DATA}}\n") {
		fmt.Println(k.Key, k.Name, k.Type)
	}
	// Output:
	// date2 会议时间 date
	// thing1 会议地点 thing
}

func FuzzParseContent(f *testing.F) {
	f.Add("会议时间:{{date2.DATA}}\n会议地点:{{thing1.DATA}}\n")
	f.Add(`状态:{{enum_string2.DATA}}\r\n{{character_string13.DATA}}`)
	f.Add("{{}}{{{{x}}}}")
	f.Fuzz(func(t *testing.T, content string) {
		seen := map[string]bool{}
		for _, k := range wechat.ParseContent(content) {
			if k.Key == "" || seen[k.Key] {
				t.Fatalf("empty or repeated key %q", k.Key)
			}
			seen[k.Key] = true
			if k.Type != wechat.KeyType(k.Key) {
				t.Fatalf("key %q has type %q, want %q", k.Key, k.Type, wechat.KeyType(k.Key))
			}
			if !strings.Contains(content, k.Key) {
				t.Fatalf("key %q is not in the content", k.Key)
			}
			if strings.ContainsAny(k.Name, "\r\n") {
				t.Fatalf("name %q spans lines", k.Name)
			}
		}
	})
}
