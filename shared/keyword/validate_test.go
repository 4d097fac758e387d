package keyword_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/wxsub/wxsub/shared/keyword"
)

var orderTemplate = []keyword.Spec{
	{Key: "character_string1"},
	{Key: "thing2"},
	{Key: "amount3"},
	{Key: "date4"},
	{Key: "enum_string5", Enum: []string{"待支付", "已支付", "已发货"}},
}

func TestValidateAccepts(t *testing.T) {
	data := map[string]string{
		"character_string1": "ORD-20240501-0001",
		"thing2":            "无线耳机 Pro",
		"amount3":           "¥199.00",
		"date4":             "2024年5月1日 10:30",
		"enum_string5":      "已支付",
	}
	if got := keyword.Validate(orderTemplate, data); got != nil {
		t.Fatalf("Validate = %+v, want nil", got)
	}
}

func TestValidateReportsEveryProblemSortedByKey(t *testing.T) {
	data := map[string]string{
		"thing2":       r("很", 21),
		"amount3":      "199",
		"enum_string5": "已取消",
		"thing9":       "extra",
		"remark":       "extra",
		// character_string1 and date4 are missing
	}
	got := keyword.Validate(orderTemplate, data)
	var keys, rules []string
	for _, p := range got {
		keys = append(keys, p.Key)
		rules = append(rules, p.Rule)
		if !strings.Contains(p.Message, p.Key) {
			t.Errorf("message %q does not name %s", p.Message, p.Key)
		}
	}
	wantKeys := []string{"amount3", "character_string1", "date4", "enum_string5", "thing2"}
	wantRules := []string{"format", "missing", "missing", "not_in_enum", "too_long"}
	if !reflect.DeepEqual(keys, wantKeys) || !reflect.DeepEqual(rules, wantRules) {
		t.Fatalf("Validate keys %v rules %v\nwant keys %v rules %v", keys, rules, wantKeys, wantRules)
	}
	if extra := keyword.Extra(orderTemplate, data); !reflect.DeepEqual(extra, []string{"remark", "thing9"}) {
		t.Fatalf("Extra = %v, want [remark thing9]", extra)
	}
}

func TestExtraKeysAreNotProblems(t *testing.T) {
	data := map[string]string{
		"character_string1": "ORD-20240501-0001",
		"thing2":            "无线耳机 Pro",
		"amount3":           "¥199.00",
		"date4":             "2024年5月1日 10:30",
		"enum_string5":      "已支付",
		"thing7":            "not in the template",
	}
	if got := keyword.Validate(orderTemplate, data); got != nil {
		t.Fatalf("Validate = %+v, want nil: WeChat ignores keys the template does not have", got)
	}
	if got := keyword.Extra(orderTemplate, data); !reflect.DeepEqual(got, []string{"thing7"}) {
		t.Fatalf("Extra = %v, want [thing7]", got)
	}
}

func TestShortThingIsUnchecked(t *testing.T) {
	specs := []keyword.Spec{{Key: "short_thing1"}}
	for _, v := range []string{"D-3", "操作甲", "a value far longer than twenty characters, still passed"} {
		if got := keyword.Validate(specs, map[string]string{"short_thing1": v}); got != nil {
			t.Errorf("Validate(short_thing1=%q) = %+v, want nil", v, got)
		}
	}
	if got := keyword.Validate(specs, map[string]string{"short_thing1": ""}); len(got) != 1 || got[0].Rule != "empty" {
		t.Errorf("Validate(short_thing1 empty) = %+v, want empty", got)
	}
	if typ, ok := keyword.TypeOf("short_thing4"); !ok || typ != keyword.ShortThing {
		t.Errorf("TypeOf(short_thing4) = %q %v", typ, ok)
	}
}

func TestValidateEmptyAndMissingDiffer(t *testing.T) {
	specs := []keyword.Spec{{Key: "thing1"}, {Key: "thing2"}}
	got := keyword.Validate(specs, map[string]string{"thing1": ""})
	want := []string{"thing1 empty", "thing2 missing"}
	var have []string
	for _, p := range got {
		have = append(have, p.Key+" "+p.Rule)
	}
	if !reflect.DeepEqual(have, want) {
		t.Fatalf("Validate = %v, want %v", have, want)
	}
}

func TestValidateUnknownTypeInTemplate(t *testing.T) {
	// A keyword type WeChat may add later: present and not empty is enough.
	specs := []keyword.Spec{{Key: "thing1"}, {Key: "rating2"}}
	if got := keyword.Validate(specs, map[string]string{"thing1": "ok", "rating2": "五星 ★★★★★ and more than twenty characters"}); got != nil {
		t.Errorf("Validate = %+v, want nil", got)
	}
	got := keyword.Validate(specs, map[string]string{"thing1": "ok", "rating2": ""})
	if len(got) != 1 || got[0].Key != "rating2" || got[0].Rule != "empty" {
		t.Errorf("Validate = %+v, want rating2 empty", got)
	}
}

func TestValidateRepeatedSpecReportedOnce(t *testing.T) {
	specs := []keyword.Spec{{Key: "thing1"}, {Key: "thing1"}}
	if got := keyword.Validate(specs, map[string]string{}); len(got) != 1 {
		t.Errorf("Validate = %+v, want one missing problem", got)
	}
}

func TestValidateNoTemplateKeys(t *testing.T) {
	if got := keyword.Validate(nil, nil); got != nil {
		t.Errorf("Validate(nil, nil) = %+v, want nil", got)
	}
	if got := keyword.Extra(nil, map[string]string{"thing1": "x"}); len(got) != 1 || got[0] != "thing1" {
		t.Errorf("Extra(nil, thing1) = %v, want [thing1]", got)
	}
}

func BenchmarkValidate(b *testing.B) {
	data := map[string]string{
		"character_string1": "ORD-20240501-0001",
		"thing2":            "无线耳机 Pro",
		"amount3":           "¥199.00",
		"date4":             "2024年5月1日 10:30~2024年5月1日 12:00",
		"enum_string5":      "已发货",
	}
	for b.Loop() {
		if p := keyword.Validate(orderTemplate, data); p != nil {
			b.Fatal(p)
		}
	}
}
