// Package jssdk answers GET /v1/jssdk-config for an official account's web
// page: the appId, timestamp, nonceStr and signature that wx.config needs
// before <wx-open-subscribe> can be shown. The signature is made from the
// account's jsapi_ticket, which the token plane keeps.
package jssdk

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wxsub/wxsub/shared/httpapi"
	"github.com/wxsub/wxsub/shared/token"
	"github.com/wxsub/wxsub/shared/wechat"
)

// Handler is the jssdk function.
type Handler struct {
	AppID string
	// OfficialAccount is false for a mini-program, which has no JS-SDK:
	// the route then answers 404.
	OfficialAccount bool
	// Tickets is the jsapi_ticket plane (token.JSAPITicket).
	Tickets *token.Plane
	Logger  *slog.Logger
	// Now is the clock of the timestamp; nil means time.Now.
	Now func() time.Time
}

// Routes served by the handler.
func (h *Handler) Routes() httpapi.Router {
	return httpapi.Router{"GET /v1/jssdk-config": h.config}
}

// Handle is the Lambda entry point.
func (h *Handler) Handle(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	return h.Routes().HandleWith(ctx, req, h.Logger, "appid", h.AppID)
}

// Config is what wx.config takes besides jsApiList and openTagList.
type Config struct {
	AppID     string `json:"appId"`
	Timestamp int64  `json:"timestamp"`
	NonceStr  string `json:"nonceStr"`
	Signature string `json:"signature"`
}

// Signature is WeChat's JS-SDK signature: the SHA-1, in lower-case hex, of
// "jsapi_ticket=…&noncestr=…&timestamp=…&url=…" (the fields in this order,
// which is their ASCII order, with their raw values: nothing is escaped),
// over the page's URL without its #fragment (JS-SDK documentation,
// appendix 1, "JS-SDK使用权限签名算法":
// https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html).
func Signature(ticket, nonceStr string, timestamp int64, pageURL string) string {
	pageURL, _, _ = strings.Cut(pageURL, "#")
	sum := sha1.Sum([]byte("jsapi_ticket=" + ticket + "&noncestr=" + nonceStr +
		"&timestamp=" + strconv.FormatInt(timestamp, 10) + "&url=" + pageURL))
	return hex.EncodeToString(sum[:])
}

// MaxURL is the longest page URL signed.
const MaxURL = 4096

// nonce makes a nonceStr that names the ticket version it was signed
// with ("v<version>n" and 12 random letters and digits), so that a page
// whose wx.config WeChat refused can say which ticket failed.
func nonce(version int64) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 12)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[n.Int64()]
	}
	return "v" + strconv.FormatInt(version, 10) + "n" + string(b)
}

var nonceShape = regexp.MustCompile(`^v([0-9]{1,18})n[A-Za-z0-9]{12}$`)

// versionOf returns the ticket version a nonceStr of this package names.
func versionOf(nonceStr string) (int64, bool) {
	m := nonceShape.FindStringSubmatch(nonceStr)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	return v, err == nil
}

// config answers GET /v1/jssdk-config?url=<page URL>[&failed=<nonceStr>].
// failed is the nonceStr of a configuration WeChat refused (wx.error's
// "invalid signature"): if the ticket it was signed with is still the
// stored one, the ticket is fetched again once (within the token plane's
// force budget) before signing.
func (h *Handler) config(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	if !h.OfficialAccount {
		return httpapi.Response{}, httpapi.Errorf(http.StatusNotFound, "not_official_account",
			"the JS-SDK is for official accounts; this stack serves a mini-program (WECHAT_APP_KIND=miniprogram)")
	}
	page, err := pageURL(req.QueryStringParameters["url"])
	if err != nil {
		return httpapi.Response{}, err
	}
	tk, err := h.Tickets.Get(ctx)
	if err != nil {
		return httpapi.Response{}, ticketError(err)
	}
	if failed := req.QueryStringParameters["failed"]; failed != "" {
		v, ok := versionOf(failed)
		if !ok {
			return httpapi.Response{}, httpapi.Errorf(http.StatusBadRequest, "invalid_failed",
				"failed must be the nonceStr of the configuration wx.error refused, as this route answered it")
		}
		fresh, err := h.Tickets.ReportBad(ctx, token.Token{Version: v})
		switch {
		case errors.Is(err, token.ErrForceBudget):
			// The ticket was fetched again moments ago (or too often
			// today): a refused signature is then more likely a URL
			// other than the page's. Sign with the ticket as it is.
			h.Logger.WarnContext(ctx, "jsapi_ticket reported bad, not fetched again", "appid", h.AppID, "err", err)
		case err != nil:
			return httpapi.Response{}, ticketError(err)
		default:
			tk = fresh
		}
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	c := Config{AppID: h.AppID, Timestamp: now().Unix(), NonceStr: nonce(tk.Version)}
	c.Signature = Signature(tk.Value, c.NonceStr, c.Timestamp, page)
	resp := httpapi.JSON(http.StatusOK, c)
	resp.Headers["Cache-Control"] = "no-store"
	return resp, nil
}

// pageURL checks the url parameter: the page's absolute http(s) URL,
// exactly as location.href shows it; the fragment is dropped.
func pageURL(raw string) (string, error) {
	bad := func(msg string) error {
		return httpapi.Errorf(http.StatusBadRequest, "invalid_url", "url %s; pass encodeURIComponent(location.href.split('#')[0])", msg)
	}
	if raw == "" {
		return "", bad("is required")
	}
	page, _, _ := strings.Cut(raw, "#")
	if len(page) > MaxURL {
		return "", bad(fmt.Sprintf("must be at most %d characters", MaxURL))
	}
	u, err := url.Parse(page)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", bad("must be the page's absolute http or https URL")
	}
	if strings.ContainsAny(page, " \t\r\n") {
		return "", bad("must not hold white space")
	}
	return page, nil
}

// ticketError maps a failure to get the ticket to an answer.
func ticketError(err error) error {
	var noTok *token.NoTokenError
	if errors.As(err, &noTok) || errors.Is(err, token.ErrUnavailable) {
		return httpapi.Errorf(http.StatusServiceUnavailable, "ticket_unavailable",
			"wxsub has no valid jsapi_ticket right now; retry shortly")
	}
	var we *wechat.Error
	if errors.As(err, &we) {
		return httpapi.WeChatFailure(err)
	}
	return fmt.Errorf("jssdk: ticket: %w", err)
}
