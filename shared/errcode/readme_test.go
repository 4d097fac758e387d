package errcode_test

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/wxsub/wxsub/shared/errcode"
	"github.com/wxsub/wxsub/shared/ledger"
)

// readme is the repository's README, the contract the table must follow.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tableRows returns the cells of the rows of the README's Markdown table
// whose header line is header.
func tableRows(t *testing.T, doc, header string) [][]string {
	t.Helper()
	i := strings.Index(doc, "\n"+header+"\n")
	if i < 0 {
		t.Fatalf("README has no table %q", header)
	}
	lines := strings.Split(doc[i+len(header)+2:], "\n")
	var rows [][]string
	for _, l := range lines[1:] { // lines[0] is the |---| line
		if !strings.HasPrefix(l, "|") {
			break
		}
		cells := strings.Split(strings.Trim(l, "|"), " | ")
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		rows = append(rows, cells)
	}
	return rows
}

// errcodes are the errcodes a cell names: whole numbers, -1 included
// ("5xx" is no errcode).
var errcodes = regexp.MustCompile(`-?\b\d+\b`)

func codesIn(t *testing.T, s string) []int {
	var out []int
	for _, m := range errcodes.FindAllString(s, -1) {
		n, err := strconv.Atoi(m)
		if err != nil {
			t.Fatalf("%q: %v", m, err)
		}
		out = append(out, n)
	}
	return out
}

// An answer to a send with an errcode, as WeChat gives it: HTTP 200.
func withCode(code int) errcode.Meaning {
	if code == 0 {
		return errcode.Of(nil)
	}
	return errcode.For(errcode.Answer{Code: code, HTTPStatus: 200})
}

// TestTheOutcomeTableIsTheREADMEs checks the table against the README's
// outcome table (WeChat answer → message, credit): each README row's
// answers have the outcome its cells say, and every errcode the table
// lists is in exactly one README row. The cells are read as the README
// writes them: the message is sent, failed or unknown ("retried …" is a
// failure retried inside the send first, so it may pass: retryable, as is
// "failed (retryable)"); the credit is spent, "spent, and the balance set
// to 0", or released.
func TestTheOutcomeTableIsTheREADMEs(t *testing.T) {
	rows := tableRows(t, readme(t), "| WeChat answer | message | credit |")
	if len(rows) < 5 {
		t.Fatalf("README's outcome table has %d rows", len(rows))
	}
	answerOf := regexp.MustCompile("answer (\\d{3}) `([a-z_]+)`")
	documented := map[int]bool{}
	for _, r := range rows {
		if len(r) != 3 {
			t.Fatalf("outcome row %q has %d cells", r, len(r))
		}
		answer, message, credit := r[0], r[1], r[2]
		var want ledger.Outcome
		switch {
		case strings.HasPrefix(message, "sent"):
			want.Status = ledger.Sent
		case strings.HasPrefix(message, "failed"):
			want.Status, want.Retryable = ledger.Failed, strings.Contains(message, "(retryable)")
		case strings.HasPrefix(message, "unknown"):
			want.Status = ledger.Unknown
		case strings.HasPrefix(message, "retried once with a fresh token"):
			want.Status, want.Retry, want.Retryable = ledger.Failed, ledger.RetryFreshToken, true
		case strings.HasPrefix(message, "retried with jittered backoff"):
			want.Status, want.Retry, want.Retryable = ledger.Failed, ledger.RetryBackoff, true
		default:
			t.Fatalf("outcome row %q: the test cannot read the message %q", answer, message)
		}
		switch {
		case strings.HasPrefix(credit, "spent, and the balance set to 0"):
			want.Credit = ledger.SpendAndZero
		case strings.HasPrefix(credit, "spent"):
			want.Credit = ledger.Spend
		case strings.HasPrefix(credit, "released"):
			want.Credit = ledger.Release
		default:
			t.Fatalf("outcome row %q: the test cannot read the credit %q", answer, credit)
		}

		var meanings []errcode.Meaning
		codes := codesIn(t, answer)
		for _, c := range codes {
			if c != 0 && !slices.Contains(errcode.Codes(), c) {
				t.Errorf("README's outcome table names %d, which the table does not list", c)
			}
			if documented[c] {
				t.Errorf("README's outcome table names %d twice", c)
			}
			documented[c] = true
			meanings = append(meanings, withCode(c))
			if strings.Contains(answer, "even under an HTTP 5xx") {
				meanings = append(meanings, errcode.For(errcode.Answer{Code: c, HTTPStatus: 503}))
			}
		}
		switch {
		case len(codes) > 0:
		case strings.Contains(answer, "HTTP 5xx without an errcode"):
			meanings = append(meanings, errcode.For(errcode.Answer{HTTPStatus: 502}), errcode.For(errcode.Answer{HTTPStatus: 500}))
		case strings.Contains(answer, "timeout"):
			meanings = append(meanings, errcode.For(errcode.Answer{Unknown: true}))
		default:
			t.Fatalf("outcome row %q names no answer the test knows", answer)
		}
		for _, m := range meanings {
			if m.Outcome != want {
				t.Errorf("%q: the table's outcome is %+v, README's row says %+v (%s; %s)", answer, m.Outcome, want, message, credit)
			}
			if a := answerOf.FindStringSubmatch(message); a != nil && (strconv.Itoa(m.HTTPStatus) != a[1] || m.Code != a[2]) {
				t.Errorf("%q: the table answers %d %s, README's row says %s %s", answer, m.HTTPStatus, m.Code, a[1], a[2])
			}
		}
	}
	for _, c := range errcode.Codes() {
		if !documented[c] {
			t.Errorf("errcode %d is in the table but not in README's outcome table", c)
		}
	}
}

