package wechatsim

import (
	"fmt"
	"strings"
)

// WalkThroughOpenID is the user the walk-through plays.
const WalkThroughOpenID = "oWxsubSimWalkThroughUser0001"

// WalkThrough returns a shell session (bash and curl) to paste against the
// Sim served at baseURL: log a user in, exchange the code, accept the first
// one-time template in the popup, get a stable token, send, read the inbox,
// and send again to meet 43101 because the one credit is spent. It is empty
// when the Sim has no one-time template.
func (s *Sim) WalkThrough(baseURL string) string {
	baseURL = strings.TrimSuffix(baseURL, "/")
	var tmpl *Template
	for i := range s.cfg.Templates {
		if s.cfg.Templates[i].Type == OneTime {
			tmpl = &s.cfg.Templates[i]
			break
		}
	}
	if tmpl == nil {
		return ""
	}
	data := make(map[string]map[string]string, len(tmpl.Keywords))
	for k, v := range tmpl.ExampleData() {
		data[k] = map[string]string{"value": v}
	}
	js := func(v any) string {
		b, err := marshal(v)
		if err != nil {
			panic(err) // maps of strings always encode
		}
		return string(b)
	}
	send := js(map[string]any{"touser": WalkThroughOpenID, "template_id": tmpl.ID, "page": "pages/index/index", "data": data})
	capture := func(field string) string {
		return fmt.Sprintf(` | sed -n 's/.*"%s":"\([^"]*\)".*/\1/p')`, field)
	}
	cfg := s.Config()
	var b strings.Builder
	step := func(comment, line string) { fmt.Fprintf(&b, "# %s\n%s\n", comment, line) }
	step("1. The user opens the mini-program; wx.login gives a one-time code.",
		fmt.Sprintf(`CODE=$(curl -s -X POST '%s/__sim/login' -d '%s'%s`, baseURL, js(map[string]string{"openid": WalkThroughOpenID}), capture("code")))
	step("2. The backend exchanges it for the openid (a second exchange would answer 40163).",
		fmt.Sprintf(`curl -s -w '\n' "%s%s?appid=%s&secret=%s&js_code=$CODE&grant_type=authorization_code"`, baseURL, PathCode2Session, cfg.AppID, cfg.Secret))
	step(fmt.Sprintf("3. The user taps accept for 「%s」: one credit.", tmpl.Title),
		fmt.Sprintf(`curl -s -w '\n' -X POST '%s/__sim/popup' -d '%s'`, baseURL, js(map[string]any{"openid": WalkThroughOpenID, "results": map[string]string{tmpl.ID: "accept"}})))
	step("4. The backend gets a stable access_token.",
		fmt.Sprintf(`TOKEN=$(curl -s -X POST '%s%s' -d '%s'%s`, baseURL, PathStableToken,
			js(map[string]string{"grant_type": "client_credential", "appid": cfg.AppID, "secret": cfg.Secret}), capture("access_token")))
	step("5. It sends the message: errcode 0 and a msgid.",
		fmt.Sprintf(`curl -s -w '\n' -X POST "%s%s?access_token=$TOKEN" -d '%s'`, baseURL, PathSend, send))
	step("6. The user's inbox shows it.",
		fmt.Sprintf(`curl -s -w '\n' '%s/__sim/inbox?openid=%s'`, baseURL, WalkThroughOpenID))
	step("7. Sending again answers 43101: the credit is spent until the user accepts again.",
		fmt.Sprintf(`curl -s -w '\n' -X POST "%s%s?access_token=$TOKEN" -d '%s'`, baseURL, PathSend, send))
	return b.String()
}
