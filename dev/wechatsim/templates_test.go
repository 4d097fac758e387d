package wechatsim_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/keyword"
)

func TestDefaultTemplatesCoverEveryKeywordType(t *testing.T) {
	ts := wechatsim.DefaultTemplates()
	kinds := map[int]int{}
	types := map[keyword.Type]bool{}
	ids := map[string]bool{}
	enumWithValues := false
	for _, tm := range ts {
		kinds[tm.Type]++
		if len(tm.ID) != 43 || ids[tm.ID] {
			t.Errorf("template id %q: want 43 characters, unique", tm.ID)
		}
		ids[tm.ID] = true
		for _, k := range tm.Keywords {
			typ, ok := keyword.TypeOf(k.Key)
			if !ok {
				t.Errorf("%s: key %s has no keyword type", tm.Title, k.Key)
			}
			types[typ] = true
			enumWithValues = enumWithValues || typ == keyword.Enum && len(k.Enum) > 0
		}
		if problems := keyword.Validate(tm.Specs(), tm.ExampleData()); problems != nil {
			t.Errorf("%s: example data is invalid: %+v", tm.Title, problems)
		}
	}
	if kinds[wechatsim.OneTime] < 3 || kinds[wechatsim.LongTerm] < 1 {
		t.Errorf("template kinds %v: want at least 3 one-time and 1 long-term", kinds)
	}
	for _, typ := range []keyword.Type{keyword.Thing, keyword.Number, keyword.Letter, keyword.Symbol, keyword.CharacterString,
		keyword.Time, keyword.Date, keyword.Amount, keyword.PhoneNumber, keyword.CarNumber, keyword.Name, keyword.Phrase, keyword.Enum} {
		if !types[typ] {
			t.Errorf("no default template has a %s keyword", typ)
		}
	}
	if !enumWithValues {
		t.Error("no enum keyword lists its values")
	}
	again := wechatsim.DefaultTemplates()
	for i := range ts {
		if again[i].ID != ts[i].ID {
			t.Fatal("template ids change between calls")
		}
	}
}

func TestGetTemplate(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	_, body := e.do("GET", wechatsim.PathGetTemplate+"?access_token="+tok, nil)
	var got struct {
		ErrCode int
		ErrMsg  string
		Data    []struct {
			PriTmplID            string `json:"priTmplId"`
			Title, Content       string
			Example              string
			Type                 int
			KeywordEnumValueList []struct {
				KeywordCode   string   `json:"keywordCode"`
				EnumValueList []string `json:"enumValueList"`
			} `json:"keywordEnumValueList"`
		}
	}
	if err := json.Unmarshal(body, &got); err != nil || got.ErrCode != 0 || got.ErrMsg != "ok" {
		t.Fatalf("gettemplate: %s", body)
	}
	if len(got.Data) != len(e.cfg.Templates) {
		t.Fatalf("%d templates, want %d", len(got.Data), len(e.cfg.Templates))
	}
	for i, d := range got.Data {
		want := e.cfg.Templates[i]
		var content strings.Builder
		enums := 0
		for _, k := range want.Keywords {
			fmt.Fprintf(&content, "%s:{{%s.DATA}}\n", k.Name, k.Key)
			if !strings.Contains(d.Example, k.Name+":"+k.Example+"\n") {
				t.Errorf("%s example %q lacks %s", want.Title, d.Example, k.Name)
			}
			if len(k.Enum) > 0 {
				enums++
				i := slices.IndexFunc(d.KeywordEnumValueList, func(v struct {
					KeywordCode   string   `json:"keywordCode"`
					EnumValueList []string `json:"enumValueList"`
				}) bool {
					return v.KeywordCode == k.Key+".DATA" // as WeChat's example writes it
				})
				if i < 0 || !slices.Equal(d.KeywordEnumValueList[i].EnumValueList, k.Enum) {
					t.Errorf("%s: enum values of %s missing: %+v", want.Title, k.Key, d.KeywordEnumValueList)
				}
			}
		}
		if d.PriTmplID != want.ID || d.Title != want.Title || d.Type != want.Type || d.Content != content.String() ||
			len(d.KeywordEnumValueList) != enums {
			t.Errorf("template %+v, want %+v with content %q", d, want, content.String())
		}
	}
	wantErr(t, e.wx("GET", wechatsim.PathGetTemplate, nil), 41001, "access_token missing")
}

func TestGetCategoryAndPublicKeywords(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	tok := e.token()
	cat := e.wx("GET", wechatsim.PathGetCategory+"?access_token="+tok, nil)
	if list, _ := cat["data"].([]any); len(list) == 0 || cat.code() != 0 {
		t.Fatalf("getcategory: %v", cat)
	}
	tm := e.template(wechatsim.TmplParkingFee)
	_, body := e.do("GET", fmt.Sprintf("%s?access_token=%s&tid=%d", wechatsim.PathPubKeywords, tok, tm.TID), nil)
	var got struct {
		Count int
		Data  []struct {
			KID                 int
			Name, Example, Rule string
		}
	}
	if err := json.Unmarshal(body, &got); err != nil || got.Count != len(tm.Keywords) || len(got.Data) != got.Count {
		t.Fatalf("getpubtemplatekeywords: %s", body)
	}
	for i, k := range got.Data {
		typ, _ := keyword.TypeOf(tm.Keywords[i].Key)
		if k.KID != i+1 || k.Name != tm.Keywords[i].Name || k.Rule != string(typ) || k.Example != tm.Keywords[i].Example {
			t.Errorf("keyword %+v, want %+v (rule %s)", k, tm.Keywords[i], typ)
		}
	}
	wantErr(t, e.wx("GET", wechatsim.PathPubKeywords+"?access_token="+tok+"&tid=999999", nil), 200014, "tid does not exist")
	wantErr(t, e.wx("GET", wechatsim.PathPubKeywords+"?access_token="+tok, nil), 200014, "missing parameter tid")
}

func TestCustomTemplates(t *testing.T) {
	custom := []wechatsim.Template{{ID: "custom-id", Title: "到货提醒", Type: wechatsim.OneTime, Keywords: []wechatsim.Keyword{
		{Key: "thing1", Name: "商品", Example: "雨伞"},
	}}}
	e := newEnv(t, wechatsim.Config{Templates: custom})
	custom[0].Title = "changed by the caller"
	tok := e.token()
	openid := e.user("custom-id", 1)
	wantOK(t, e.send(tok, map[string]any{"touser": openid, "template_id": "custom-id", "data": map[string]any{"thing1": map[string]string{"value": "雨伞"}}}))
	wantErr(t, e.send(tok, map[string]any{"touser": openid, "template_id": wechatsim.TmplOrderShipped}), 40037, "invalid template_id")
	if e.sim.Config().Templates[0].Title != "到货提醒" {
		t.Fatal("the Sim shares its template slice with the caller")
	}
}
