package wechatsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wxsub/wxsub/shared/wxpush"
)

func (s *Sim) routes() {
	for path, h := range map[string]apiHandler{
		PathToken:        s.classicToken,
		PathStableToken:  s.stableToken,
		PathCode2Session: s.code2Session,
		PathSend:         s.send(true),
		PathBizSend:      s.send(false),
		PathGetTemplate:  s.getTemplate,
		PathGetCategory:  s.getCategory,
		PathPubKeywords:  s.pubTemplateKeywords,
		PathQuotaGet:     s.quotaGet,
		PathClearQuota:   s.clearQuota,
		PathClearQuotaV2: s.clearQuotaV2,
		PathRIDGet:       s.ridGet,
		PathOAuthToken:   s.oauthToken,
		PathGetTicket:    s.getTicket,
	} {
		s.mux.Handle(path, s.api(path, h))
	}
	s.mux.HandleFunc("GET /__sim/config", s.handleConfig)
	s.mux.HandleFunc("POST /__sim/login", s.handleLogin)
	s.mux.HandleFunc("POST /__sim/popup", s.handlePopup)
	s.mux.HandleFunc("POST /__sim/switch", s.handleSwitch)
	s.mux.HandleFunc("GET /__sim/inbox", s.handleInbox)
	s.mux.HandleFunc("POST /__sim/tokens/invalidate", s.handleInvalidate)
	s.mux.HandleFunc("POST /__sim/faults", s.handleFaults)
	s.mux.HandleFunc("GET /__sim/faults", s.handleListFaults)
	s.mux.HandleFunc("DELETE /__sim/faults", s.handleClearFaults)
	s.mux.HandleFunc("POST /__sim/settings", s.handleSettings)
	s.mux.HandleFunc("GET /__sim/stats", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Stats()) })
	s.mux.HandleFunc("POST /__sim/reset", s.handleReset)
	s.mux.HandleFunc("GET /__sim/clock", s.handleClock)
	s.mux.HandleFunc("POST /__sim/clock", s.handleClock)
	s.mux.HandleFunc("POST /__sim/quota", s.handleQuota)
	s.mux.HandleFunc("GET /connect/oauth2/authorize", s.handleAuthorize)
	s.mux.HandleFunc("GET /__sim/jweixin.js", s.handleJWeixin)
	s.mux.HandleFunc("POST /__sim/jssdk/verify", s.handleVerifyConfig)
	s.mux.HandleFunc("POST /__sim/tickets/invalidate", s.handleInvalidateTickets)
}

// decodeControl strictly decodes the JSON object of a control request into
// v; an empty body counts as {}. On failure it answers 400 and reports false.
func (s *Sim) decodeControl(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := s.readBody(w, r)
	if err == nil && len(bytes.TrimSpace(body)) > 0 {
		d := json.NewDecoder(bytes.NewReader(body))
		d.DisallowUnknownFields()
		if err = d.Decode(v); err == nil && d.Decode(&struct{}{}) != io.EOF {
			err = errors.New("more than one JSON value")
		}
	}
	if err != nil {
		controlError(w, http.StatusBadRequest, "bad JSON body: "+err.Error())
		return false
	}
	return true
}

// controlError answers a control request with {"error":msg}.
func controlError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}

// handleConfig serves GET /__sim/config.
func (s *Sim) handleConfig(w http.ResponseWriter, _ *http.Request) {
	type kw struct {
		Key  string   `json:"key"`
		Name string   `json:"name"`
		Type string   `json:"type"`
		Enum []string `json:"enum,omitempty"`
	}
	type tmpl struct {
		ID       string `json:"id"`
		Title    string `json:"title"`
		Type     int    `json:"type"`
		Keywords []kw   `json:"keywords"`
	}
	cfg := s.Config()
	ts := make([]tmpl, len(cfg.Templates))
	for i, t := range cfg.Templates {
		ts[i] = tmpl{ID: t.ID, Title: t.Title, Type: t.Type, Keywords: make([]kw, len(t.Keywords))}
		for j, k := range t.Keywords {
			ts[i].Keywords[j] = kw{k.Key, k.Name, keywordType(k.Key), k.Enum}
		}
	}
	writeJSON(w, http.StatusOK, struct {
		AppID          string `json:"appid"`
		Secret         string `json:"secret"`
		Kind           string `json:"kind"`
		PushToken      string `json:"push_token"`
		EncodingAESKey string `json:"encoding_aes_key"`
		PushURL        string `json:"push_url"`
		Templates      []tmpl `json:"templates"`
	}{cfg.AppID, cfg.Secret, cfg.Kind, cfg.PushToken, cfg.EncodingAESKey, cfg.PushURL, ts})
}

