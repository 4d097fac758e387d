// Package subscriptions records what users answered in the
// wx.requestSubscribeMessage popup and shows each user's ledger:
// POST and GET /v1/subscriptions for the mini-program (session auth) and
// GET /v1/users/{openid}/subscriptions for business backends (IAM).
package subscriptions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/wxsub/wxsub/shared/catalog"
	"github.com/wxsub/wxsub/shared/httpapi"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/metrics"
	"github.com/wxsub/wxsub/shared/sessiontoken"
	"github.com/wxsub/wxsub/shared/store"
)

// MaxTemplatesPerReport is the most template ids one report may carry
// (wx.requestSubscribeMessage takes at most 5).
const MaxTemplatesPerReport = 5

// Handler is the subscriptions function.
type Handler struct {
	AppID    string
	Store    *store.Store
	Catalog  *catalog.Catalog
	Sessions *sessiontoken.Signer
	Logger   *slog.Logger
	// Metrics receives CreditsGranted; nil for none.
	Metrics *metrics.Writer
	// PushOnly is WXSUB_CREDIT_SOURCE=push: a report records statuses but
	// grants no one-time credit; only WeChat's popup events do.
	PushOnly bool
	// OfficialAccount takes reports of <wx-open-subscribe>'s success detail
	// (errMsg "subscribe:ok", subscribeDetails) instead of
	// wx.requestSubscribeMessage's object.
	OfficialAccount bool
}

// Routes served by the handler.
func (h *Handler) Routes() httpapi.Router {
	return httpapi.Router{
		"POST /v1/subscriptions":               h.report,
		"GET /v1/subscriptions":                h.mine,
		"GET /v1/users/{openid}/subscriptions": h.user,
	}
}

// Handle is the Lambda entry point.
func (h *Handler) Handle(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	return h.Routes().HandleWith(ctx, req, h.Logger, "appid", h.AppID)
}

// Entry is one template of a user's ledger as the routes show it.
type Entry struct {
	TemplateID string  `json:"template_id"`
	Title      string  `json:"title,omitempty"`
	Type       string  `json:"type"`
	Status     *string `json:"status"`
	// Credits is null for long-term templates.
	Credits   *int64  `json:"credits"`
	UpdatedAt *string `json:"updated_at"`
}

func entry(r ledger.Row, title string) Entry {
	e := Entry{TemplateID: r.TemplateID, Title: title, Type: string(r.Kind)}
	if e.Type == "" {
		e.Type = string(ledger.OneTime)
	}
	if r.Status != ledger.StatusNone {
		s := string(r.Status)
		e.Status = &s
	}
	if r.Kind != ledger.LongTerm {
		c := r.Credits
		e.Credits = &c
	}
	if !r.UpdatedAt.IsZero() {
		u := r.UpdatedAt.UTC().Format(time.RFC3339)
		e.UpdatedAt = &u
	}
	return e
}

type reportRequest struct {
	Result   map[string]json.RawMessage `json:"result"`
	Results  []reportResult             `json:"results"`
	Scene    json.RawMessage            `json:"scene"`
	ReportID *string                    `json:"report_id"`
}

// MaxReportID is the longest report_id accepted.
const MaxReportID = 64

