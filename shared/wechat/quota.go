package wechat

import (
	"context"
	"net/http"
	"net/url"
)

// Quota is an API's daily quota and rate limits as openapi/quota/get reports them.
type Quota struct {
	DailyLimit         int64
	Used               int64
	Remain             int64
	RateLimit          RateLimit
	ComponentRateLimit RateLimit // the limit when a third-party platform calls
}

// RateLimit allows CallCount calls every RefreshSecond seconds.
type RateLimit struct {
	CallCount     int64
	RefreshSecond int64
}

type rateLimitAnswer struct {
	CallCount     number `json:"call_count"`
	RefreshSecond number `json:"refresh_second"`
}

func (r rateLimitAnswer) limit() RateLimit {
	return RateLimit{CallCount: int64(r.CallCount), RefreshSecond: int64(r.RefreshSecond)}
}

type quotaAnswer struct {
	Quota struct {
		DailyLimit number `json:"daily_limit"`
		Used       number `json:"used"`
		Remain     number `json:"remain"`
	} `json:"quota"`
	RateLimit          rateLimitAnswer `json:"rate_limit"`
	ComponentRateLimit rateLimitAnswer `json:"component_rate_limit"`
}

// Quota reports the quota of the API at cgiPath, e.g.
// "/cgi-bin/message/subscribe/send" (POST /cgi-bin/openapi/quota/get).
func (c *Client) Quota(ctx context.Context, accessToken, cgiPath string) (Quota, error) {
	var a quotaAnswer
	err := c.do(ctx, call{
		op:     "openapi/quota/get",
		method: http.MethodPost,
		path:   "/cgi-bin/openapi/quota/get",
		query:  withToken(accessToken),
		body: struct {
			CgiPath string `json:"cgi_path"`
		}{cgiPath},
		secrets: []string{accessToken},
	}, &a)
	if err != nil {
		return Quota{}, err
	}
	return Quota{
		DailyLimit:         int64(a.Quota.DailyLimit),
		Used:               int64(a.Quota.Used),
		Remain:             int64(a.Quota.Remain),
		RateLimit:          a.RateLimit.limit(),
		ComponentRateLimit: a.ComponentRateLimit.limit(),
	}, nil
}

// ClearQuota resets the daily quotas of the account appid
// (POST /cgi-bin/clear_quota). WeChat allows 10 resets a month, shared with
// ClearQuotaV2.
func (c *Client) ClearQuota(ctx context.Context, accessToken, appid string) error {
	return c.do(ctx, call{
		op:     "clear_quota",
		method: http.MethodPost,
		path:   "/cgi-bin/clear_quota",
		query:  withToken(accessToken),
		body: struct {
			AppID string `json:"appid"`
		}{appid},
		secrets: []string{accessToken},
	}, nil)
}

// ClearQuotaV2 resets the daily quotas with the AppSecret instead of a token
// (POST /cgi-bin/clear_quota/v2), which works when the token API's own quota
// is exhausted. The documentation disagrees on where the parameters go, so
// they are sent both in the query and in a JSON body.
func (c *Client) ClearQuotaV2(ctx context.Context, appid, secret string) error {
	return c.do(ctx, call{
		op:     "clear_quota/v2",
		method: http.MethodPost,
		path:   "/cgi-bin/clear_quota/v2",
		query:  url.Values{"appid": {appid}, "appsecret": {secret}},
		body: struct {
			AppID     string `json:"appid"`
			AppSecret string `json:"appsecret"`
		}{appid, secret},
		secrets: []string{secret},
	}, nil)
}

// RIDInfo is what WeChat recorded about a request, found by its rid.
// RequestURL may contain the access token that was used: do not log it.
type RIDInfo struct {
	InvokeTime   int64 // Unix seconds
	CostInMs     int64
	RequestURL   string
	RequestBody  string
	ResponseBody string
	ClientIP     string
}

type ridAnswer struct {
	Request struct {
		InvokeTime   number `json:"invoke_time"`
		CostInMs     number `json:"cost_in_ms"`
		RequestURL   string `json:"request_url"`
		RequestBody  string `json:"request_body"`
		ResponseBody string `json:"response_body"`
		ClientIP     string `json:"client_ip"`
	} `json:"request"`
}

// RID looks up a request by the rid of its error message
// (POST /cgi-bin/openapi/rid/get); WeChat keeps them for 7 days.
func (c *Client) RID(ctx context.Context, accessToken, rid string) (RIDInfo, error) {
	var a ridAnswer
	err := c.do(ctx, call{
		op:     "openapi/rid/get",
		method: http.MethodPost,
		path:   "/cgi-bin/openapi/rid/get",
		query:  withToken(accessToken),
		body: struct {
			RID string `json:"rid"`
		}{rid},
		secrets: []string{accessToken},
	}, &a)
	if err != nil {
		return RIDInfo{}, err
	}
	r := a.Request
	return RIDInfo{
		InvokeTime:   int64(r.InvokeTime),
		CostInMs:     int64(r.CostInMs),
		RequestURL:   r.RequestURL,
		RequestBody:  r.RequestBody,
		ResponseBody: r.ResponseBody,
		ClientIP:     r.ClientIP,
	}, nil
}