// handleLogin serves POST /__sim/login {"openid"?} → {"code","openid"}.
func (s *Sim) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req struct {
		OpenID string `json:"openid"`
	}
	if !s.decodeControl(w, r, &req) {
		return
	}
	code, openid, err := s.Login(req.OpenID)
	if err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Code   string `json:"code"`
		OpenID string `json:"openid"`
	}{code, openid})
}

// PopupResult is what wx.requestSubscribeMessage gives the mini-program:
// on success {"errMsg":"requestSubscribeMessage:ok","<tmplId>":"accept",…},
// on failure {"errMsg":"requestSubscribeMessage:fail …","errCode":N}.
type PopupResult map[string]any

// Popup failure codes of wx.requestSubscribeMessage.
var popupFailures = map[int]string{
	10001: "TmplIds can't be empty",
	20001: "No template data return, verify the template id exist",
	20002: "Templates type must be same",
	20003: "Templates count out of max bounds",
	20004: "The main switch is switched off",
}

const maxPopupTemplates = 5

// popupStatuses are the answers a popup gives for one template. Every
// status that starts with "accept" is an accept: acceptWithAudio when the
// user also turned the voice reminder on
// (https://developers.weixin.qq.com/miniprogram/dev/framework/open-ability/subscribe-message.html),
// acceptWithAlert and acceptWithForcePush for the strong reminders (WeChat
// staff: https://developers.weixin.qq.com/community/develop/doc/000688a17e8448fdde819bcf567000).
var popupStatuses = []string{"accept", "acceptWithAudio", "acceptWithAlert", "acceptWithForcePush", "reject", "ban", "filter"}

// isAccept reports whether a popup status is an accept.
func isAccept(status string) bool { return strings.HasPrefix(status, "accept") }

// A PopupRequest is one call of wx.requestSubscribeMessage, as the Sim's
// user answers it.
type PopupRequest struct {
	OpenID string
	// Results maps each template id to the user's answer: "accept" (or
	// acceptWithAudio, acceptWithAlert, acceptWithForcePush), "reject",
	// "ban" or "filter".
	Results map[string]string
	// TmplIDs may name more templates asked for, without an answer: only
	// templates whose choice is kept ("always keep this choice") may be
	// named so, since no popup asks the user about them.
	TmplIDs []string
	// Keep ticks "always keep this choice" (总是保持以上选择): the accept
	// or reject given for each template here is answered by every later
	// call for it, without a popup.
	Keep bool
}

// Popup simulates openid tapping the subscription popup: results maps each
// template id to "accept" (or one of its variants), "reject", "ban" or
// "filter". It is PopupWith without kept choices being made.
func (s *Sim) Popup(openid string, results map[string]string) (PopupResult, error) {
	return s.PopupWith(PopupRequest{OpenID: openid, Results: results})
}

// PopupWith simulates one call of wx.requestSubscribeMessage. An accept adds
// one credit to a one-time template and subscribes a long-term one; a reject
// leaves earlier one-time credits alone but stops a long-term template; a
// ban (the platform banned the template) makes sends answer 43107 until the
// next accept, keeping the credits; a filter changes nothing. The accept and
// reject taps are pushed as a subscribe_msg_popup_event.
//
// A template whose choice was kept (Keep on an earlier call) shows no popup:
// the call answers the kept choice whatever Results says, and a kept accept
// still adds one one-time credit per call, as developers report of WeChat
// (https://developers.weixin.qq.com/community/develop/doc/000002fff4c4e85736718b47561c00:
// ticking the box only skips the popup; each call still subscribes once).
// Whether WeChat pushes a popup event for such a silent answer is not
// documented: SetPushSilentGrants decides (default true).
//
// Requests wx.requestSubscribeMessage itself would refuse (no ids, more than
// 5, an unknown id, one-time and long-term mixed, main switch off) return its
// fail object and change nothing. The error is for a malformed call: no
// openid, an unknown choice, or a template named without an answer that is
// not kept.
func (s *Sim) PopupWith(req PopupRequest) (PopupResult, error) {
	res, jobs, err := s.popup(req)
	for _, j := range jobs {
		s.pusher.release(j)
	}
	return res, err
}

