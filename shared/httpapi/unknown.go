package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
)

// unknownField reports whether a strict decode of raw into a value of type t
// (a pointer) failed with strictErr because of a field the type does not
// have, and the first such field, in the order encoding/json reads them.
//
// encoding/json (v1) has no error type for unknown fields, so their error
// is recognised without reading its text: a decode that allows unknown
// fields fails differently (or not at all) only when the strict one stopped
// at an unknown field, since both keep the first error they meet and
// differ in nothing else.
func unknownField(raw []byte, t reflect.Type, strictErr error) (string, bool) {
	if t == nil || t.Kind() != reflect.Pointer {
		return "", false
	}
	lenient := json.NewDecoder(bytes.NewReader(raw)).Decode(reflect.New(t.Elem()).Interface())
	if lenient != nil && lenient.Error() == strictErr.Error() {
		return "", false
	}
	name, _ := firstUnknown(raw, t.Elem())
	return name, true
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// firstUnknown walks the JSON value raw as encoding/json decodes it into a
// value of type t and returns the first object key that matches no field.
func firstUnknown(raw []byte, t reflect.Type) (string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return "", false // the type reads its own JSON
	}
	raw = bytes.TrimSpace(raw)
	switch t.Kind() {
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &obj) != nil {
			return "", false
		}
		fields := jsonFields(t)
		for _, key := range objectKeys(raw) {
			ft, ok := matchField(fields, key)
			if !ok {
				return key, true
			}
			if name, ok := firstUnknown(obj[key], ft); ok {
				return name, true
			}
		}
	case reflect.Map:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return "", false
		}
		for _, key := range objectKeys(raw) {
			if name, ok := firstUnknown(obj[key], t.Elem()); ok {
				return name, true
			}
		}
	case reflect.Slice, reflect.Array:
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			return "", false
		}
		for _, item := range list {
			if name, ok := firstUnknown(item, t.Elem()); ok {
				return name, true
			}
		}
	}
	return "", false
}

// objectKeys lists the keys of the JSON object raw in their order.
func objectKeys(raw []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return nil
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return keys
		}
		key, _ := tok.(string)
		keys = append(keys, key)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return keys
		}
	}
	return keys
}

// jsonFields maps the JSON names of t's fields, with those promoted from
// embedded structs, to their types, as encoding/json names them.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for n, typ := range jsonFields(ft) {
					if _, shadowed := out[n]; !shadowed {
						out[n] = typ
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// matchField finds key among fields as encoding/json does: the exact name,
// or else one equal under case folding.
func matchField(fields map[string]reflect.Type, key string) (reflect.Type, bool) {
	if t, ok := fields[key]; ok {
		return t, true
	}
	for name, t := range fields {
		if strings.EqualFold(name, key) {
			return t, true
		}
	}
	return nil, false
}
