package wechat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// number is an integer that WeChat sends either as a JSON number or as a
// string holding one ("7200"). null and "" decode as 0.
type number int64

func (n *number) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		*n = 0
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			*n = 0
			return nil
		}
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		*n = number(v)
		return nil
	}
	// Integral values written as floats ("7200.0", 7.2e3).
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return fmt.Errorf("wechat: %.40q is not an integer", s)
	}
	*n = number(f)
	return nil
}

// idString is an identifier that WeChat sends either as a JSON number or as
// a string; numbers keep their exact digits. null decodes as "".
type idString string

func (s *idString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*s = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = idString(v)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("wechat: id is neither a number nor a string: %w", err)
	}
	*s = idString(n)
	return nil
}

// status is the errcode/errmsg pair present in WeChat's answers.
type status struct {
	ErrCode number `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// checker is implemented by answers that must carry certain fields on success.
type checker interface {
	check() error
}
