package keyword_test

import (
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/wxsub/wxsub/shared/keyword"
)

// Seeds live in testdata/fuzz/FuzzCheck/.
func FuzzCheck(f *testing.F) {
	rules := []string{"unknown_key", "empty", "too_long", "format", "not_in_enum"}
	f.Fuzz(func(t *testing.T, key, value string) {
		p := keyword.Check(key, value, nil)
		typ, known := keyword.TypeOf(key)
		if p != nil {
			if p.Key != key || p.Message == "" || !slices.Contains(rules, p.Rule) {
				t.Fatalf("Check(%q, %q) = %+v", key, value, p)
			}
			if p.Rule == "unknown_key" && known {
				t.Fatalf("Check(%q) says unknown_key, TypeOf says %s", key, typ)
			}
			return
		}
		if !known || value == "" || !utf8.ValidString(value) {
			t.Fatalf("Check(%q, %q) accepted it", key, value)
		}
		if n, limit := utf8.RuneCountInString(value), keyword.MaxLen(typ); limit > 0 && n > limit {
			t.Fatalf("Check(%q, %q) accepted %d characters, MaxLen is %d", key, value, n, limit)
		}
		// A value accepted for a type is also accepted as the template's own enum value.
		if typ == keyword.Enum {
			if q := keyword.Check(key, value, []string{"other", value}); q != nil {
				t.Fatalf("Check(%q, %q, listed) = %+v", key, value, q)
			}
		}
	})
}
