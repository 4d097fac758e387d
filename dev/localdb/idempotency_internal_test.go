package localdb

import (
	"crypto/sha256"
	"testing"
	"time"
)

func TestTokenStore(t *testing.T) {
	ts := newTokenStore()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))

	if v, _ := ts.begin("t1", a, now); v != tokenNew {
		t.Fatalf("unknown token: %v", v)
	}
	if v, _ := ts.begin("t1", a, now); v != tokenInProgress {
		t.Fatalf("running token: %v", v)
	}
	ts.end("t1", &answer{body: []byte("{}")}, now)
	if v, got := ts.begin("t1", a, now.Add(tokenWindow-time.Nanosecond)); v != tokenReplay || string(got.body) != "{}" {
		t.Fatalf("succeeded token: %v %q", v, got.body)
	}
	if v, _ := ts.begin("t1", b, now); v != tokenMismatch {
		t.Fatalf("other parameters: %v", v)
	}

	// A failed call is forgotten.
	ts.begin("t2", a, now)
	ts.end("t2", nil, now)
	if v, _ := ts.begin("t2", b, now); v != tokenNew {
		t.Fatalf("failed token: %v", v)
	}
	ts.end("t2", nil, now)

	// Expired tokens are swept (at most once a minute).
	ts.begin("t3", a, now.Add(tokenWindow+time.Minute))
	if _, ok := ts.byToken["t1"]; ok || len(ts.byToken) != 1 {
		t.Fatalf("after the window: %d tokens kept, t1 kept %v", len(ts.byToken), ok)
	}
}

func TestParamsSumIgnoresMemberOrder(t *testing.T) {
	x, err := paramsSum([]byte(`{"A":{"N":"1"},"B":[{"S":"x","T":"y"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	y, _ := paramsSum([]byte(`{"B":[{"T":"y","S":"x"}],"A":{"N":"1"}}`))
	z, _ := paramsSum([]byte(`{"B":[{"T":"y","S":"x"}],"A":{"N":"2"}}`))
	if x != y || x == z {
		t.Fatalf("same value, reordered: equal %v; other value: equal %v", x == y, x == z)
	}
	if _, err := paramsSum([]byte(`{`)); err == nil {
		t.Fatal("malformed JSON digested")
	}
}
