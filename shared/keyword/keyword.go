package keyword

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Type is a keyword type, the part of a key before its index number.
type Type string

// The keyword types of WeChat's table of value rules
// (https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html).
const (
	Thing           Type = "thing"
	Number          Type = "number"
	Letter          Type = "letter"
	Symbol          Type = "symbol"
	CharacterString Type = "character_string"
	Time            Type = "time"
	Date            Type = "date"
	Amount          Type = "amount"
	PhoneNumber     Type = "phone_number"
	CarNumber       Type = "car_number"
	Name            Type = "name"
	Phrase          Type = "phrase"
	Enum            Type = "enum" // keys are written enum_string<n>
	// ShortThing keys (short_thing<n>) appear in live templates, e.g.
	// short_thing1 holding "D-3" or a nickname in projects on GitHub, but
	// WeChat's table of value rules does not list the type
	// (https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html).
	// Its values are passed unchecked, beyond being present and not empty.
	ShortThing Type = "short_thing"
)

// The rules a Problem can report.
const (
	RuleMissing    = "missing"     // the template has the key, the data does not
	RuleUnknownKey = "unknown_key" // no keyword type matches the key (Check only)
	RuleEmpty      = "empty"       // the value is empty
	RuleTooLong    = "too_long"    // the value has more characters than its type allows
	RuleFormat     = "format"      // the value has characters or a shape its type does not allow
	RuleNotInEnum  = "not_in_enum" // the value is none of the template's enum values
)

// TypeOf returns the type of a keyword key such as "thing1",
// "character_string13" or "enum_string2": a known type name followed by one
// or more digits. It reports false for any other key.
func TypeOf(key string) (Type, bool) {
	i := len(key)
	for i > 0 && '0' <= key[i-1] && key[i-1] <= '9' {
		i--
	}
	if i == 0 || i == len(key) {
		return "", false
	}
	switch t := Type(key[:i]); t {
	case Thing, Number, Letter, Symbol, CharacterString, Time, Date, Amount,
		PhoneNumber, CarNumber, Name, Phrase, ShortThing:
		return t, true
	case "enum_string":
		return Enum, true
	}
	return "", false
}

// MaxLen returns the most characters (runes) a value of type t may have, or
// 0 when the type's rule is not a plain length: time, date, amount, enum and
// short_thing (whose limit WeChat does not document).
// For Name it is the limit without Chinese; with Chinese it is 10.
func MaxLen(t Type) int {
	switch t {
	case Thing, Name:
		return 20
	case Number, Letter, CharacterString:
		return 32
	case Symbol, Phrase:
		return 5
	case PhoneNumber:
		return 17
	case CarNumber:
		return 8
	}
	return 0
}

// nameChineseMaxLen is the limit of a name that contains Chinese.
const nameChineseMaxLen = 10

// enumFreeMaxLen limits an enum value when the template lists no values.
const enumFreeMaxLen = 20

// Spec is one keyword of a template: its key and, for enum keywords, the
// values allowed.
type Spec struct {
	Key  string
	Enum []string
}

// Problem is a keyword value that WeChat would reject.
type Problem struct {
	Key     string // the keyword key, e.g. "thing1"
	Rule    string // one of the Rule constants
	Message string // what is wrong and what to do, naming the key
}

// Check returns the problem with value as the value of keyword key, or nil
// when WeChat's rules allow it. enum lists the allowed values of an enum
// keyword and is ignored for other types.
func Check(key, value string, enum []string) *Problem {
	t, ok := TypeOf(key)
	if !ok {
		return &Problem{key, RuleUnknownKey, fmt.Sprintf("%s is not a WeChat keyword key: it must be a keyword type such as thing or date followed by a number", key)}
	}
	return check(key, t, value, enum)
}