// validReportID reports whether id is 1-64 visible ASCII characters.
func validReportID(id string) bool {
	if len(id) < 1 || len(id) > MaxReportID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

type reportResult struct {
	TemplateID string `json:"template_id"`
	Status     string `json:"status"`
}

type tapOf struct {
	templateID string
	tap        ledger.Tap
}

// parseReport turns either accepted body shape into taps, or a 400 that says
// what to fix. mainSwitchOff is set for a failed call with errCode 20004.
// openTag takes an official account's <wx-open-subscribe> detail as the
// result, and its statuses (cancel besides the others).
func parseReport(body reportRequest, openTag bool) (taps []tapOf, mainSwitchOff bool, err error) {
	bad := func(code, format string, args ...any) error {
		return httpapi.Errorf(http.StatusBadRequest, code, format, args...)
	}
	if body.ReportID != nil && !validReportID(*body.ReportID) {
		return nil, false, bad("invalid_report_id",
			"report_id must be 1-%d visible ASCII characters, made once per popup result and reused on retry", MaxReportID)
	}
	if len(body.Scene) > 0 {
		var scene any
		if json.Unmarshal(body.Scene, &scene) != nil || !isScalar(scene) || len(body.Scene) > 64 {
			return nil, false, bad("invalid_scene", "scene must be a short string or number")
		}
	}
	switch {
	case body.Result != nil && body.Results != nil:
		return nil, false, bad("invalid_body", "send either result (the raw object of wx.requestSubscribeMessage) or results, not both")
	case body.Results != nil:
		for _, r := range body.Results {
			taps = append(taps, tapOf{templateID: r.TemplateID, tap: ledger.Tap(r.Status)})
		}
	case body.Result != nil:
		var errMsg string
		if raw, ok := body.Result["errMsg"]; ok {
			if json.Unmarshal(raw, &errMsg) != nil {
				return nil, false, bad("invalid_result", "result.errMsg must be a string")
			}
		}
		if raw, ok := body.Result["errCode"]; ok {
			var code int
			if json.Unmarshal(raw, &code) != nil {
				return nil, false, bad("invalid_result", "result.errCode must be a number")
			}
			if code == 20004 {
				return nil, true, nil
			}
			return nil, false, httpapi.Errorf(http.StatusUnprocessableEntity, "subscribe_failed",
				"wx.requestSubscribeMessage failed with errCode %d; only a success object or errCode 20004 (main switch off) can be recorded", code)
		}
		if openTag {
			if taps, err = openTagTaps(body.Result, errMsg); err != nil {
				return nil, false, err
			}
			break
		}
		if !strings.HasPrefix(errMsg, "requestSubscribeMessage:ok") {
			return nil, false, bad("invalid_result",
				`result must be the success object of wx.requestSubscribeMessage, with errMsg "requestSubscribeMessage:ok"`)
		}
		for k, raw := range body.Result {
			if k == "errMsg" {
				continue
			}
			var st string
			if json.Unmarshal(raw, &st) != nil {
				return nil, false, bad("invalid_status", "result.%s must be a string: accept (or a variant such as acceptWithAudio), reject, ban or filter", k)
			}
			taps = append(taps, tapOf{templateID: k, tap: ledger.Tap(st)})
		}
	default:
		return nil, false, bad("invalid_body", "send result (the raw object of wx.requestSubscribeMessage) or results")
	}
	if len(taps) == 0 {
		return nil, false, bad("invalid_body", "the report names no template")
	}
	if len(taps) > MaxTemplatesPerReport {
		return nil, false, bad("too_many_templates", "a report names at most %d templates, got %d", MaxTemplatesPerReport, len(taps))
	}
	seen := map[string]bool{}
	for i, t := range taps {
		if !httpapi.ValidTemplateID(t.templateID) {
			return nil, false, bad("invalid_template_id", "%q is not a template id (1-64 letters, digits, - or _)", t.templateID)
		}
		tap, ok := ledger.ParseTap(string(t.tap))
		if openTag && t.tap == ledger.TapCancel {
			tap, ok = ledger.TapCancel, true
		}
		if openTag && tap == ledger.TapBan {
			ok = false // the open tag's statuses are accept, reject, cancel and filter
		}
		if !ok && openTag {
			return nil, false, bad("invalid_status",
				"the status of %s must be accept, reject, cancel or filter, got %q", t.templateID, t.tap)
		}
		if !ok {
			return nil, false, bad("invalid_status",
				"the status of %s must be accept (or acceptWithAudio, acceptWithAlert, acceptWithForcePush), reject, ban or filter, got %q", t.templateID, t.tap)
		}
		taps[i].tap = tap
		if seen[t.templateID] {
			return nil, false, bad("duplicate_template", "template %s appears twice", t.templateID)
		}
		seen[t.templateID] = true
	}
	sort.Slice(taps, func(i, j int) bool { return taps[i].templateID < taps[j].templateID })
	return taps, false, nil
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, float64:
		return true
	}
	return false
}

type reportAnswer struct {
	Subscriptions []reportEntry `json:"subscriptions"`
}

type reportEntry struct {
	TemplateID string `json:"template_id"`
	Status     string `json:"status"`
	Credits    *int64 `json:"credits"`
}

func (h *Handler) report(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	sess, err := httpapi.Session(req, h.Sessions, h.AppID)
	if err != nil {
		return httpapi.Response{}, err
	}
	var body reportRequest
	if herr := httpapi.Decode(req, &body, 8<<10); herr != nil {
		return httpapi.Response{}, herr
	}
	taps, off, err := parseReport(body, h.OfficialAccount)
	if err != nil {
		return httpapi.Response{}, err
	}
	if body.ReportID != nil {
		// A retried report (same report_id) is the same popup result:
		// record it once, and answer every repeat the ledger as it stands.
		switch err := h.Store.ClaimReport(ctx, h.AppID, sess.OpenID, *body.ReportID); {
		case errors.Is(err, store.ErrClaimed):
			h.Logger.InfoContext(ctx, "subscriptions report repeated: nothing recorded", "appid", h.AppID)
			return h.current(ctx, sess.OpenID, taps, off)
		case err != nil:
			return httpapi.Response{}, err
		}
		resp, err := h.record(ctx, sess.OpenID, taps, off)
		if err != nil {
			if rerr := h.Store.ReleaseReport(context.WithoutCancel(ctx), h.AppID, sess.OpenID, *body.ReportID); rerr != nil {
				h.Logger.ErrorContext(ctx, "report failed and its report_id could not be released", "err", rerr)
			}
		}
		return resp, err
	}
	return h.record(ctx, sess.OpenID, taps, off)
}

