// Package devlog makes the local stack's output readable by a person: log
// records as short text lines (time, level, message and the attributes that
// matter), and the functions' metrics summed into one line a minute instead
// of one JSON document per value. It is for `make run` only: in AWS the
// functions log JSON and write metrics in CloudWatch's Embedded Metric Format.
package devlog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Handler writes each record as one line:
//
//	16:20:31.042 INFO  request POST /v1/messages 200 12ms
//	16:20:31.050 WARN  quota low path=/cgi-bin/message/subscribe/send remain=900
//
// It honours the HandlerOptions' Level and ReplaceAttr (the backend's
// redaction of secrets and openids).
type Handler struct {
	opts   slog.HandlerOptions
	attrs  []slog.Attr
	groups []string

	mu  *sync.Mutex
	out io.Writer
}

// NewHandler returns a Handler writing to w; opts may be nil.
func NewHandler(w io.Writer, opts *slog.HandlerOptions) *Handler {
	h := &Handler{mu: &sync.Mutex{}, out: w}
	if opts != nil {
		h.opts = *opts
	}
	return h
}

// quiet are attributes left out of the lines: the same on every line of a
// local run (appid) or only useful to correlate with AWS's logs.
var quiet = map[string]bool{"appid": true, "request_id": true}

// Enabled reports whether the level is logged.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	min := slog.LevelInfo
	if h.opts.Level != nil {
		min = h.opts.Level.Level()
	}
	return l >= min
}

// WithAttrs returns a Handler that adds attrs to every line.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), h.replaced(attrs)...)
	return &c
}

// WithGroup returns a Handler whose later attributes are named group.key.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.groups = append(append([]string(nil), h.groups...), name)
	return &c
}

func (h *Handler) replaced(attrs []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, 0, len(attrs))
	for _, a := range attrs {
		if h.opts.ReplaceAttr != nil && a.Value.Kind() != slog.KindGroup {
			a = h.opts.ReplaceAttr(h.groups, a)
		}
		if a.Key == "" {
			continue
		}
		if len(h.groups) > 0 {
			a.Key = strings.Join(h.groups, ".") + "." + a.Key
		}
		out = append(out, a)
	}
	return out
}

// Handle writes the record's line.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	var b bytes.Buffer
	b.WriteString(r.Time.Format("15:04:05.000"))
	fmt.Fprintf(&b, " %-5s %s", r.Level.String(), r.Message)
	attrs := append([]slog.Attr(nil), h.attrs...)
	var own []slog.Attr
	r.Attrs(func(a slog.Attr) bool {
		own = append(own, a)
		return true
	})
	attrs = append(attrs, h.replaced(own)...)
	if r.Message == "request" {
		// The one line per request: route, status and duration first.
		var route, status, took string
		rest := attrs[:0:0]
		for _, a := range attrs {
			switch a.Key {
			case "route":
				route = a.Value.String()
			case "status":
				status = a.Value.String()
			case "duration_ms":
				took = a.Value.String() + "ms"
			default:
				rest = append(rest, a)
			}
		}
		fmt.Fprintf(&b, " %s %s %s", route, status, took)
		attrs = rest
	}
	for _, a := range attrs {
		writeAttr(&b, a)
	}
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.out.Write(b.Bytes())
	return err
}

func writeAttr(b *bytes.Buffer, a slog.Attr) {
	if quiet[a.Key] {
		return
	}
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, g := range v.Group() {
			g.Key = a.Key + "." + g.Key
			writeAttr(b, g)
		}
		return
	}
	s := v.String()
	if v.Kind() == slog.KindTime {
		s = v.Time().Format(time.RFC3339)
	}
	if s == "" {
		return
	}
	b.WriteByte(' ')
	b.WriteString(a.Key)
	b.WriteByte('=')
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '"' || r == '=' }) >= 0 {
		s = strconv.Quote(s)
	}
	b.WriteString(s)
}
