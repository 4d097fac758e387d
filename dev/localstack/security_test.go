package localstack_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wxsub/wxsub/dev/samtemplate"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/sessiontoken"
	"github.com/wxsub/wxsub/shared/store"
)

// The tests of this file are the rows of docs/security.md: each attack on a
// route, the refusal it gets, and that the refusal changed nothing.

// publicRoutes need neither a session nor the admin key: logging in, an
// official account's page asking for its wx.config values (before it has a
// session), and WeChat's push route (which checks its own signature).
var publicRoutes = map[string]bool{
	"POST /v1/session": true, "GET /v1/jssdk-config": true, "GET /v1/wechat/events": true, "POST /v1/wechat/events": true,
}

// routeBodies are well-formed bodies, so that a refusal is the attack's doing.
func routeBodies(openid string) map[string]any {
	return map[string]any{
		"POST /v1/subscriptions": map[string]any{"results": []map[string]string{{"template_id": oneTime, "status": "accept"}}},
		"POST /v1/messages":      map[string]any{"touser": openid, "template_id": oneTime, "data": exampleData(oneTime)},
	}
}

// concretePath fills a route's path parameters.
func concretePath(r samtemplate.Route, openid string) string {
	p := strings.ReplaceAll(r.Path, "{openid}", openid)
	p = strings.ReplaceAll(p, "{id}", "mabcdefghijklmnopqrstuvwxy")
	for strings.Contains(p, "{") {
		i, j := strings.Index(p, "{"), strings.Index(p, "}")
		p = p[:i] + "x1234567" + p[j+1:]
	}
	return p
}

func (h *harness) routes() (client, server []samtemplate.Route) {
	for _, fn := range h.s.Template.Functions {
		for _, r := range fn.Routes {
			switch {
			case r.IAM:
				server = append(server, r)
			case !publicRoutes[r.Key()]:
				client = append(client, r)
			}
		}
	}
	if len(client) == 0 || len(server) == 0 {
		h.t.Fatalf("template.yaml lists %d client and %d server routes", len(client), len(server))
	}
	return client, server
}

// ledgerSnapshot is what an attack must leave unchanged: a user's rows and
// messages, and how many sends reached WeChat.
func (h *harness) ledgerSnapshot(openids ...string) string {
	h.t.Helper()
	var b strings.Builder
	for _, o := range openids {
		rows, err := h.s.Backend.Store.UserRows(h.t.Context(), h.appid, o)
		if err != nil {
			h.t.Fatal(err)
		}
		msgs := h.messages(o, nil)
		fmt.Fprintf(&b, "%s rows %+v messages %d\n", o, rows, len(msgs))
	}
	fmt.Fprintf(&b, "WeChat sends %d", h.s.Sim.Stats().Calls[sendPath])
	return b.String()
}

func (h *harness) expect(name string, a answer, status int, code string) {
	h.t.Helper()
	if a.status != status || a.errCode() != code {
		h.t.Errorf("%s: %d %s, want %d %s", name, a.status, a.raw, status, code)
	}
}

