package wechatsim

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// A Fault makes the next Count calls to a WeChat API path fail one way.
// Exactly one of ErrCode, HTTPStatus, Body, Drop and OmitMsgID may be set;
// Delay may come alone or with any of them.
//
// ErrCode, HTTPStatus and Body answer without processing the request (a
// send is not delivered), unless Deliver is set with one of them: then the
// send is processed first (delivered to the inbox, the credit spent, the
// sent event pushed) and answered with the fault, as a gateway error after
// WeChat did the work looks. Delay alone, Drop and OmitMsgID process it first:
// a delayed send is delivered and answered late; a dropped one is delivered
// and its connection closed without an answer; a send with OmitMsgID is
// delivered and answered {"errcode":0,"errmsg":"ok"} without its msgid, as
// WeChat's answers sometimes are (its sent event still carries the msgid).
//
// A fault stays queued until calls have used it up: one that no call reached
// still fires on a later call, in a later test or session too, until
// ClearFaults or Reset. Faults lists what is queued.
type Fault struct {
	Path       string        `json:"path"`
	ErrCode    int           `json:"errcode,omitempty"`     // HTTP 200 with this errcode
	HTTPStatus int           `json:"http_status,omitempty"` // this status with an HTML body
	Body       string        `json:"body,omitempty"`        // this raw body with HTTP 200
	Drop       bool          `json:"drop,omitempty"`        // close the connection unanswered
	OmitMsgID  bool          `json:"omit_msgid,omitempty"`  // a successful send answered without msgid
	Deliver    bool          `json:"deliver,omitempty"`     // with errcode, http_status or body: process the send, then answer that
	Delay      time.Duration `json:"-"`                     // wait before answering
	DelayMS    int64         `json:"delay_ms,omitempty"`    // Delay in the JSON form
	Count      int           `json:"count"`                 // calls affected; 0 → 1
}

type fault struct {
	Fault
	delay time.Duration
	left  int
}

// processes reports whether the faulted request is still carried out.
func (f *fault) processes() bool {
	return f.Deliver || f.ErrCode == 0 && f.HTTPStatus == 0 && f.Body == ""
}

// InjectFault queues f for its path. Faults for one path apply in the
// order they were injected.
func (s *Sim) InjectFault(f Fault) error {
	if _, ok := apiLimits[f.Path]; !ok {
		return fmt.Errorf("wechatsim: fault for unknown path %q", f.Path)
	}
	kinds := 0
	for _, set := range []bool{f.ErrCode != 0, f.HTTPStatus != 0, f.Body != "", f.Drop, f.OmitMsgID} {
		if set {
			kinds++
		}
	}
	delay := f.Delay + time.Duration(f.DelayMS)*time.Millisecond
	switch {
	case kinds > 1:
		return errors.New("wechatsim: a fault sets at most one of errcode, http_status, body, drop and omit_msgid")
	case kinds == 0 && delay <= 0:
		return errors.New("wechatsim: a fault needs errcode, http_status, body, drop, omit_msgid or delay_ms")
	case f.OmitMsgID && f.Path != PathSend && f.Path != PathBizSend:
		return fmt.Errorf("wechatsim: omit_msgid applies to %s and %s only", PathSend, PathBizSend)
	case f.Deliver && f.Path != PathSend && f.Path != PathBizSend:
		return fmt.Errorf("wechatsim: deliver applies to %s and %s only", PathSend, PathBizSend)
	case f.Deliver && f.ErrCode == 0 && f.HTTPStatus == 0 && f.Body == "":
		return errors.New("wechatsim: deliver needs the answer to give after delivering: errcode, http_status or body")
	case f.HTTPStatus != 0 && (f.HTTPStatus < 100 || f.HTTPStatus > 599):
		return fmt.Errorf("wechatsim: http_status %d is not an HTTP status", f.HTTPStatus)
	case f.Count < 0 || delay < 0:
		return errors.New("wechatsim: count and delay_ms must not be negative")
	}
	n := max(f.Count, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.faults[f.Path] = append(s.st.faults[f.Path], &fault{Fault: f, delay: delay, left: n})
	return nil
}

// Faults returns the faults still queued, path by path in the order they
// will fire, each with the calls it has left as its Count.
func (s *Sim) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	paths := make([]string, 0, len(s.st.faults))
	for p := range s.st.faults {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	out := []Fault{}
	for _, p := range paths {
		for _, f := range s.st.faults[p] {
			q := f.Fault
			q.Count = f.left
			q.DelayMS = f.delay.Milliseconds()
			q.Delay = f.delay
			out = append(out, q)
		}
	}
	return out
}

// ClearFaults drops every queued fault and returns how many there were.
func (s *Sim) ClearFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, q := range s.st.faults {
		n += len(q)
	}
	clear(s.st.faults)
	return n
}

// takeFault consumes one call of the first fault queued for path; s.mu must
// be held.
func (s *Sim) takeFault(path string) *fault {
	q := s.st.faults[path]
	if len(q) == 0 {
		return nil
	}
	f := q[0]
	if f.left--; f.left == 0 {
		s.st.faults[path] = q[1:]
	}
	return f
}

// writeFault answers a call that a fault stops before processing; an errcode
// answer is returned so that rid/get can find it like any other error.
func (s *Sim) writeFault(w http.ResponseWriter, f *fault) answer {
	switch {
	case f.ErrCode != 0:
		a := s.failCode(f.ErrCode)
		w.Header().Set("Content-Type", jsonContentType)
		w.Write(a.body)
		return a
	case f.HTTPStatus != 0:
		text := http.StatusText(f.HTTPStatus)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.HTTPStatus)
		fmt.Fprintf(w, "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
			f.HTTPStatus, text, f.HTTPStatus, text)
	default:
		w.Header().Set("Content-Type", jsonContentType)
		w.Write([]byte(f.Body))
	}
	return answer{}
}