func (s *Sim) popup(req PopupRequest) (PopupResult, []*pushJob, error) {
	openid, results := req.OpenID, req.Results
	if openid == "" {
		return nil, nil, errors.New("wechatsim: popup needs an openid")
	}
	statuses, scene := popupStatuses, 0
	if s.officialAccount() {
		statuses, scene = openTagStatuses, popupSceneWebPage
	}
	for id, st := range results {
		if !slices.Contains(statuses, st) {
			return nil, nil, fmt.Errorf("wechatsim: popup result %q for %s: want one of %s", st, id, strings.Join(statuses, ", "))
		}
	}
	asked := map[string]bool{}
	for id := range results {
		asked[id] = true
	}
	for _, id := range req.TmplIDs {
		asked[id] = true
	}
	ids := make([]string, 0, len(asked))
	for id := range asked {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	fail := func(code int) (PopupResult, []*pushJob, error) {
		if s.officialAccount() {
			return PopupResult{"errMsg": "subscribe:fail " + popupFailures[code], "errCode": code}, nil, nil
		}
		return PopupResult{"errMsg": "requestSubscribeMessage:fail " + popupFailures[code], "errCode": code}, nil, nil
	}
	switch {
	case len(ids) == 0:
		return fail(10001)
	case len(ids) > maxPopupTemplates:
		return fail(20003)
	}
	kinds := map[int]bool{}
	for _, id := range ids {
		t := s.templates[id]
		if t == nil {
			return fail(20001)
		}
		kinds[t.Type] = true
	}
	if len(kinds) > 1 {
		return fail(20002)
	}

	s.mu.Lock()
	u := s.st.user(openid)
	if u.mainOff {
		s.mu.Unlock()
		return fail(20004)
	}
	for _, id := range ids {
		if _, answered := results[id]; !answered && u.kept[id] == "" {
			s.mu.Unlock()
			return nil, nil, fmt.Errorf("wechatsim: popup names %s without a result, and its choice is not kept", id)
		}
	}
	pushSilent := s.st.pushSilentGrants
	res := PopupResult{"errMsg": "requestSubscribeMessage:ok"}
	var items []wxpush.Item
	for _, id := range ids {
		st, silent := results[id], false
		if kept := u.kept[id]; kept != "" {
			st, silent = kept, true // no popup: the kept choice answers
		} else if req.Keep && (isAccept(st) || st == "reject") {
			u.kept[id] = st
		}
		res[id] = st
		if st == "filter" || st == "cancel" {
			continue
		}
		sub := u.subs[id]
		if sub == nil {
			sub = &subscription{}
			u.subs[id] = sub
		}
		sub.status = st
		if isAccept(st) {
			sub.status = "accept"
			if s.templates[id].Type == OneTime {
				sub.credits++
			}
		}
		if (isAccept(st) || st == "reject") && (!silent || pushSilent) {
			items = append(items, wxpush.Item{TemplateID: id, Status: st, PopupScene: scene})
		}
	}
	s.mu.Unlock()
	if s.officialAccount() {
		res = openTagDetail(res)
	}
	return res, s.pusher.prepare(openid, wxpush.EventPopup, items), nil
}

// SetPushSilentGrants sets whether a call answered by a kept choice ("always
// keep this choice") pushes a subscribe_msg_popup_event for it (default
// true). WeChat does not document it; with false, a backend that counts
// credits from pushes alone misses the credits such calls add.
func (s *Sim) SetPushSilentGrants(push bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.pushSilentGrants = push
}

// handlePopup serves POST /__sim/popup
// {"openid","results":{"<id>":"accept"},"tmpl_ids"?,"keep"?}.
func (s *Sim) handlePopup(w http.ResponseWriter, r *http.Request) {
	var req struct {
		OpenID  string            `json:"openid"`
		Results map[string]string `json:"results"`
		TmplIDs []string          `json:"tmpl_ids"`
		Keep    bool              `json:"keep"`
	}
	if !s.decodeControl(w, r, &req) {
		return
	}
	if req.OpenID == "" && s.officialAccount() {
		// The stand-in JS-SDK's button: the browser's WeChat user.
		req.OpenID = browserUser(r)
	}
	res, jobs, err := s.popup(PopupRequest{OpenID: req.OpenID, Results: req.Results, TmplIDs: req.TmplIDs, Keep: req.Keep})
	if err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, res)
	for _, j := range jobs {
		s.pusher.release(j)
	}
}

