package ids

import "testing"

func TestIDs(t *testing.T) {
	a, b := Random('m'), Random('m')
	if a == b || !Valid(a, "m") || Valid(a, "b") {
		t.Fatalf("random ids %q %q", a, b)
	}
	if d1, d2 := Derived('k', "wx1", "order-1"), Derived('k', "wx1", "order-1"); d1 != d2 {
		t.Fatal("a derived id changed")
	}
	if Derived('k', "wx1", "order-1") == Derived('k', "wx1o", "rder-1") {
		t.Fatal("parts that join to the same text gave the same id")
	}
	for _, bad := range []string{"", "m", "m0aaaaaaaaaaaaaaaaaaaaaaaa", "maaaaaaaaaaaaaaaaaaaaaaaaaa", "../../etc/passwdaaaaaaaaaa"} {
		if Valid(bad, "mkb") {
			t.Errorf("%q passed as an id", bad)
		}
	}
}
