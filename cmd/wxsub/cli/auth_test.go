package cli

import "testing"

func TestAdminKeyOnlyForTheLocalStackUnlessGiven(t *testing.T) {
	env := func(k string) string {
		if k == "WXSUB_ADMIN_KEY" {
			return "from-env"
		}
		return ""
	}
	for _, c := range []struct {
		flag, base, want string
	}{
		{"", "http://127.0.0.1:3000", "from-env"},
		{"", "http://localhost:3000", "from-env"},
		{"", "http://[::1]:3000", "from-env"},
		{"", "https://k3x9q2m7va.execute-api.cn-north-1.amazonaws.com.cn", ""},
		{"", "https://api.example.com", ""},
		{"given", "https://api.example.com", "given"},
		{"given", "http://127.0.0.1:3000", "given"},
	} {
		g := &globals{adminKey: c.flag, getenv: env}
		if got := g.adminKeyFor(c.base); got != c.want {
			t.Errorf("--admin-key %q, %s: key %q, want %q", c.flag, c.base, got, c.want)
		}
	}
}