// handleSettings serves POST /__sim/settings {"push_silent_grants":bool}
// and answers the settings.
func (s *Sim) handleSettings(w http.ResponseWriter, r *http.Request) {
	var req struct {
		PushSilentGrants *bool `json:"push_silent_grants"`
	}
	if !s.decodeControl(w, r, &req) {
		return
	}
	if req.PushSilentGrants == nil {
		controlError(w, http.StatusBadRequest, `settings needs {"push_silent_grants":true|false}`)
		return
	}
	s.SetPushSilentGrants(*req.PushSilentGrants)
	writeJSON(w, http.StatusOK, struct {
		PushSilentGrants bool `json:"push_silent_grants"`
	}{*req.PushSilentGrants})
}

// SwitchOff simulates openid switching templateID off in the mini-program's
// settings: its one-time credits drop to 0, a long-term template stops, and
// a subscribe_msg_change_event with reject is pushed.
func (s *Sim) SwitchOff(openid, templateID string) error {
	jobs, err := s.switchOff(openid, templateID)
	for _, j := range jobs {
		s.pusher.release(j)
	}
	return err
}

func (s *Sim) switchOff(openid, templateID string) ([]*pushJob, error) {
	if openid == "" || s.templates[templateID] == nil {
		return nil, fmt.Errorf("wechatsim: switch needs an openid and a known template_id, got %q", templateID)
	}
	s.mu.Lock()
	sub := s.st.user(openid).subs[templateID]
	if sub == nil {
		sub = &subscription{}
		s.st.users[openid].subs[templateID] = sub
	}
	sub.credits, sub.status = 0, "reject"
	if u := s.st.users[openid]; u.kept[templateID] != "" {
		u.kept[templateID] = "reject" // the settings page now shows it off
	}
	s.mu.Unlock()
	return s.pusher.prepare(openid, wxpush.EventChange, []wxpush.Item{{TemplateID: templateID, Status: "reject"}}), nil
}

// SetMainSwitch simulates openid turning the main switch of subscription
// messages off or back on. Off zeroes every credit, stops every long-term
// template, pushes a change event rejecting each template that could still
// be sent, and makes popups fail with 20004 until it is turned on again.
func (s *Sim) SetMainSwitch(openid string, on bool) error {
	jobs, err := s.setMainSwitch(openid, on)
	for _, j := range jobs {
		s.pusher.release(j)
	}
	return err
}

func (s *Sim) setMainSwitch(openid string, on bool) ([]*pushJob, error) {
	if openid == "" {
		return nil, errors.New("wechatsim: switch needs an openid")
	}
	s.mu.Lock()
	u := s.st.user(openid)
	u.mainOff = !on
	var items []wxpush.Item
	if !on {
		ids := make([]string, 0, len(u.subs))
		for id := range u.subs {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			sub := u.subs[id]
			if sub.credits > 0 || sub.status == "accept" {
				items = append(items, wxpush.Item{TemplateID: id, Status: "reject"})
			}
			sub.credits, sub.status = 0, "reject"
		}
	}
	s.mu.Unlock()
	return s.pusher.prepare(openid, wxpush.EventChange, items), nil
}

// handleSwitch serves POST /__sim/switch {"openid","template_id"?,"main_switch_off"?}.
func (s *Sim) handleSwitch(w http.ResponseWriter, r *http.Request) {
	var req struct {
		OpenID        string `json:"openid"`
		TemplateID    string `json:"template_id"`
		MainSwitchOff *bool  `json:"main_switch_off"`
	}
	if !s.decodeControl(w, r, &req) {
		return
	}
	var jobs []*pushJob
	var err error
	switch {
	case req.TemplateID != "" && req.MainSwitchOff != nil:
		err = errors.New("wechatsim: switch takes template_id or main_switch_off, not both")
	case req.TemplateID != "":
		jobs, err = s.switchOff(req.OpenID, req.TemplateID)
	case req.MainSwitchOff != nil:
		jobs, err = s.setMainSwitch(req.OpenID, !*req.MainSwitchOff)
	default:
		err = errors.New("wechatsim: switch needs template_id or main_switch_off")
	}
	if err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	u := s.st.users[req.OpenID]
	credits := make(map[string]int)
	for id, sub := range u.subs {
		if s.templates[id].Type == OneTime {
			credits[id] = sub.credits
		}
	}
	mainOn := !u.mainOff
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct {
		OpenID     string         `json:"openid"`
		MainSwitch bool           `json:"main_switch"`
		Credits    map[string]int `json:"credits"`
	}{req.OpenID, mainOn, credits})
	for _, j := range jobs {
		s.pusher.release(j)
	}
}

