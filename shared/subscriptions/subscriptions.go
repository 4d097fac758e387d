// Package subscriptions records what users answered in the
// wx.requestSubscribeMessage popup and shows each user's ledger:
// POST and GET /v1/subscriptions for the mini-program (session auth) and
// GET /v1/users/{openid}/subscriptions for business backends (IAM).
package subscriptions

import (
	"context"
	"encoding/json"
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
	Result  map[string]json.RawMessage `json:"result"`
	Results []reportResult             `json:"results"`
	Scene   json.RawMessage            `json:"scene"`
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
func parseReport(body reportRequest) (taps []tapOf, mainSwitchOff bool, err error) {
	bad := func(code, format string, args ...any) error {
		return httpapi.Errorf(http.StatusBadRequest, code, format, args...)
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
	taps, off, err := parseReport(body)
	if err != nil {
		return httpapi.Response{}, err
	}
	if off {
		return h.mainSwitchOff(ctx, sess.OpenID)
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
		k := store.RowKey{AppID: h.AppID, OpenID: sess.OpenID, TemplateID: t.templateID}
		var row ledger.Row
		var err error
		if t.tap == ledger.TapAccept {
			// WeChat's popup event may report the same tap: they count once.
			var paired bool
			row, paired, err = h.Store.ApplyAccept(ctx, k, kinds[i], ledger.FromClient)
			if err == nil && kinds[i] == ledger.OneTime && !paired {
				granted++
			}
		} else {
			row, err = h.Store.ApplyTap(ctx, k, kinds[i], ledger.OnTap(kinds[i], t.tap))
		}
		if err != nil {
			return httpapi.Response{}, fmt.Errorf("record %s for template %s: %w", t.tap, t.templateID, err)
		}
		e := reportEntry{TemplateID: t.templateID, Status: string(row.Status)}
		if row.Status == ledger.StatusNone {
			e.Status = string(t.tap) // a filter on a template never answered before
		}
		if row.Kind != ledger.LongTerm {
			c := row.Credits
			e.Credits = &c
		}
		ans.Subscriptions = append(ans.Subscriptions, e)
	}
	h.countGrants(ctx, granted)
	h.Logger.InfoContext(ctx, "subscriptions reported", "appid", h.AppID, "templates", len(taps))
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