// forgedSessions are session tokens an attacker could present for user u.
func (h *harness) forgedSessions(u user) map[string]struct {
	token, code string
} {
	h.t.Helper()
	key := h.s.Config.SessionKey
	signer, err := sessiontoken.NewSigner(key, time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	expired, _, _ := signer.WithClock(func() time.Time { return time.Now().Add(-2 * time.Hour) }).Issue(h.appid, u.openid)
	otherApp, _, _ := signer.Issue("wx00000000000000ff", u.openid)
	wrongKey, _ := sessiontoken.NewSigner([]byte("an-attacker-chosen-key-of-32-bytes!!"), time.Hour)
	forged, _, _ := wrongKey.Issue(h.appid, u.openid)
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.RegisteredClaims{
		Issuer: "wxsub", Subject: u.openid, Audience: jwt.ClaimStrings{h.appid},
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		h.t.Fatal(err)
	}
	// Another user's claims under this user's signature.
	parts := strings.Split(u.token, ".")
	claims := fmt.Sprintf(`{"iss":"wxsub","sub":"oSomeoneElse000000000000000","aud":[%q],"exp":%d}`, h.appid, time.Now().Add(time.Hour).Unix())
	swapped := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + "." + parts[2]
	return map[string]struct{ token, code string }{
		"no session":            {"", "unauthorized"},
		"expired session":       {expired, "session_expired"},
		"another app's session": {otherApp, "unauthorized"},
		"wrong signing key":     {forged, "unauthorized"},
		"alg none":              {none, "unauthorized"},
		"swapped claims":        {swapped, "unauthorized"},
		"admin key as session":  {h.s.AdminKey, "unauthorized"},
		"garbage":               {"not-a-token", "unauthorized"},
	}
}

func TestClientRoutesRefuseMissingAndForgedSessions(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oSecurityClient0000000000000")
	h.accept(u, oneTime, 1)
	h.s.Sim.Flush()
	client, _ := h.routes()
	before := h.ledgerSnapshot(u.openid)
	for _, r := range client {
		for name, f := range h.forgedSessions(u) {
			a := h.api(r.Method, concretePath(r, u.openid), f.token, routeBodies(u.openid)[r.Key()])
			h.expect(r.Key()+", "+name, a, 401, f.code)
		}
		// A valid session in another scheme.
		a := h.api(r.Method, concretePath(r, u.openid), "", routeBodies(u.openid)[r.Key()], "Authorization", "Basic "+u.token)
		h.expect(r.Key()+", Basic scheme", a, 401, "unauthorized")
	}
	if after := h.ledgerSnapshot(u.openid); after != before {
		t.Fatalf("refused requests changed the ledger:\n%s\n%s", before, after)
	}
}

func TestServerRoutesRefuseWithoutTheAdminKey(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oSecurityServer0000000000000")
	h.accept(u, oneTime, 1)
	h.s.Sim.Flush()
	_, server := h.routes()
	before := h.ledgerSnapshot(u.openid)
	key := h.s.AdminKey
	attempts := map[string][]string{
		"no credentials":      nil,
		"a session token":     {"Authorization", "Bearer " + u.token},
		"a wrong key":         {"Authorization", "Bearer " + strings.Repeat("0", len(key))},
		"the key cut short":   {"Authorization", "Bearer " + key[:len(key)-1]},
		"the key extended":    {"Authorization", "Bearer " + key + "0"},
		"the key as Basic":    {"Authorization", "Basic " + key},
		"the key in a header": {"X-Api-Key", key},
	}
	for _, r := range server {
		for name, headers := range attempts {
			a := h.api(r.Method, concretePath(r, u.openid), "", routeBodies(u.openid)[r.Key()], headers...)
			h.expect(r.Key()+", "+name, a, 401, "unauthorized")
		}
	}
	if after := h.ledgerSnapshot(u.openid); after != before {
		t.Fatalf("refused requests changed the ledger:\n%s\n%s", before, after)
	}
}

// TestSessionActsOnlyForItsUser: the client routes take the openid from the
// session alone; naming another user anywhere else is refused or ignored.
func TestSessionActsOnlyForItsUser(t *testing.T) {
	t.Parallel()
	h := start(t)
	a := h.login("oSecurityUserA00000000000000")
	b := h.login("oSecurityUserB00000000000000")
	h.accept(b, oneTime, 2)
	h.s.Sim.Flush()
	before := h.ledgerSnapshot(b.openid)
	report := map[string]any{"results": []map[string]string{{"template_id": oneTime, "status": "accept"}}}

	withOpenID := map[string]any{"results": report["results"], "openid": b.openid}
	h.expect("report naming B in the body", h.api("POST", "/v1/subscriptions", a.token, withOpenID), 400, "unknown_field")
	withTouser := map[string]any{"results": report["results"], "touser": b.openid}
	h.expect("report naming B as touser", h.api("POST", "/v1/subscriptions", a.token, withTouser), 400, "unknown_field")
	mainOff := map[string]any{"result": map[string]any{"errMsg": "requestSubscribeMessage:fail", "errCode": 20004}}
	for _, q := range []string{"?openid=" + b.openid, "?touser=" + b.openid} {
		if r := h.api("POST", "/v1/subscriptions"+q, a.token, report); r.status != 200 {
			t.Fatalf("report with %s: %d %s", q, r.status, r.raw)
		}
		if r := h.api("POST", "/v1/subscriptions"+q, a.token, mainOff); r.status != 200 {
			t.Fatalf("main switch off with %s: %d %s", q, r.status, r.raw)
		}
		mine := h.api("GET", "/v1/subscriptions"+q, a.token, nil)
		if mine.status != 200 || mine.body["openid"] != a.openid {
			t.Fatalf("GET /v1/subscriptions%s answered for %v: %s", q, mine.body["openid"], mine.raw)
		}
	}
	// B's session header next to A's changes nothing either.
	r := h.api("POST", "/v1/subscriptions", a.token, report, "X-Wx-Openid", b.openid)
	if r.status != 200 {
		t.Fatalf("report with an openid header: %d %s", r.status, r.raw)
	}
	if got := h.row(a.openid, oneTime); got.Granted != 3 {
		t.Fatalf("A's three reports granted %d credits to A", got.Granted)
	}
	h.expect("A's session on B's server-side ledger", h.api("GET", "/v1/users/"+b.openid+"/subscriptions", a.token, nil), 401, "unauthorized")
	h.expect("A's session sending to B", h.api("POST", "/v1/messages", a.token, routeBodies(b.openid)["POST /v1/messages"]), 401, "unauthorized")
	if after := h.ledgerSnapshot(b.openid); after != before {
		t.Fatalf("A's requests changed B's ledger:\n%s\n%s", before, after)
	}
}

// nested is n JSON arrays, one inside the other.
func nested(n int) json.RawMessage {
	return json.RawMessage(strings.Repeat("[", n) + strings.Repeat("]", n))
}

func TestBodiesAreLimitedAndStrictlyDecoded(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oSecurityBodies0000000000000")
	h.accept(u, oneTime, 1)
	h.s.Sim.Flush()
	before := h.ledgerSnapshot(u.openid)
	loginCalls := h.s.Sim.Stats().Calls["/sns/jscode2session"]
	session, reports, sends := "/v1/session", "/v1/subscriptions", "/v1/messages"
	admin := h.s.AdminKey
	data := func(v any) map[string]any {
		return map[string]any{"touser": u.openid, "template_id": oneTime, "data": map[string]any{"thing2": v}}
	}
	status := func(v any) map[string]any {
		return map[string]any{"result": map[string]any{"errMsg": "requestSubscribeMessage:ok", oneTime: v}}
	}
	cases := []struct {
		name, path, auth string
		body             any
		headers          []string
		status           int
		code             string
	}{
		// Size: each route's own limit, far below API Gateway's 10 MB.
		{"oversized login", session, "", map[string]string{"code": strings.Repeat("a", 5<<10)}, nil, 413, "body_too_large"},
		{"oversized report", reports, u.token, map[string]any{"results": []map[string]string{}, "scene": strings.Repeat("a", 9<<10)}, nil, 413, "body_too_large"},
		{"oversized send", sends, admin, data(strings.Repeat("长", 6<<10)), nil, 413, "body_too_large"},
		// Depth: nesting inside the size limit is refused as the wrong shape; 10,000 levels are over every limit.
		{"nested login", session, "", map[string]any{"code": nested(1500)}, nil, 400, "invalid_json"},
		{"nested report", reports, u.token, status(nested(3500)), nil, 400, "invalid_status"},
		{"nested send", sends, admin, data(nested(7500)), nil, 400, "invalid_data"},
		{"10,000 levels, login", session, "", map[string]any{"code": nested(10000)}, nil, 413, "body_too_large"},
		{"10,000 levels, report", reports, u.token, status(nested(10000)), nil, 413, "body_too_large"},
		{"10,000 levels, send", sends, admin, data(nested(10000)), nil, 413, "body_too_large"},
		// Unknown fields, at the top and inside.
		{"login with openid", session, "", map[string]string{"code": "x", "openid": u.openid}, nil, 400, "unknown_field"},
		{"report with openid", reports, u.token, map[string]any{"results": []map[string]string{}, "openid": u.openid}, nil, 400, "unknown_field"},
		{"report item with credits", reports, u.token, map[string]any{"results": []map[string]any{{"template_id": oneTime, "status": "accept", "credits": 99}}}, nil, 400, "unknown_field"},
		{"send with access_token", sends, admin, map[string]any{"touser": u.openid, "template_id": oneTime, "data": exampleData(oneTime), "access_token": "x"}, nil, 400, "unknown_field"},
		{"send value with an extra member", sends, admin, data(map[string]any{"value": "x", "openid": u.openid}), nil, 400, "invalid_data"},
		// Two JSON values, or none.
		{"two objects", sends, admin, `{"touser":"` + u.openid + `"} {}`, nil, 400, "invalid_json"},
		{"empty body", reports, u.token, " ", nil, 400, "invalid_json"},
	}
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", "application/json-patch"} {
		for path, auth := range map[string]string{session: "", reports: u.token, sends: admin} {
			cases = append(cases, struct {
				name, path, auth string
				body             any
				headers          []string
				status           int
				code             string
			}{"Content-Type " + ct, path, auth, routeBodies(u.openid)["POST "+path], []string{"Content-Type", ct}, 415, "unsupported_media_type"})
		}
	}
	for _, c := range cases {
		body := c.body
		if body == nil {
			body = map[string]string{"code": "x"}
		}
		h.expect(c.name+" on "+c.path, h.api("POST", c.path, c.auth, body, c.headers...), c.status, c.code)
	}
	if after := h.ledgerSnapshot(u.openid); after != before {
		t.Fatalf("refused bodies changed the ledger:\n%s\n%s", before, after)
	}
	if n := h.s.Sim.Stats().Calls["/sns/jscode2session"]; n != loginCalls {
		t.Fatalf("refused logins called WeChat %d times", n-loginCalls)
	}
}

