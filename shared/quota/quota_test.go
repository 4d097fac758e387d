package quota

import (
	"testing"

	"github.com/wxsub/wxsub/shared/token"
)

func TestTokenPathFollowsTheMode(t *testing.T) {
	for mode, want := range map[token.Mode]string{
		token.Stable: "/cgi-bin/stable_token", "": "/cgi-bin/stable_token", token.Classic: "/cgi-bin/token",
	} {
		if got := TokenPath(mode); got != want {
			t.Errorf("TokenPath(%q) = %s, want %s", mode, got, want)
		}
	}
}

func TestRemainPercent(t *testing.T) {
	if p, ok := (PathQuota{DailyLimit: 200, Remain: 19}).RemainPercent(); !ok || p != 9.5 {
		t.Errorf("19 of 200: %v %v", p, ok)
	}
	if _, ok := (PathQuota{DailyLimit: 0, Remain: 0}).RemainPercent(); ok {
		t.Error("a path without a daily limit has a percentage")
	}
}