// TestTheSendAnswersAreTheREADMEs checks the table's HTTP answers against
// the README's row of POST /v1/messages: every "status `code` (errcodes)"
// it lists answers those errcodes with that status and code, every errcode
// of the table is listed with its answer, and every error the table can
// answer is listed.
func TestTheSendAnswersAreTheREADMEs(t *testing.T) {
	var row string
	for _, l := range strings.Split(readme(t), "\n") {
		if strings.HasPrefix(l, "| `POST /v1/messages` |") {
			row = l
			break
		}
	}
	if row == "" {
		t.Fatal("README has no row for POST /v1/messages")
	}
	type answer struct {
		status int
		code   string
	}
	listed := map[answer]bool{}
	documented := map[int]answer{}
	pairs := regexp.MustCompile("(\\d{3}) `([a-z_]+)`(?: \\(([^)]*)\\))?")
	for _, m := range pairs.FindAllStringSubmatch(row, -1) {
		status, _ := strconv.Atoi(m[1])
		a := answer{status, m[2]}
		listed[a] = true
		for _, c := range codesIn(t, m[3]) {
			got := withCode(c)
			if (answer{got.HTTPStatus, got.Code}) != a {
				t.Errorf("README answers errcode %d with %d %s; the table with %d %s", c, a.status, a.code, got.HTTPStatus, got.Code)
			}
			if prev, ok := documented[c]; ok {
				t.Errorf("README lists errcode %d under %v and %v", c, prev, a)
			}
			documented[c] = a
		}
	}
	for _, c := range errcode.Codes() {
		if _, ok := documented[c]; !ok {
			m := withCode(c)
			t.Errorf("errcode %d (answered %d %s) is not in README's row of POST /v1/messages", c, m.HTTPStatus, m.Code)
		}
	}
	for _, m := range []errcode.Meaning{errcode.Other, errcode.Throttled, errcode.ServerError, errcode.Gateway,
		errcode.Unreachable, errcode.NoAnswer, errcode.NoToken} {
		if !m.Failed() || !listed[answer{m.HTTPStatus, m.Code}] {
			t.Errorf("the table answers %d %s, which README's row of POST /v1/messages does not list", m.HTTPStatus, m.Code)
		}
	}
}