func TestIDsOutsideTheirFormatsAreRefused(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oSecurityIDs0000000000000000")
	h.accept(u, oneTime, 1)
	h.s.Sim.Flush()
	before := h.ledgerSnapshot(u.openid)
	badOpenIDs := []string{"", "o", "oShrt", "o'; DROP TABLE", "o" + strings.Repeat("a", 64), "oUser/../../x", "oUser#T#x", "оUserCyrillic000000000000000", "oUser\u0000000000000000000"}
	badTemplates := []string{"", "a/b", "T#1", "T 1", "T\n1", strings.Repeat("T", 65), "模板"}
	for _, o := range badOpenIDs {
		a := h.admin("POST", "/v1/messages", map[string]any{"touser": o, "template_id": oneTime, "data": exampleData(oneTime)})
		h.expect(fmt.Sprintf("touser %q", o), a, 400, "invalid_touser")
	}
	for _, tpl := range badTemplates {
		a := h.admin("POST", "/v1/messages", map[string]any{"touser": u.openid, "template_id": tpl, "data": exampleData(oneTime)})
		h.expect(fmt.Sprintf("send template_id %q", tpl), a, 400, "invalid_template_id")
		a = h.api("POST", "/v1/subscriptions", u.token, map[string]any{"results": []map[string]string{{"template_id": tpl, "status": "accept"}}})
		h.expect(fmt.Sprintf("report template_id %q", tpl), a, 400, "invalid_template_id")
		if tpl != "" {
			a = h.api("POST", "/v1/subscriptions", u.token, map[string]any{"result": map[string]string{"errMsg": "requestSubscribeMessage:ok", tpl: "accept"}})
			h.expect(fmt.Sprintf("raw report template id %q", tpl), a, 400, "invalid_template_id")
		}
	}
	// In the path: what survives URL decoding and still matches the route.
	for _, o := range []string{"o", "oShrt", "o'DROP", "o%20user%20with%20spaces", "o%23T%23x", strings.Repeat("a", 65), "%D0%BEUserCyrillic0000000000"} {
		h.expect("path openid "+o, h.admin("GET", "/v1/users/"+o+"/subscriptions", nil), 400, "invalid_openid")
	}
	for _, id := range []string{"m", "MABCDEFGHIJKLMNOPQRSTUVWXY", "mabcdefghijklmnopqrstuvwx1", "xabcdefghijklmnopqrstuvwxy", "mabcdefghijklmnopqrstuvwxy0"} {
		h.expect("message id "+id, h.admin("GET", "/v1/messages/"+id, nil), 400, "invalid_message_id")
	}
	// A path that climbs out of its route matches no route at all.
	h.expect("message id ../", h.admin("GET", "/v1/messages/../users/"+u.openid+"/subscriptions", nil), 404, "not_found")
	if after := h.ledgerSnapshot(u.openid); after != before {
		t.Fatalf("refused requests changed the ledger:\n%s\n%s", before, after)
	}
}

