package localstack

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/wxsub/wxsub/dev/wechatsim"
)

// WalkThrough returns the shell session printed by `make run`: simulator login
// code → POST /v1/session → two accepts in the simulated popup, each reported
// to POST /v1/subscriptions → three sends (the third answers 409 no_credit) →
// GET /v1/subscriptions → the simulator's inbox → the template catalogue
// (GET /v1/templates) and the quotas (GET /v1/quota) → a reminder 65 seconds
// ahead on the simulator's clock, which the dispatcher sends at its time.
// It needs bash and curl only;
// the tests run it verbatim. It is empty when real WeChat is configured.
func (s *Stack) WalkThrough() string {
	if s.Sim == nil {
		return ""
	}
	if s.Config.OfficialAccount() {
		return s.officialAccountWalkThrough()
	}
	tpl, dataJSON := walkTemplate()
	field := func(name string) string {
		return fmt.Sprintf(`grep -o '"%s":"[^"]*"' | head -n1 | cut -d'"' -f4`, name)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "API=%s\nSIM=%s\nADMIN_KEY=%s\nTPL=%s   # %s, one-time\n\n", s.URL, s.SimURL, s.AdminKey, tpl.ID, tpl.Title)
	fmt.Fprintf(&b, "# 1. The mini-program logs in: a wx.login code from the simulator, traded for a session.\n")
	fmt.Fprintf(&b, "LOGIN=$(curl -s -X POST $SIM/__sim/login -d '{}')\n")
	fmt.Fprintf(&b, "CODE=$(echo \"$LOGIN\" | %s); OPENID=$(echo \"$LOGIN\" | %s)\n", field("code"), field("openid"))
	fmt.Fprintf(&b, "TOKEN=$(curl -s -X POST $API/v1/session -H 'Content-Type: application/json' -d \"{\\\"code\\\":\\\"$CODE\\\"}\" | %s)\n\n", field("token"))
	fmt.Fprintf(&b, "# 2. The user taps \"allow\" twice; the mini-program reports each popup result as WeChat returned it.\n")
	fmt.Fprintf(&b, "for i in 1 2; do\n")
	fmt.Fprintf(&b, "  RESULT=$(curl -s -X POST $SIM/__sim/popup -d \"{\\\"openid\\\":\\\"$OPENID\\\",\\\"results\\\":{\\\"$TPL\\\":\\\"accept\\\"}}\")\n")
	fmt.Fprintf(&b, "  curl -s -X POST $API/v1/subscriptions -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d \"{\\\"result\\\":$RESULT}\"; echo\n")
	fmt.Fprintf(&b, "done\n\n")
	fmt.Fprintf(&b, "# 3. The business backend sends three messages: two are delivered, the third is 409 no_credit.\n")
	escaped := strings.ReplaceAll(string(dataJSON), `"`, `\"`)
	fmt.Fprintf(&b, "for i in 1 2 3; do\n")
	fmt.Fprintf(&b, "  curl -s -w ' HTTP %%{http_code}\\n' -X POST $API/v1/messages -H \"Authorization: Bearer $ADMIN_KEY\" -H 'Content-Type: application/json' \\\n")
	fmt.Fprintf(&b, "    -d \"{\\\"touser\\\":\\\"$OPENID\\\",\\\"template_id\\\":\\\"$TPL\\\",\\\"page\\\":\\\"pages/index/index\\\",\\\"data\\\":%s}\"\n", escaped)
	fmt.Fprintf(&b, "done\n\n")
	fmt.Fprintf(&b, "# 4. What the user has left, and what reached the user's WeChat.\n")
	fmt.Fprintf(&b, "curl -s $API/v1/subscriptions -H \"Authorization: Bearer $TOKEN\"; echo\n")
	fmt.Fprintf(&b, "curl -s \"$SIM/__sim/inbox?openid=$OPENID\"; echo\n\n")
	fmt.Fprintf(&b, "# 5. The template catalogue as the mini-program reads it (synced from WeChat's gettemplate at start\n")
	fmt.Fprintf(&b, "#    and hourly), then WeChat's quotas and today's counts as an operator reads them (the counts\n")
	fmt.Fprintf(&b, "#    follow the sends by about a second: they are kept from the table's stream).\n")
	fmt.Fprintf(&b, "curl -s $API/v1/templates -H \"Authorization: Bearer $TOKEN\"; echo\n")
	fmt.Fprintf(&b, "sleep 2\n")
	fmt.Fprintf(&b, "curl -s $API/v1/quota -H \"Authorization: Bearer $ADMIN_KEY\"; echo\n\n")
	fmt.Fprintf(&b, "# 6. A reminder: one more \"allow\", then a message scheduled 65 seconds ahead on WeChat's (the\n")
	fmt.Fprintf(&b, "#    simulator's) clock: its credit is held (credits_left 0) and it is listed among the user's\n")
	fmt.Fprintf(&b, "#    scheduled messages; the dispatcher, which runs every minute, sends it at its time\n")
	fmt.Fprintf(&b, "#    (DELETE /v1/messages/<id> before then would cancel it and give the credit back).\n")
	fmt.Fprintf(&b, "RESULT=$(curl -s -X POST $SIM/__sim/popup -d \"{\\\"openid\\\":\\\"$OPENID\\\",\\\"results\\\":{\\\"$TPL\\\":\\\"accept\\\"}}\")\n")
	fmt.Fprintf(&b, "curl -s -X POST $API/v1/subscriptions -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d \"{\\\"result\\\":$RESULT}\"; echo\n")
	fmt.Fprintf(&b, "SEND_AT=$(curl -s \"$SIM/__sim/clock?plus_ms=65000\" | %s)\n", field("plus"))
	fmt.Fprintf(&b, "REMINDER=$(curl -s -X POST $API/v1/messages -H \"Authorization: Bearer $ADMIN_KEY\" -H 'Content-Type: application/json' \\\n")
	fmt.Fprintf(&b, "  -d \"{\\\"touser\\\":\\\"$OPENID\\\",\\\"template_id\\\":\\\"$TPL\\\",\\\"send_at\\\":\\\"$SEND_AT\\\",\\\"data\\\":%s}\"); echo \"$REMINDER\"\n", escaped)
	fmt.Fprintf(&b, "REMINDER_ID=$(echo \"$REMINDER\" | %s)\n", field("message_id"))
	fmt.Fprintf(&b, "curl -s \"$API/v1/users/$OPENID/messages?status=scheduled\" -H \"Authorization: Bearer $ADMIN_KEY\"; echo\n")
	fmt.Fprintf(&b, "echo \"waiting for $SEND_AT (about a minute)...\"\n")
	fmt.Fprintf(&b, "for i in $(seq 1 75); do\n")
	fmt.Fprintf(&b, "  STATUS=$(curl -s $API/v1/messages/$REMINDER_ID -H \"Authorization: Bearer $ADMIN_KEY\" | %s)\n", field("status"))
	fmt.Fprintf(&b, "  [ \"$STATUS\" = scheduled ] || [ \"$STATUS\" = pending ] || break; sleep 2\n")
	fmt.Fprintf(&b, "done\n")
	fmt.Fprintf(&b, "curl -s $API/v1/messages/$REMINDER_ID -H \"Authorization: Bearer $ADMIN_KEY\"; echo\n")
	return b.String()
}