// Validate checks the data of a message against the keywords of its template:
// every key of the template must be present and every value must follow its
// type's rule. Keys whose type this package does not know are only checked
// for being present and not empty. Keys the template does not have are not
// problems: WeChat ignores them (Extra lists them). The problems come sorted
// by key; Validate returns nil when there are none.
func Validate(specs []Spec, data map[string]string) []Problem {
	var probs []Problem
	for i, s := range specs {
		if slices.ContainsFunc(specs[:i], func(o Spec) bool { return o.Key == s.Key }) {
			continue // a repeated key was checked already
		}
		v, ok := data[s.Key]
		if !ok {
			probs = append(probs, Problem{s.Key, RuleMissing, fmt.Sprintf("%s is missing: the template needs a value for it", s.Key)})
			continue
		}
		t, known := TypeOf(s.Key)
		if !known {
			t = "" // checked as "anything not empty"
		}
		if p := check(s.Key, t, v, s.Enum); p != nil {
			probs = append(probs, *p)
		}
	}
	slices.SortFunc(probs, func(a, b Problem) int { return strings.Compare(a.Key, b.Key) })
	return probs
}

// Extra returns the keys of data that the template does not have, sorted.
// WeChat does not refuse a message for them: its 47003 answers name a
// template key that is missing or invalid, never an extra one
// (https://developers.weixin.qq.com/community/develop/doc/00066407b58fc04dade12a65a6b000
// and the other 47003 threads all name template keys), and the card shows
// only the template's keywords. Callers drop them before sending.
func Extra(specs []Spec, data map[string]string) []string {
	var extra []string
	for k := range data {
		if !slices.ContainsFunc(specs, func(s Spec) bool { return s.Key == k }) {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	return extra
}

func check(key string, t Type, v string, enum []string) *Problem {
	if v == "" {
		return &Problem{key, RuleEmpty, fmt.Sprintf("%s is empty: WeChat rejects empty values", key)}
	}
	if !utf8.ValidString(v) {
		return &Problem{key, RuleFormat, fmt.Sprintf("%s is not valid UTF-8 text", key)}
	}
	n := utf8.RuneCountInString(v)
	tooLong := func(limit int, when string) *Problem {
		return &Problem{key, RuleTooLong, fmt.Sprintf("%s must be at most %d characters%s (got %d)", key, limit, when, n)}
	}
	format := func(msg string, args ...any) *Problem {
		return &Problem{key, RuleFormat, key + " " + fmt.Sprintf(msg, args...)}
	}
	if limit := MaxLen(t); limit > 0 && n > limit {
		return tooLong(limit, "")
	}

	switch t {
	case Thing:
		if strings.ContainsFunc(v, isControl) {
			return format("must not contain control characters such as line breaks")
		}
	case Number:
		if !isDecimal(v) {
			return format("must be digits with at most one decimal point, such as 12 or 3.5 (no sign or spaces)")
		}
	case Letter:
		if !all(v, isASCIILetter) {
			return format("must contain only the letters A-Z and a-z")
		}
	case Symbol:
		if !all(v, isSymbol) {
			return format("must contain only symbols such as %% or ~: no letters, digits, Chinese, spaces or control characters")
		}
	case CharacterString:
		if !all(v, func(r rune) bool { return isASCIILetter(r) || isASCIIDigit(r) || isSymbol(r) }) {
			return format("must contain only letters, digits and symbols: no Chinese, spaces or control characters")
		}
	case Time:
		if err := parseTimeOrDate(v, false); err != nil {
			if err.rangeErr {
				return format("%s", err.msg)
			}
			return format("must be a 24-hour time such as 15:01 or 15:01:30, optionally after a date (2019年10月1日 15:01, 2019-10-01 15:01), or two of them joined by ~")
		}
	case Date:
		if err := parseTimeOrDate(v, true); err != nil {
			if err.rangeErr {
				return format("%s", err.msg)
			}
			return format("must be a date such as 2019年10月1日, 2019年10月, 10月1日, 2019-10-01, 2019/10/01, 2019.10.01, 2019-10 or 10-01, optionally followed by a space and a 24-hour time, or two of them joined by ~")
		}
	case Amount:
		if !isAmount(v) {
			return format("must be one currency symbol and up to 10 digits, optionally with decimals and ending in 元, such as ¥100, $9.99 or ￥8.5元 (a bare 100元 is refused)")
		}
	case PhoneNumber:
		// "17位以内，数字、符号" (sendMessage.html): any symbol, so masked
		// numbers (138****5678) and extensions (0755-1234#8) pass.
		if !all(v, func(r rune) bool { return isASCIIDigit(r) || isSymbol(r) || r == ' ' }) || !strings.ContainsFunc(v, isASCIIDigit) {
			return format("must be digits and symbols such as + - ( ) * #, such as +86-0766-66888866 or 138****5678")
		}
	case CarNumber:
		if !isCarNumber(v, n) {
			return format("must be a licence plate such as 粤A8Z888挂: letters and digits, with a Chinese character allowed only first and last")
		}
	case Name:
		if !all(v, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsMark(r) || r == ' ' || isSymbol(r) }) || !strings.ContainsFunc(v, unicode.IsLetter) {
			return format("must be a name of letters or Chinese characters, with spaces and symbols allowed but no digits")
		}
		if n > nameChineseMaxLen && strings.ContainsFunc(v, isHan) {
			return tooLong(nameChineseMaxLen, " when it contains Chinese")
		}
	case Phrase:
		if !all(v, isHan) {
			return format("must contain only Chinese characters, such as 配送中")
		}
	case Enum:
		if len(enum) > 0 {
			if !slices.Contains(enum, v) {
				return &Problem{key, RuleNotInEnum, fmt.Sprintf("%s must be one of the template's values: %s", key, listEnum(enum))}
			}
			return nil
		}
		if n > enumFreeMaxLen {
			return tooLong(enumFreeMaxLen, "")
		}
		if strings.ContainsFunc(v, isControl) {
			return format("must not contain control characters such as line breaks")
		}
	}
	return nil
}

// listEnum quotes the enum values for a message, at most ten of them.
func listEnum(enum []string) string {
	const most = 10
	q := make([]string, 0, min(len(enum), most)+1)
	for _, e := range enum[:min(len(enum), most)] {
		q = append(q, fmt.Sprintf("%q", e))
	}
	if len(enum) > most {
		q = append(q, fmt.Sprintf("and %d more", len(enum)-most))
	}
	return strings.Join(q, ", ")
}

func all(s string, ok func(rune) bool) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return !ok(r) })
}