func TestAnotherAppsMessageIsNotFound(t *testing.T) {
	t.Parallel()
	h := start(t)
	u := h.login("oSecurityOtherApp00000000000")
	h.accept(u, oneTime, 1)
	mine := h.send(u.openid, oneTime)
	if mine.status != 200 {
		t.Fatalf("send: %d %s", mine.status, mine.raw)
	}
	id, _ := mine.messageID()
	if a := h.admin("GET", "/v1/messages/"+id, nil); a.status != 200 || a.body["touser"] != u.openid {
		t.Fatalf("own message: %d %s", a.status, a.raw)
	}
	// The same table may serve another app (another stack, one account).
	const foreign = "mforeignmessageidaaaaaaaaa"
	now := time.Now()
	err := h.s.Backend.Store.Remember(t.Context(), store.Message{
		ID: foreign, AppID: "wx00000000000000ff", OpenID: u.openid, TemplateID: oneTime,
		Status: ledger.Failed, CreatedAt: now, UpdatedAt: now, AnswerStatus: 409, Answer: "{}",
	}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a := h.admin("GET", "/v1/messages/"+foreign, nil)
	h.expect("another app's message", a, 404, "message_not_found")
	if strings.Contains(a.raw, u.openid) {
		t.Fatalf("the refusal shows the other app's message: %s", a.raw)
	}
	h.expect("a message id through a session", h.api("GET", "/v1/messages/"+id, u.token, nil), 401, "unauthorized")
}

// TestNoLogLineCarriesASecret runs a representative mix of traffic, good and
// bad, and searches everything logged, by the functions and through slog's
// default logger, for credentials and full openids. Not parallel: it
// replaces slog's default logger, which is the process's.
func TestNoLogLineCarriesASecret(t *testing.T) {
	h := start(t)
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(h.logs, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	secrets := map[string]string{
		"AppSecret": h.s.Config.Secret, "push token": h.s.Config.PushToken, "EncodingAESKey": h.s.Config.EncodingAESKey,
		"session signing key": string(h.s.Config.SessionKey), "admin key": h.s.AdminKey,
	}
	addToken := func(name string) {
		secrets[name] = mustToken(t, h)
	}
	addToken("first access_token")

	var users []user
	for i := 0; i < 3; i++ {
		code := h.sim("POST", "/__sim/login", map[string]string{"openid": fmt.Sprintf("oLogMix%021d", i)}).body["code"].(string)
		secrets[fmt.Sprintf("wx.login code %d", i)] = code
		a := h.api("POST", "/v1/session", "", map[string]string{"code": code})
		if a.status != 200 {
			t.Fatalf("login: %d %s", a.status, a.raw)
		}
		u := user{openid: a.body["openid"].(string), token: a.body["token"].(string)}
		users = append(users, u)
		secrets[fmt.Sprintf("session token %d", i)] = u.token
		secrets[fmt.Sprintf("session signature %d", i)] = u.token[strings.LastIndexByte(u.token, '.')+1:]
		secrets[fmt.Sprintf("openid %d", i)] = u.openid
		// A reused code, and a login WeChat refuses.
		h.api("POST", "/v1/session", "", map[string]string{"code": code})
		h.accept(u, oneTime, 3)
	}
	h.fault(map[string]any{"path": "/sns/jscode2session", "errcode": 40226})
	h.api("POST", "/v1/session", "", map[string]string{"code": "code-of-a-blocked-user"})

	a, b, c := users[0], users[1], users[2]
	h.send(a.openid, oneTime)
	h.fault(map[string]any{"path": sendPath, "errcode": 47003})
	h.send(a.openid, oneTime)
	h.fault(map[string]any{"path": sendPath, "errcode": 43101})
	h.send(b.openid, oneTime)
	h.fault(map[string]any{"path": sendPath, "drop": true})
	h.send(c.openid, oneTime, "Idempotency-Key", "order-7-shipped")
	h.send(c.openid, oneTime, "Idempotency-Key", "order-7-shipped")
	// An invalidated token: one forced refresh, then a scheduled one.
	h.sim("POST", "/__sim/tokens/invalidate", map[string]any{})
	h.send(c.openid, oneTime)
	addToken("forced access_token")
	if err := h.s.RunSchedule(t.Context(), "RefreshTokenFunction"); err != nil {
		t.Fatal(err)
	}
	addToken("scheduled access_token")
	// Refusals: bad sessions, bad bodies, a server route without the key, a DynamoDB outage.
	for _, f := range h.forgedSessions(a) {
		h.api("GET", "/v1/subscriptions", f.token, nil)
	}
	h.api("POST", "/v1/subscriptions", a.token, `{"result":`)
	h.api("GET", "/v1/users/"+a.openid+"/subscriptions", a.token, nil)
	h.api("GET", "/v1/subscriptions", a.token, nil)
	h.admin("GET", "/v1/users/"+b.openid+"/subscriptions", nil)
	if h.s.DB != nil {
		h.s.DB.Throttle(1 << 20)
		h.send(b.openid, oneTime)
		h.api("POST", "/v1/subscriptions", b.token, map[string]any{"results": []map[string]string{{"template_id": oneTime, "status": "accept"}}})
		h.s.DB.Throttle(0)
	}
	h.s.Sim.Flush()

	logs := h.logs.String()
	if !strings.Contains(logs, "message settled") {
		t.Fatalf("the mix logged no send: %.2000s", logs)
	}
	for name, secret := range secrets {
		if secret == "" {
			t.Fatalf("%s is empty", name)
		}
		if strings.Contains(logs, secret) {
			for _, line := range strings.Split(logs, "\n") {
				if strings.Contains(line, secret) {
					t.Errorf("a log line carries the %s: %.300s", name, line)
					break
				}
			}
		}
	}
}

// TestSecurityTableNamesRealTests keeps docs/security.md honest: every test
// and fuzz target it names exists in the module.
func TestSecurityTableNamesRealTests(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	err = filepath.WalkDir(filepath.Join("..", ".."), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range testFunc.FindAllSubmatch(src, -1) {
			defined[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	named := testName.FindAllString(string(doc), -1)
	if len(named) < 20 {
		t.Fatalf("docs/security.md names only %d tests", len(named))
	}
	for _, name := range named {
		if !defined[name] {
			t.Errorf("docs/security.md names %s, which no test file defines", name)
		}
	}
}

var (
	testFunc = regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)[A-Za-z0-9_]+)\(`)
	testName = regexp.MustCompile(`\b(?:Test|Fuzz)[A-Z][A-Za-z0-9_]*\b`)
)