// walkTemplate is the template the walk-throughs send, and its example data as JSON.
func walkTemplate() (wechatsim.Template, []byte) {
	tpl := wechatsim.DefaultTemplates()[0]
	for _, t := range wechatsim.DefaultTemplates() {
		if t.ID == wechatsim.TmplOrderShipped {
			tpl = t
		}
	}
	data := map[string]map[string]string{}
	for _, k := range tpl.Keywords {
		v := k.Example
		if v == "" && len(k.Enum) > 0 {
			v = k.Enum[0]
		}
		data[k.Key] = map[string]string{"value": v}
	}
	dataJSON, _ := json.Marshal(data)
	return tpl, dataJSON
}

// officialAccountWalkThrough is the walk-through of `WECHAT_APP_KIND=official_account
// make run`: a web authorisation code from the simulator → POST /v1/session →
// GET /v1/jssdk-config, whose signature the simulator (standing in for
// WeChat's client) accepts → two allows in <wx-open-subscribe>, each success
// detail reported with a report_id → three bizsends (the third answers 409
// no_credit) → the first message delivered by WeChat's sent event → the
// ledger through the admin key and the inbox → the demo page's URL. It needs
// bash and curl only; the tests run it verbatim.
func (s *Stack) officialAccountWalkThrough() string {
	tpl, dataJSON := walkTemplate()
	field := func(name string) string {
		return fmt.Sprintf(`grep -o '"%s":"[^"]*"' | head -n1 | cut -d'"' -f4`, name)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "API=%s\nSIM=%s\nADMIN_KEY=%s\nTPL=%s   # %s, one-time\n\n", s.URL, s.SimURL, s.AdminKey, tpl.ID, tpl.Title)
	fmt.Fprintf(&b, "# 1. The user opens your page in WeChat; WeChat's web authorisation (snsapi_base) sends the\n")
	fmt.Fprintf(&b, "#    browser back with a code, which the page trades for a session. The simulator hands out such a code.\n")
	fmt.Fprintf(&b, "LOGIN=$(curl -s -X POST $SIM/__sim/login -d '{}')\n")
	fmt.Fprintf(&b, "CODE=$(echo \"$LOGIN\" | %s); OPENID=$(echo \"$LOGIN\" | %s)\n", field("code"), field("openid"))
	fmt.Fprintf(&b, "TOKEN=$(curl -s -X POST $API/v1/session -H 'Content-Type: application/json' -d \"{\\\"code\\\":\\\"$CODE\\\"}\" | %s)\n\n", field("token"))
	fmt.Fprintf(&b, "# 2. The page asks for its wx.config values (the JS-SDK signature over its own URL), and WeChat's\n")
	fmt.Fprintf(&b, "#    client (here the simulator) checks them: config:ok.\n")
	fmt.Fprintf(&b, "PAGE=\"$API/web/demo/?code=$CODE&state=wxsub\"\n")
	fmt.Fprintf(&b, "CONFIG=$(curl -s -G $API/v1/jssdk-config --data-urlencode \"url=$PAGE\"); echo \"$CONFIG\"\n")
	fmt.Fprintf(&b, "curl -s -X POST $SIM/__sim/jssdk/verify -d \"${CONFIG%%\\}},\\\"url\\\":\\\"$PAGE\\\"}\"; echo\n\n")
	fmt.Fprintf(&b, "# 3. The user taps <wx-open-subscribe> and allows, twice; the page reports each success detail as it came.\n")
	fmt.Fprintf(&b, "for i in 1 2; do\n")
	fmt.Fprintf(&b, "  DETAIL=$(curl -s -X POST $SIM/__sim/popup -d \"{\\\"openid\\\":\\\"$OPENID\\\",\\\"results\\\":{\\\"$TPL\\\":\\\"accept\\\"}}\")\n")
	fmt.Fprintf(&b, "  curl -s -X POST $API/v1/subscriptions -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d \"{\\\"result\\\":$DETAIL,\\\"report_id\\\":\\\"walk-$i\\\"}\"; echo\n")
	fmt.Fprintf(&b, "done\n\n")
	fmt.Fprintf(&b, "# 4. The business backend sends three notices through bizsend (a web page to open, or a mini-program\n")
	fmt.Fprintf(&b, "#    page with \"miniprogram\":{\"appid\",\"pagepath\"}): two are delivered, the third is 409 no_credit.\n")
	escaped := strings.ReplaceAll(string(dataJSON), `"`, `\"`)
	fmt.Fprintf(&b, "for i in 1 2 3; do\n")
	fmt.Fprintf(&b, "  OUT=$(curl -s -w ' HTTP %%{http_code}' -X POST $API/v1/messages -H \"Authorization: Bearer $ADMIN_KEY\" -H 'Content-Type: application/json' \\\n")
	fmt.Fprintf(&b, "    -d \"{\\\"touser\\\":\\\"$OPENID\\\",\\\"template_id\\\":\\\"$TPL\\\",\\\"page\\\":\\\"https://example.com/orders/1\\\",\\\"data\\\":%s}\"); echo \"$OUT\"\n", escaped)
	fmt.Fprintf(&b, "  if [ $i = 1 ]; then MSG=$(echo \"$OUT\" | %s); fi\n", field("message_id"))
	fmt.Fprintf(&b, "done\n\n")
	fmt.Fprintf(&b, "# 5. WeChat's sent event arrives (a push to /v1/wechat/events): the first message is now delivered.\n")
	fmt.Fprintf(&b, "sleep 1\n")
	fmt.Fprintf(&b, "curl -s $API/v1/messages/$MSG -H \"Authorization: Bearer $ADMIN_KEY\"; echo\n\n")
	fmt.Fprintf(&b, "# 6. The user's ledger as the business backend reads it, and what reached the user's WeChat.\n")
	fmt.Fprintf(&b, "curl -s $API/v1/users/$OPENID/subscriptions -H \"Authorization: Bearer $ADMIN_KEY\"; echo\n")
	fmt.Fprintf(&b, "curl -s \"$SIM/__sim/inbox?openid=$OPENID\"; echo\n\n")
	fmt.Fprintf(&b, "# 7. In a browser: the demo page, with the simulator standing in for WeChat (its OAuth page and JS-SDK).\n")
	fmt.Fprintf(&b, "echo \"open $API/web/demo/?sim=$SIM\"\n")
	return b.String()
}
