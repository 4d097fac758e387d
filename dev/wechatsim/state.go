package wechatsim

import (
	"time"
)

// state is everything Reset clears. It is guarded by Sim.mu.
type state struct {
	tokens        map[string]*token
	lastClassic   *token // newest classic token
	stable        *token // current stable token
	lastForce     time.Time
	forceDay      string // Shanghai date of forceToday
	forceToday    int
	forceTotal    int
	issuedClassic int
	issuedStable  int

	codes map[string]*loginCode
	users map[string]*user

	tickets       map[string]*jsTicket // jsapi_tickets issued (official accounts)
	issuedTickets int

	calls      map[string]int64 // every call per API path, faults included
	limits     map[string]int64 // daily limit overrides
	used       map[string]int64 // admitted calls today per path
	usedDay    string           // Shanghai date of used
	clearMonth string           // Shanghai month of clears
	clears     int

	faults    map[string][]*fault
	rids      map[string]*ridRecord
	ridOrder  []string
	delivered int64

	pushSilentGrants bool // push popup events for calls a kept choice answers
}

func newState() *state {
	return &state{
		tokens: make(map[string]*token),
		codes:  make(map[string]*loginCode),

		tickets: make(map[string]*jsTicket),
		users:   make(map[string]*user),
		calls:   make(map[string]int64),
		limits:  make(map[string]int64),
		used:    make(map[string]int64),
		faults:  make(map[string][]*fault),
		rids:    make(map[string]*ridRecord),

		pushSilentGrants: true,
	}
}

// A user is one openid of the app.
type user struct {
	subs     map[string]*subscription // by template id
	mainOff  bool                     // the user switched all subscription messages off
	kept     map[string]string        // template id → the choice kept ("always keep this choice")
	inbox    []Delivered
	inFlight int // sends to this user being delivered now
}

// A subscription is what one user chose for one template.
type subscription struct {
	credits int    // one-time messages left
	status  string // last choice: accept, reject, ban ("" never chose)
}

// user returns the user of openid, creating it.
func (st *state) user(openid string) *user {
	u := st.users[openid]
	if u == nil {
		u = &user{subs: make(map[string]*subscription), kept: make(map[string]string)}
		st.users[openid] = u
	}
	return u
}

// sub returns the subscription of openid to templateID, or nil.
func (st *state) sub(openid, templateID string) *subscription {
	if u := st.users[openid]; u != nil {
		return u.subs[templateID]
	}
	return nil
}

// Delivered is a message WeChat accepted for a user.
type Delivered struct {
	MsgID            int64
	TemplateID       string
	Data             map[string]string // keyword key → value
	Page             string
	MiniprogramState string
	Lang             string
	SentAt           time.Time
}

// MarshalJSON writes d the way /__sim/inbox shows it: data as it was sent,
// {"thing1":{"value":"..."}}, and sent_at in RFC 3339.
func (d Delivered) MarshalJSON() ([]byte, error) {
	type value struct {
		Value string `json:"value"`
	}
	data := make(map[string]value, len(d.Data))
	for k, v := range d.Data {
		data[k] = value{v}
	}
	return marshal(struct {
		MsgID            int64            `json:"msgid"`
		TemplateID       string           `json:"template_id"`
		Data             map[string]value `json:"data"`
		Page             string           `json:"page"`
		MiniprogramState string           `json:"miniprogram_state,omitempty"`
		Lang             string           `json:"lang,omitempty"`
		SentAt           string           `json:"sent_at"`
	}{d.MsgID, d.TemplateID, data, d.Page, d.MiniprogramState, d.Lang, d.SentAt.Format(time.RFC3339)})
}

// Stats is what /__sim/stats reports.
type Stats struct {
	Calls          map[string]int64          `json:"calls"`           // per WeChat API path, faulted calls included
	ForceRefreshes int                       `json:"force_refreshes"` // stable tokens issued by force_refresh
	TokensIssued   TokenCounts               `json:"tokens_issued"`
	Credits        map[string]map[string]int `json:"credits"` // openid → one-time template id → credits
	Delivered      int64                     `json:"delivered"`
	Pushes         PushCounts                `json:"pushes"`
}

// TokenCounts counts the tokens issued by each token API.
type TokenCounts struct {
	Classic int `json:"classic"`
	Stable  int `json:"stable"`
}

// PushCounts counts event pushes.
type PushCounts struct {
	Delivered int64 `json:"delivered"` // pushes the receiver answered with 2xx
	Failed    int64 `json:"failed"`    // pushes given up after every attempt
	Attempts  int64 `json:"attempts"`  // HTTP requests made
}

// Stats returns the counters /__sim/stats reports.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	st := Stats{
		Calls:          make(map[string]int64, len(s.st.calls)),
		ForceRefreshes: s.st.forceTotal,
		TokensIssued:   TokenCounts{Classic: s.st.issuedClassic, Stable: s.st.issuedStable},
		Credits:        make(map[string]map[string]int),
		Delivered:      s.st.delivered,
	}
	for p, n := range s.st.calls {
		st.Calls[p] = n
	}
	for openid, u := range s.st.users {
		for id, sub := range u.subs {
			if t := s.templates[id]; t == nil || t.Type != OneTime {
				continue
			}
			if st.Credits[openid] == nil {
				st.Credits[openid] = make(map[string]int)
			}
			st.Credits[openid][id] = sub.credits
		}
	}
	s.mu.Unlock()
	st.Pushes = s.pusher.snapshot()
	return st
}