// current answers a repeated report: the rows of the templates it names (of
// every answered template for a main switch off), unchanged.
func (h *Handler) current(ctx context.Context, openid string, taps []tapOf, off bool) (httpapi.Response, error) {
	rows, err := h.Store.UserRows(ctx, h.AppID, openid)
	if err != nil {
		return httpapi.Response{}, err
	}
	byID := map[string]ledger.Row{}
	for _, r := range rows {
		byID[r.TemplateID] = r
	}
	ans := reportAnswer{Subscriptions: []reportEntry{}}
	if off {
		for _, r := range rows {
			ans.Subscriptions = append(ans.Subscriptions, answerEntry(r, ""))
		}
		return httpapi.JSON(http.StatusOK, ans), nil
	}
	for _, t := range taps {
		r, ok := byID[t.templateID]
		if !ok {
			r = ledger.Row{TemplateID: t.templateID}
			if kind, err := h.Catalog.Kind(ctx, t.templateID); err == nil {
				r.Kind = kind
			}
		}
		ans.Subscriptions = append(ans.Subscriptions, answerEntry(r, ""))
	}
	return httpapi.JSON(http.StatusOK, ans), nil
}

// answerEntry is a row as a report's answer shows it; fallback is the status
// shown for a row never answered ("" for none).
func answerEntry(r ledger.Row, fallback ledger.Tap) reportEntry {
	e := reportEntry{TemplateID: r.TemplateID, Status: string(r.Status)}
	if r.Status == ledger.StatusNone {
		e.Status = string(fallback)
	}
	if r.Kind != ledger.LongTerm {
		c := r.Credits
		e.Credits = &c
	}
	return e
}

// record applies a report's taps (or a main switch off) to the user's rows.
func (h *Handler) record(ctx context.Context, openid string, taps []tapOf, off bool) (httpapi.Response, error) {
	if off {
		return h.mainSwitchOff(ctx, openid)
	}
	kinds := make([]ledger.Kind, len(taps))
	for i, t := range taps {
		tpl, found, synced, err := h.Catalog.Lookup(ctx, t.templateID)
		if err != nil {
			return httpapi.Response{}, err
		}
		if synced && !found {
			return httpapi.Response{}, httpapi.Errorf(http.StatusNotFound, "unknown_template",
				"template %s is not one of this app's templates (GET /v1/templates lists them)", t.templateID)
		}
		kinds[i] = ledger.KindOf(tpl.Type)
	}
	ans := reportAnswer{Subscriptions: []reportEntry{}}
	var granted int64
	for i, t := range taps {
		k := store.RowKey{AppID: h.AppID, OpenID: openid, TemplateID: t.templateID}
		var row ledger.Row
		var err error
		switch {
		case t.tap == ledger.TapAccept && h.PushOnly && kinds[i] == ledger.OneTime:
			// Only WeChat's popup event grants: the report records the status.
			row, err = h.Store.ApplyTap(ctx, k, kinds[i], ledger.Change{Status: ledger.Accept})
		case t.tap == ledger.TapAccept:
			// WeChat's popup event may report the same tap: they count once.
			var paired bool
			row, paired, err = h.Store.ApplyAccept(ctx, k, kinds[i], ledger.FromClient)
			if err == nil && kinds[i] == ledger.OneTime && !paired {
				granted++
			}
		default:
			row, err = h.Store.ApplyTap(ctx, k, kinds[i], ledger.OnTap(kinds[i], t.tap))
		}
		if err != nil {
			return httpapi.Response{}, fmt.Errorf("record %s for template %s: %w", t.tap, t.templateID, err)
		}
		// A filter on a template never answered before shows the filter.
		row.TemplateID = t.templateID
		ans.Subscriptions = append(ans.Subscriptions, answerEntry(row, t.tap))
	}
	h.countGrants(ctx, granted)
	h.Logger.InfoContext(ctx, "subscriptions reported", "appid", h.AppID, "templates", len(taps), "granted", granted)
	return httpapi.JSON(http.StatusOK, ans), nil
}