func isASCIIDigit(r rune) bool  { return '0' <= r && r <= '9' }
func isASCIILetter(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }
func isHan(r rune) bool         { return unicode.Is(unicode.Han, r) }
func isSymbol(r rune) bool      { return unicode.IsPunct(r) || unicode.IsSymbol(r) }
func isControl(r rune) bool     { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }

// isDecimal reports whether s is digits with at most one decimal point
// between digits.
func isDecimal(s string) bool {
	whole, frac, hasPoint := strings.Cut(s, ".")
	return whole != "" && all(whole, isASCIIDigit) && (!hasPoint || frac != "" && all(frac, isASCIIDigit))
}

// isAmount reports whether s is one currency symbol, 1 to 10 digits,
// optionally a point and decimals, and optionally 元 at the end. WeChat's
// rule is "1个币种符号+10位以内纯数字，可带小数，结尾可带元"
// (https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html):
// it names no number of decimals, so any number is allowed, and the 10
// digits are read as the whole part. The symbol is required: WeChat answers
// 47003 to a bare "100元".
func isAmount(s string) bool {
	r, size := utf8.DecodeRuneInString(s)
	if !unicode.Is(unicode.Sc, r) {
		return false
	}
	s, _ = strings.CutSuffix(s[size:], "元")
	whole, frac, hasPoint := strings.Cut(s, ".")
	if len(whole) < 1 || len(whole) > 10 || !all(whole, isASCIIDigit) {
		return false
	}
	return !hasPoint || frac != "" && all(frac, isASCIIDigit)
}

// isCarNumber reports whether s, of n runes, is letters and digits with Han
// characters allowed only in the first and last place.
func isCarNumber(s string, n int) bool {
	i, alnum := 0, false
	for _, r := range s {
		switch {
		case isASCIILetter(r) || isASCIIDigit(r):
			alnum = true
		case isHan(r) && (i == 0 || i == n-1):
		default:
			return false
		}
		i++
	}
	return alnum
}
