package wxpush

import (
	"encoding/xml"
	"errors"
	"strings"
)

// Envelope is the body of a secure-mode push: the account it is for and the
// encrypted event.
type Envelope struct {
	ToUserName string
	Encrypt    string
}

// ParseEnvelope parses a secure-mode body, either <xml><ToUserName/><Encrypt/></xml>
// or {"ToUserName":…,"Encrypt":…}, and reports which format it was in. An
// envelope without Encrypt is an error.
func ParseEnvelope(body []byte) (Envelope, Format, error) {
	f, err := sniff(body)
	if err != nil {
		return Envelope{}, "", err
	}
	var e Envelope
	switch f {
	case XML:
		var x struct {
			XMLName    xml.Name
			ToUserName string
			Encrypt    string
		}
		if err := decodeXML(body, &x); err != nil {
			return Envelope{}, f, err
		}
		if err := checkRoot(x.XMLName); err != nil {
			return Envelope{}, f, err
		}
		e = Envelope{ToUserName: x.ToUserName, Encrypt: x.Encrypt}
	case JSON:
		if err := decodeJSON(body, &e); err != nil {
			return Envelope{}, f, err
		}
	}
	e.ToUserName = strings.TrimSpace(e.ToUserName)
	e.Encrypt = strings.TrimSpace(e.Encrypt)
	if e.Encrypt == "" {
		return Envelope{}, f, errors.New("wxpush: envelope has no Encrypt")
	}
	return e, f, nil
}

// EncodeEnvelope writes e in format f, the way WeChat posts it.
func EncodeEnvelope(e Envelope, f Format) ([]byte, error) {
	if f == XML {
		if err := xmlText([2]string{"ToUserName", e.ToUserName}, [2]string{"Encrypt", e.Encrypt}); err != nil {
			return nil, err
		}
		return encode(struct {
			XMLName    xml.Name `xml:"xml"`
			ToUserName cdata
			Encrypt    cdata
		}{ToUserName: cdata{e.ToUserName}, Encrypt: cdata{e.Encrypt}}, f)
	}
	return encode(e, f)
}