// mainSwitchOff records errCode 20004 on every template the user answered before.
func (h *Handler) mainSwitchOff(ctx context.Context, openid string) (httpapi.Response, error) {
	rows, err := h.Store.UserRows(ctx, h.AppID, openid)
	if err != nil {
		return httpapi.Response{}, err
	}
	ans := reportAnswer{Subscriptions: []reportEntry{}}
	for _, r := range rows {
		k := store.RowKey{AppID: h.AppID, OpenID: openid, TemplateID: r.TemplateID}
		row, err := h.Store.ApplyTap(ctx, k, r.Kind, ledger.OnTap(r.Kind, ledger.TapMainSwitchOff))
		if err != nil {
			return httpapi.Response{}, fmt.Errorf("record main switch off for %s: %w", r.TemplateID, err)
		}
		e := reportEntry{TemplateID: row.TemplateID, Status: string(row.Status)}
		if row.Kind != ledger.LongTerm {
			c := row.Credits
			e.Credits = &c
		}
		ans.Subscriptions = append(ans.Subscriptions, e)
	}
	return httpapi.JSON(http.StatusOK, ans), nil
}

func (h *Handler) mine(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	sess, err := httpapi.Session(req, h.Sessions, h.AppID)
	if err != nil {
		return httpapi.Response{}, err
	}
	return h.list(ctx, sess.OpenID)
}

func (h *Handler) user(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	openid := req.PathParameters["openid"]
	if !httpapi.ValidOpenID(openid) {
		return httpapi.Response{}, httpapi.Errorf(http.StatusBadRequest, "invalid_openid",
			"%q is not an openid (6-64 letters, digits, - or _)", openid)
	}
	return h.list(ctx, openid)
}

type listAnswer struct {
	OpenID        string  `json:"openid"`
	Subscriptions []Entry `json:"subscriptions"`
}

// Ledger lists every template of the app with the user's standing, plus any
// template the user answered that the catalogue does not list.
func (h *Handler) Ledger(ctx context.Context, openid string) ([]Entry, error) {
	rows, err := h.Store.UserRows(ctx, h.AppID, openid)
	if err != nil {
		return nil, err
	}
	templates, err := h.Catalog.All(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[string]ledger.Row{}
	for _, r := range rows {
		byID[r.TemplateID] = r
	}
	entries := []Entry{}
	for _, t := range templates {
		r, ok := byID[t.ID]
		if !ok {
			r = ledger.Row{TemplateID: t.ID}
		}
		r.Kind = ledger.KindOf(t.Type)
		entries = append(entries, entry(r, t.Title))
		delete(byID, t.ID)
	}
	for _, r := range rows {
		if _, left := byID[r.TemplateID]; left {
			entries = append(entries, entry(r, ""))
		}
	}
	return entries, nil
}

func (h *Handler) list(ctx context.Context, openid string) (httpapi.Response, error) {
	entries, err := h.Ledger(ctx, openid)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, listAnswer{OpenID: openid, Subscriptions: entries}), nil
}

// openTagTaps reads the success detail of an official account's
// <wx-open-subscribe> button: {"errMsg":"subscribe:ok","subscribeDetails":
// "<JSON string>"}, where subscribeDetails maps each template id to a JSON
// string holding {"status":"accept"} (a worked answer:
// https://segmentfault.com/a/1190000044178916). A value that is already an
// object, or a bare status string, is read too (clients that parsed it
// once).
func openTagTaps(result map[string]json.RawMessage, errMsg string) ([]tapOf, error) {
	bad := func(format string, args ...any) error {
		return httpapi.Errorf(http.StatusBadRequest, "invalid_result", format, args...)
	}
	if !strings.HasPrefix(errMsg, "subscribe:ok") {
		return nil, bad(`result must be the detail of <wx-open-subscribe>'s success event, with errMsg "subscribe:ok"`)
	}
	for k := range result {
		if k != "errMsg" && k != "subscribeDetails" {
			return nil, bad("result has an unknown field %q; send the success event's detail as it came", k)
		}
	}
	var text string
	if json.Unmarshal(result["subscribeDetails"], &text) != nil || text == "" {
		return nil, bad("result.subscribeDetails must be the JSON string the success event carries")
	}
	var details map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &details); err != nil || details == nil {
		return nil, bad("result.subscribeDetails must hold a JSON object of template ids")
	}
	var taps []tapOf
	for id, raw := range details {
		st, ok := detailStatus(raw)
		if !ok {
			return nil, httpapi.Errorf(http.StatusBadRequest, "invalid_status",
				`result.subscribeDetails.%s must be a JSON string holding {"status":"accept|reject|cancel|filter"}`, id)
		}
		taps = append(taps, tapOf{templateID: id, tap: ledger.Tap(st)})
	}
	return taps, nil
}

// detailStatus reads one template's value of subscribeDetails.
func detailStatus(raw json.RawMessage) (string, bool) {
	var obj struct {
		Status *string `json:"status"`
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		if json.Unmarshal([]byte(text), &obj) == nil && obj.Status != nil {
			return *obj.Status, true
		}
		return text, !strings.HasPrefix(strings.TrimSpace(text), "{")
	}
	if json.Unmarshal(raw, &obj) == nil && obj.Status != nil {
		return *obj.Status, true
	}
	return "", false
}
