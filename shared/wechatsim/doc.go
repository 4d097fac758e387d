// Package wechatsim simulates the WeChat server APIs that a mini-program
// backend uses for subscription messages (订阅消息): access tokens (classic
// and stable), jscode2session, subscribe/send and bizsend, the template,
// quota and rid APIs, and signed, optionally encrypted event pushes.
//
// A Sim is an http.Handler. Its WeChat answers follow WeChat's habits: HTTP
// 200 with errcode and errmsg in the body, errmsg ending with
// " rid: xxxxxxxx-xxxxxxxx-xxxxxxxx", token and jscode2session successes
// without errcode. Time (token and code expiry, daily quotas, push
// timestamps) follows a simulated clock that Advance moves forward.
//
// Control endpoints, all JSON; a malformed request gets HTTP 400 and
// {"error":"…"}:
//
//	GET  /__sim/config             appid, secret, push_token, encoding_aes_key, push_url, templates
//	POST /__sim/login              {"openid"?} → {"code","openid"}: a wx.login code, single use, 5 min
//	POST /__sim/popup              {"openid","results":{"<tmplId>":"accept"|"reject"|"ban"|"filter"}}
//	                               → what wx.requestSubscribeMessage returns
//	POST /__sim/switch             {"openid","template_id"} or {"openid","main_switch_off":bool}
//	GET  /__sim/inbox?openid=      {"messages":[{"template_id","data","page","sent_at",…}]}
//	POST /__sim/tokens/invalidate  every token issued so far answers 40001
//	POST /__sim/faults             {"path","errcode"|"http_status"|"body"|"drop","delay_ms"?,"count"}
//	POST /__sim/quota              {"path","daily_limit"}
//	POST /__sim/clock              {"advance_ms"} (GET reads the simulated time)
//	GET  /__sim/stats              calls per path, tokens issued, credits, deliveries, pushes
//	POST /__sim/reset              a fresh start with the same credentials and templates
//
// # Choices where WeChat's behaviour is not documented
//
//   - A force_refresh inside 30 s of the previous one returns the current
//     stable token unchanged (with its remaining expires_in) and does not
//     count toward the 20 a day; the 21st force refresh of a Shanghai day
//     answers 45009.
//   - A superseded classic token answers 40001 after its 5-minute overlap; a
//     token past its own expiry answers 42001, even inside the overlap.
//   - One-time credits: an accept adds one; a popup reject leaves earlier
//     credits usable (each accept is its own authorisation); switching the
//     template off in settings (/__sim/switch) or the main switch zeroes them.
//     A ban stops sends of the template until the next accept. A filter
//     changes nothing.
//   - A popup WeChat would refuse (no ids, more than 5 ids, an unknown id,
//     one-time and long-term mixed, main switch off) answers HTTP 200 with
//     the fail object {"errMsg":"requestSubscribeMessage:fail …","errCode":N},
//     since that is what the mini-program sees; nothing changes.
//   - A popup or login registers the openid as a user of the app; a send to
//     any other openid answers 40003.
//   - 47003 names the first bad keyword in key order, "… is empty" for a
//     missing or empty value and "… invalid" for any other problem,
//     including keys the template does not have. An unknown
//     miniprogram_state or lang also answers 47003.
//   - 43108 when a send to a user starts while another to the same user is
//     in flight (Config.SendLatency); the credit is spent when the send
//     starts, and the message reaches the inbox when it ends.
//   - subscribe/send answers a msgid; bizsend does not (its msgid comes only
//     in the sent event).
//   - Pushes are made 3 times at most, each with a fresh timestamp, nonce
//     and signature (and in secure mode a fresh encryption) around the same
//     event, so receivers can de-duplicate on FromUserName and CreateTime.
//     Any non-2xx answer or transport error counts as a failure. Pushes for
//     one user are delivered in order.
//   - quota/get answers 76003 for a path without a leading "/", 76022 for
//     /sns/ paths, 76021 for paths the Sim does not serve; rate_limit is
//     reported, not enforced. Daily quota counts only admitted calls.
//   - rid/get knows the requests answered with an error (those carry a rid),
//     with access_token, secret and js_code blanked; 76004 after 7 days.
//   - A wx.login code expires after 5 minutes (40029), as WeChat documents
//     for wx.login.
package wechatsim
