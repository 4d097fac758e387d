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
//	POST /__sim/popup              {"openid","results":{"<tmplId>":"accept"|"acceptWithAudio"|"acceptWithAlert"|
//	                               "acceptWithForcePush"|"reject"|"ban"|"filter"},"tmpl_ids"?,"keep"?}
//	                               → what wx.requestSubscribeMessage returns (its fail object too)
//	POST /__sim/settings           {"push_silent_grants":bool}: push calls a kept choice answers (default true)
//	POST /__sim/switch             {"openid","template_id"} or {"openid","main_switch_off":bool}
//	GET  /__sim/inbox?openid=      {"messages":[{"template_id","data","page","sent_at",…}]}
//	POST /__sim/tokens/invalidate  every token issued so far answers 40001
//	POST /__sim/faults             {"path","errcode"|"http_status"|"body"|"drop"|"omit_msgid","deliver"?,"delay_ms"?,"count"}
//	                               ("deliver":true with errcode, http_status or body: the send is
//	                               delivered, then answered with the fault)
//	GET  /__sim/faults             {"faults":[…]}: the rules still queued, each with the calls it has left
//	DELETE /__sim/faults           {"cleared":N}: drops every queued rule
//	POST /__sim/quota              {"path","daily_limit"}
//	POST /__sim/clock              {"advance_ms"} (GET reads the simulated time; ?plus_ms=N adds "plus", N ms later)
//	GET  /__sim/stats              calls per path, tokens issued, credits, deliveries, pushes
//	POST /__sim/reset              a fresh start with the same credentials, templates and push URL:
//	                               no tokens, users, kept choices, credits, inboxes, counters,
//	                               quota overrides, faults, rids or clock offset; settings back
//	                               to their defaults
//
// A fault rule stays queued until calls use it up, so one no call reached
// fires on a later call, in a later test or session too: GET /__sim/faults
// shows what is queued, DELETE /__sim/faults or a reset clears it.
//
// # Choices where WeChat's behaviour is not documented
//
//   - A force_refresh inside 30 s of the previous one returns the current
//     stable token unchanged (with its remaining expires_in) and does not
//     count toward the 20 a day; the 21st force refresh of a Shanghai day
//     answers 45009.
//   - A superseded classic token answers 40001 after its 5-minute overlap; a
//     token past its own expiry answers 42001, even inside the overlap.
//   - One-time credits: an accept (or any status starting with "accept")
//     adds one; a popup reject leaves earlier credits usable (each accept is
//     its own authorisation); switching the template off in settings
//     (/__sim/switch) or the main switch zeroes them. A filter changes
//     nothing.
//   - A ban is the platform's, not the user's choice ("'ban'表示已被后台封禁",
//     https://developers.weixin.qq.com/miniprogram/dev/api/open-api/subscribe-message/wx.requestSubscribeMessage.html):
//     sends of the template to that user answer 43107 (sendMessage.html:
//     "43107 订阅消息能力封禁") until the next accept; credits are kept. It is
//     modelled per user, since the popup reports it per call.
//   - "Always keep this choice" ("keep": true) is remembered per user and
//     template; later calls answer the kept choice with no popup, and a kept
//     accept adds a credit each time (community:
//     https://developers.weixin.qq.com/community/develop/doc/000002fff4c4e85736718b47561c00,
//     https://segmentfault.com/a/1190000040044128). Whether such calls are
//     pushed is not documented: push_silent_grants, default true.
//   - A popup WeChat would refuse (no ids, more than 5 ids, an unknown id,
//     one-time and long-term mixed, main switch off) answers HTTP 200 with
//     the fail object {"errMsg":"requestSubscribeMessage:fail …","errCode":N},
//     since that is what the mini-program sees; nothing changes.
//   - A send to an openid the Sim knows (from a popup or login), or to one
//     shaped like the openids it makes for this app (28 characters, "o" and
//     the app's 5-character prefix), is a send to a user of the app: 43101
//     when there is no subscription. Any other openid (malformed, or another
//     app's) answers 40003, as sendMessage.html describes 40003.
//   - 47003 names the first bad keyword in key order, "… is empty" for a
//     missing or empty value and "… invalid" for any other problem. Keys the
//     template does not have are ignored and not delivered: WeChat's 47003
//     answers reported by developers always name a template key. An unknown
//     miniprogram_state or lang also answers 47003.
//   - 43108 when a send to a user starts while another to the same user is
//     in flight (Config.SendLatency); the credit is spent when the send
//     starts, and the message reaches the inbox when it ends.
//   - subscribe/send answers a msgid (observed since 2021: silenceper/wechat
//     issue #758; royalrick/weapp pull request #114), unless an "omit_msgid"
//     fault says otherwise: WeChat's current send documentation lists only
//     errcode and errmsg. bizsend answers none (WxJava pull request #3142
//     reports one in practice; the Sim keeps the documented shape). The sent
//     event always carries the msgid.
//   - 43108's errmsg is the one developers report: "Cannot make concurrent
//     calls to the same OpenID, please try again".
//   - gettemplate's keywordEnumValueList names keywords as the content writes
//     them, "enum_string2.DATA", as WeChat's example does.
//   - JSON pushes carry CreateTime as a number and List as an object when
//     there is one item, an array when there are more, as developers report
//     real pushes; the items' numbers are strings, as in WeChat's examples.
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
//
// As an official account (Config.Kind = KindOfficialAccount), see
// officialaccount.go; the guesses there:
//   - Each ticket/getticket call issues a new jsapi_ticket and earlier ones
//     stay valid to their 7200 s: WeChat does not say whether a call replaces
//     the previous ticket. Its daily limit is not published; quota/get
//     reports 2000. A mini-program's token gets 48001 (no JS-SDK).
//   - wx.config's check (the stand-in JS-SDK's) accepts a signature made
//     from any ticket still valid, and answers "config:invalid signature",
//     the text developers meet; it does not check the page's domain.
//   - The authorize page asks nothing (snsapi_base) and remembers the
//     browser's user in a cookie; a web code is refused by jscode2session and
//     a wx.login code by sns/oauth2/access_token (40029).
//   - The open tag's success detail maps every template of the popup, and
//     "cancel" (the popup closed) changes nothing and pushes nothing.
package wechatsim
