package keyword

import (
	"fmt"
	"strconv"
	"strings"
)

// dtError says why a time or date value was rejected: a field out of its
// range (rangeErr, with a message naming it), or a shape the rules do not
// allow.
type dtError struct {
	rangeErr bool
	msg      string
}

var errShape = &dtError{}

// parseTimeOrDate checks a time value (isDate false) or a date value: one
// point, or two joined by "~" with optional spaces around it.
func parseTimeOrDate(v string, isDate bool) *dtError {
	first, second, isRange := strings.Cut(v, "~")
	if !isRange {
		return point(v, isDate)
	}
	if err := point(strings.TrimRight(first, " "), isDate); err != nil {
		return err
	}
	return point(strings.TrimLeft(second, " "), isDate) // a second "~" fails here
}

// point checks a date with an optional time after it (isDate), or a time with
// an optional date before it. The time follows the date after one space, or
// directly after 日.
func point(s string, isDate bool) *dtError {
	day, clk, split := s, "", false
	if i := strings.LastIndexByte(s, ' '); i >= 0 {
		day, clk, split = s[:i], s[i+1:], true
	} else if j := strings.LastIndex(s, "日"); j >= 0 && j+len("日") < len(s) {
		day, clk, split = s[:j+len("日")], s[j+len("日"):], true
	}
	if !split {
		if isDate {
			_, err := date(s)
			return err
		}
		return clock(s)
	}
	hasDay, err := date(day)
	if err != nil {
		return err
	}
	if !hasDay {
		return errShape // a time needs a full date before it
	}
	return clock(clk)
}

// date checks y年m月d日, y年m月, m月d日, or numbers joined by one of "-", "/"
// and ".": y-m-d, y-m, m-d. It reports whether the date has a day.
func date(s string) (hasDay bool, err *dtError) {
	if y, rest, ok := strings.Cut(s, "年"); ok {
		m, rest, ok := strings.Cut(rest, "月")
		switch {
		case !ok:
			return false, errShape
		case rest == "":
			return false, firstErr(year(y), month(m))
		}
		return true, firstErr(year(y), month(m), chineseDay(rest))
	}
	if m, rest, ok := strings.Cut(s, "月"); ok {
		return true, firstErr(month(m), chineseDay(rest))
	}

	sep := strings.IndexAny(s, "-/.")
	if sep < 0 {
		return false, errShape
	}
	parts := strings.SplitN(s, s[sep:sep+1], 4)
	switch {
	case len(parts) == 3:
		return true, firstErr(year(parts[0]), month(parts[1]), day(parts[2]))
	case len(parts) == 2 && len(parts[0]) == 4:
		return false, firstErr(year(parts[0]), month(parts[1]))
	case len(parts) == 2:
		return true, firstErr(month(parts[0]), day(parts[1]))
	}
	return false, errShape
}

// chineseDay checks the "d日" that ends a Chinese date.
func chineseDay(s string) *dtError {
	d, ok := strings.CutSuffix(s, "日")
	if !ok {
		return errShape
	}
	return day(d)
}

func year(s string) *dtError  { return field("year", s, 4, 4, 0, 9999) }
func month(s string) *dtError { return field("month", s, 1, 2, 1, 12) }
func day(s string) *dtError   { return field("day", s, 1, 2, 1, 31) }

// firstErr returns the first error of errs that is not nil.
func firstErr(errs ...*dtError) *dtError {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// clock checks H:MM or H:MM:SS in 24-hour form; the hour may have one digit.
func clock(s string) *dtError {
	parts := strings.SplitN(s, ":", 4)
	if len(parts) != 2 && len(parts) != 3 {
		return errShape
	}
	if err := field("hour", parts[0], 1, 2, 0, 23); err != nil {
		return err
	}
	if err := field("minute", parts[1], 2, 2, 0, 59); err != nil {
		return err
	}
	if len(parts) == 3 {
		return field("second", parts[2], 2, 2, 0, 59)
	}
	return nil
}

// field checks one number of minLen to maxLen ASCII digits in lo..hi.
func field(name, s string, minLen, maxLen, lo, hi int) *dtError {
	if len(s) < minLen || len(s) > maxLen || !all(s, isASCIIDigit) {
		return errShape
	}
	v, _ := strconv.Atoi(s) // at most 4 digits
	if v < lo || v > hi {
		return &dtError{rangeErr: true, msg: fmt.Sprintf("has %s %s, which must be from %d to %d", name, s, lo, hi)}
	}
	return nil
}
