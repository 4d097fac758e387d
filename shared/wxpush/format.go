package wxpush

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Format is the data format of a push body, chosen in the push settings.
type Format string

// The two push formats.
const (
	XML  Format = "xml"
	JSON Format = "json"
)

// sniff tells XML from JSON by the first byte that is not white space or a
// UTF-8 byte order mark.
func sniff(body []byte) (Format, error) {
	b := bytes.TrimLeft(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")), " \t\r\n")
	switch {
	case len(b) == 0:
		return "", errors.New("wxpush: empty body")
	case b[0] == '<':
		return XML, nil
	case b[0] == '{':
		return JSON, nil
	}
	return "", errors.New("wxpush: body is neither XML nor a JSON object")
}

// decodeXML decodes the single <xml> document in body into v and rejects
// any other element or text after it.
func decodeXML(body []byte, v any) error {
	d := xml.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("wxpush: decode XML: %w", err)
	}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("wxpush: decode XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.Comment, xml.ProcInst:
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return errors.New("wxpush: decode XML: text after the root element")
			}
		default:
			return errors.New("wxpush: decode XML: more than one root element")
		}
	}
}

// checkRoot rejects a document whose root element is not <xml>, the only
// root WeChat uses.
func checkRoot(name xml.Name) error {
	if name.Local != "xml" || name.Space != "" {
		return fmt.Errorf("wxpush: XML root element is <%.32s>, want <xml>", name.Local)
	}
	return nil
}

// decodeJSON decodes the single JSON object in body into v.
func decodeJSON(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("wxpush: decode JSON: %w", err)
	}
	return nil
}

// encode marshals v in format f without a trailing newline.
func encode(v any, f Format) ([]byte, error) {
	var buf bytes.Buffer
	switch f {
	case XML:
		if err := xml.NewEncoder(&buf).Encode(v); err != nil {
			return nil, fmt.Errorf("wxpush: encode XML: %w", err)
		}
	case JSON:
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return nil, fmt.Errorf("wxpush: encode JSON: %w", err)
		}
	default:
		return nil, fmt.Errorf("wxpush: unknown format %q", f)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// xmlText rejects a field XML 1.0 cannot carry: invalid UTF-8, most control
// characters, surrogates, U+FFFE and U+FFFF. encoding/xml writes CDATA as it
// is, so such a field would make a document no parser accepts.
func xmlText(fields ...[2]string) error {
	for _, f := range fields {
		name, s := f[0], f[1]
		if !utf8.ValidString(s) {
			return fmt.Errorf("wxpush: %s is not valid UTF-8", name)
		}
		for _, r := range s {
			if !(r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000) {
				return fmt.Errorf("wxpush: %s holds a character XML cannot carry", name)
			}
		}
	}
	return nil
}

// cdata is an XML text element written as CDATA, as WeChat writes strings.
type cdata struct {
	Text string `xml:",cdata"`
}