// handleInbox serves GET /__sim/inbox?openid=.
func (s *Sim) handleInbox(w http.ResponseWriter, r *http.Request) {
	openid := r.URL.Query().Get("openid")
	if openid == "" {
		controlError(w, http.StatusBadRequest, "inbox needs ?openid=")
		return
	}
	msgs := s.Inbox(openid)
	if msgs == nil {
		msgs = []Delivered{}
	}
	writeJSON(w, http.StatusOK, struct {
		Messages []Delivered `json:"messages"`
	}{msgs})
}

// handleInvalidate serves POST /__sim/tokens/invalidate.
func (s *Sim) handleInvalidate(w http.ResponseWriter, r *http.Request) {
	if !s.decodeControl(w, r, &struct{}{}) {
		return
	}
	s.InvalidateTokens()
	writeJSON(w, http.StatusOK, struct {
		Invalidated bool `json:"invalidated"`
	}{true})
}

// handleFaults serves POST /__sim/faults.
func (s *Sim) handleFaults(w http.ResponseWriter, r *http.Request) {
	var f Fault
	if !s.decodeControl(w, r, &f) {
		return
	}
	if err := s.InjectFault(f); err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Path  string `json:"path"`
		Count int    `json:"count"`
	}{f.Path, max(f.Count, 1)})
}

// handleListFaults serves GET /__sim/faults: {"faults":[…]}, the rules still
// queued in the order they fire, each with the calls it has left.
func (s *Sim) handleListFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Faults []Fault `json:"faults"`
	}{s.Faults()})
}

// handleClearFaults serves DELETE /__sim/faults: {"cleared":N}.
func (s *Sim) handleClearFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Cleared int `json:"cleared"`
	}{s.ClearFaults()})
}

// handleReset serves POST /__sim/reset.
func (s *Sim) handleReset(w http.ResponseWriter, r *http.Request) {
	if !s.decodeControl(w, r, &struct{}{}) {
		return
	}
	s.Reset()
	writeJSON(w, http.StatusOK, struct {
		Reset bool `json:"reset"`
	}{true})
}

// handleClock serves GET /__sim/clock and POST /__sim/clock {"advance_ms":N}.
// GET with ?plus_ms=N also answers the time N ms from now as "plus", so that
// a shell script can name a time on the simulated clock (a reminder's
// send_at) with curl alone.
func (s *Sim) handleClock(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var req struct {
			AdvanceMS int64 `json:"advance_ms"`
		}
		if !s.decodeControl(w, r, &req) {
			return
		}
		if req.AdvanceMS < 0 {
			controlError(w, http.StatusBadRequest, "advance_ms must not be negative: the clock only moves forward")
			return
		}
		s.Advance(time.Duration(req.AdvanceMS) * time.Millisecond)
	}
	now := s.Now()
	answer := struct {
		Now  string `json:"now"`
		Plus string `json:"plus,omitempty"`
	}{Now: now.Format(time.RFC3339Nano)}
	if v := r.URL.Query().Get("plus_ms"); v != "" && r.Method == http.MethodGet {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 {
			controlError(w, http.StatusBadRequest, "plus_ms must be a whole number of milliseconds >= 0")
			return
		}
		answer.Plus = now.Add(time.Duration(ms) * time.Millisecond).UTC().Format(time.RFC3339)
	}
	writeJSON(w, http.StatusOK, answer)
}

// handleQuota serves POST /__sim/quota {"path","daily_limit"}.
func (s *Sim) handleQuota(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Path       string `json:"path"`
		DailyLimit *int64 `json:"daily_limit"`
	}
	if !s.decodeControl(w, r, &req) {
		return
	}
	if _, ok := apiLimits[req.Path]; !ok || req.DailyLimit == nil || *req.DailyLimit < 0 {
		controlError(w, http.StatusBadRequest, "quota needs a served WeChat API path and a daily_limit >= 0, e.g. "+
			`{"path":"`+PathSend+`","daily_limit":3}`)
		return
	}
	s.SetQuota(req.Path, *req.DailyLimit)
	writeJSON(w, http.StatusOK, struct {
		Path       string `json:"path"`
		DailyLimit int64  `json:"daily_limit"`
	}{req.Path, *req.DailyLimit})
}
