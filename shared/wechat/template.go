package wechat

import (
	"context"
	"net/http"
	"strconv"
)

// TemplateType tells one-time from long-term subscription templates.
type TemplateType int

// The template types gettemplate reports.
const (
	OneTime  TemplateType = 2 // each accept allows one message
	LongTerm TemplateType = 3 // one accept allows many messages
)

// String returns "one_time", "long_term" or "TemplateType(n)".
func (t TemplateType) String() string {
	switch t {
	case OneTime:
		return "one_time"
	case LongTerm:
		return "long_term"
	}
	return "TemplateType(" + strconv.Itoa(int(t)) + ")"
}

// Template is one of the account's private templates.
type Template struct {
	ID       string // priTmplId, the template_id to send with
	Title    string
	Content  string // e.g. "会议时间:{{date2.DATA}}\n会议地点:{{thing1.DATA}}\n"
	Example  string
	Type     TemplateType
	Keywords []Keyword // parsed from Content, with enum values attached
}

type templatesAnswer struct {
	Data []struct {
		PriTmplID            string `json:"priTmplId"`
		Title                string `json:"title"`
		Content              string `json:"content"`
		Example              string `json:"example"`
		Type                 number `json:"type"`
		KeywordEnumValueList []struct {
			KeywordCode   string   `json:"keywordCode"`
			EnumValueList []string `json:"enumValueList"`
		} `json:"keywordEnumValueList"`
	} `json:"data"`
}

// Templates lists the account's templates (GET /wxaapi/newtmpl/gettemplate).
// Each template's keywords come from its content; enum keywords get their
// values from keywordEnumValueList.
func (c *Client) Templates(ctx context.Context, accessToken string) ([]Template, error) {
	var a templatesAnswer
	err := c.do(ctx, call{
		op:      "gettemplate",
		method:  http.MethodGet,
		path:    "/wxaapi/newtmpl/gettemplate",
		query:   withToken(accessToken),
		secrets: []string{accessToken},
	}, &a)
	if err != nil {
		return nil, err
	}
	ts := make([]Template, 0, len(a.Data))
	for _, d := range a.Data {
		t := Template{
			ID:       d.PriTmplID,
			Title:    d.Title,
			Content:  d.Content,
			Example:  d.Example,
			Type:     TemplateType(d.Type),
			Keywords: ParseContent(d.Content),
		}
		for _, e := range d.KeywordEnumValueList {
			key := placeholderKey(e.KeywordCode)
			for i := range t.Keywords {
				if t.Keywords[i].Key == key {
					t.Keywords[i].Enum = e.EnumValueList
				}
			}
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// Category is one of the account's service categories.
type Category struct {
	ID   int
	Name string
}

type categoriesAnswer struct {
	Data []struct {
		ID   number `json:"id"`
		Name string `json:"name"`
	} `json:"data"`
}

// Categories lists the account's categories (GET /wxaapi/newtmpl/getcategory).
func (c *Client) Categories(ctx context.Context, accessToken string) ([]Category, error) {
	var a categoriesAnswer
	err := c.do(ctx, call{
		op:      "getcategory",
		method:  http.MethodGet,
		path:    "/wxaapi/newtmpl/getcategory",
		query:   withToken(accessToken),
		secrets: []string{accessToken},
	}, &a)
	if err != nil {
		return nil, err
	}
	cs := make([]Category, 0, len(a.Data))
	for _, d := range a.Data {
		cs = append(cs, Category{ID: int(d.ID), Name: d.Name})
	}
	return cs, nil
}

// PubKeyword is a keyword of a public template title; Rule is its type, e.g.
// "thing".
type PubKeyword struct {
	KID     int
	Name    string
	Example string
	Rule    string
}

type pubKeywordsAnswer struct {
	Data []struct {
		KID     number `json:"kid"`
		Name    string `json:"name"`
		Example string `json:"example"`
		Rule    string `json:"rule"`
	} `json:"data"`
}

// PubTemplateKeywords lists the keywords of the public template title tid
// (GET /wxaapi/newtmpl/getpubtemplatekeywords).
func (c *Client) PubTemplateKeywords(ctx context.Context, accessToken string, tid int) ([]PubKeyword, error) {
	var a pubKeywordsAnswer
	q := withToken(accessToken)
	q.Set("tid", strconv.Itoa(tid))
	err := c.do(ctx, call{
		op:      "getpubtemplatekeywords",
		method:  http.MethodGet,
		path:    "/wxaapi/newtmpl/getpubtemplatekeywords",
		query:   q,
		secrets: []string{accessToken},
	}, &a)
	if err != nil {
		return nil, err
	}
	ks := make([]PubKeyword, 0, len(a.Data))
	for _, d := range a.Data {
		ks = append(ks, PubKeyword{KID: int(d.KID), Name: d.Name, Example: d.Example, Rule: d.Rule})
	}
	return ks, nil
}
