package wechat

import (
	"strings"
)

// Keyword is one field of a subscription-message template.
type Keyword struct {
	Key  string   // e.g. "thing1"
	Name string   // the label before the colon in the template content, e.g. "会议地点"
	Type string   // the rule name, e.g. "thing"; see KeyType
	Enum []string // allowed values of an "enum" keyword
}

// ParseContent lists the keywords of a template's content, such as
// "会议时间:{{date2.DATA}}\n会议地点:{{thing1.DATA}}\n", in content order.
// Each placeholder's Name is the text before it on its line (after any
// previous placeholder) with the colon removed. Lines may end in "\n",
// "\r\n" or a literal backslash-n. A key that repeats is listed once.
func ParseContent(content string) []Keyword {
	content = strings.ReplaceAll(content, `\n`, "\n")
	var kws []Keyword
	seen := make(map[string]bool)
	rest := content
	for {
		open := strings.Index(rest, "{{")
		if open < 0 {
			break
		}
		n := strings.Index(rest[open+2:], "}}")
		if n < 0 {
			break
		}
		label := labelOf(rest[:open])
		key := placeholderKey(rest[open+2 : open+2+n])
		rest = rest[open+2+n+2:]
		if !validKey(key) || seen[key] {
			continue
		}
		seen[key] = true
		kws = append(kws, Keyword{Key: key, Name: label, Type: KeyType(key)})
	}
	return kws
}

// KeyType returns the rule name of a keyword key: the key without its
// trailing index ("character_string13" → "character_string"), with the
// "enum_string" keys reported as "enum". Unknown prefixes are returned as is.
func KeyType(key string) string {
	t := strings.TrimRight(key, "0123456789")
	if t == "enum_string" {
		return "enum"
	}
	return t
}

// placeholderKey turns "thing1.DATA" into "thing1".
func placeholderKey(inner string) string {
	inner = strings.TrimSpace(inner)
	if i := strings.LastIndexByte(inner, '.'); i >= 0 && strings.EqualFold(inner[i+1:], "DATA") {
		inner = inner[:i]
	}
	return strings.TrimSpace(inner)
}

// labelOf returns the label that ends text: its last line, without the
// colon (ASCII or full-width) and surrounding space.
func labelOf(text string) string {
	if i := strings.LastIndexAny(text, "\r\n"); i >= 0 {
		text = text[i+1:]
	}
	text = strings.TrimSpace(text)
	text = strings.TrimSuffix(text, ":")
	text = strings.TrimSuffix(text, "：")
	return strings.TrimSpace(text)
}

func validKey(key string) bool {
	if key == "" {
		return false
	}
	for _, r := range key {
		if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}
