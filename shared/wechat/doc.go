// Package wechat is a typed HTTP client for the WeChat APIs that wxsub uses:
// access tokens (classic and stable), jscode2session, subscription-message
// sending for mini-programs and Official Accounts, template management,
// quotas and request-id look-ups.
//
// The client never fetches or caches an access token on its own: every call
// that needs one takes it as an argument. It never retries either; callers
// own the quotas and credits and decide what to do with a failure. Every
// failure is a *Error, and ClassOf sorts it into the few classes that decide
// what a caller does next.
//
// Errors never carry an access token, AppSecret or login code: queries are
// removed from URLs in transport errors and such values are blanked out of
// WeChat's error messages.
package wechat
