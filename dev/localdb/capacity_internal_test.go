package localdb

import (
	"encoding/json"
	"testing"
)

func TestItemSize(t *testing.T) {
	for _, c := range []struct {
		item string
		want int
	}{
		{`{"a": {"S": "héllo"}}`, 1 + 6},
		{`{"n": {"N": "123"}}`, 1 + 2 + 1},
		{`{"n": {"N": "-0.0012300"}}`, 1 + 2 + 1}, // 3 significant digits
		{`{"n": {"N": "1.5E+20"}}`, 1 + 1 + 1},
		{`{"n": {"N": "0"}}`, 1 + 1},
		{`{"b": {"B": "AAEC"}}`, 1 + 3},
		{`{"t": {"BOOL": true}, "z": {"NULL": true}}`, 2 + 2},
		{`{"m": {"M": {"k": {"S": "v"}}}}`, 1 + 3 + (1 + 1 + 1)},
		{`{"l": {"L": [{"S": "ab"}, {"N": "1"}]}}`, 1 + 3 + (2 + 1) + (2 + 1)},
		{`{"l": {"L": []}, "m": {"M": {}}}`, 1 + 3 + 1 + 3},
		{`{"ss": {"SS": ["a", "bc"]}, "ns": {"NS": ["1", "22"]}, "bs": {"BS": ["AA=="]}}`, 2 + 3 + 2 + 2 + 2 + 2 + 1},
		{`{}`, 0},
	} {
		var item attrs
		if err := json.Unmarshal([]byte(c.item), &item); err != nil {
			t.Fatal(err)
		}
		if got := itemSize(item); got != c.want {
			t.Errorf("size of %s: %d, want %d", c.item, got, c.want)
		}
	}
}

func TestUnits(t *testing.T) {
	for _, c := range []struct {
		size       int
		perKB      int64
		wantHalves int64
	}{
		{0, halvesWrite, 2}, {1024, halvesWrite, 2}, {1025, halvesWrite, 4}, {1536, halvesTxnWrite, 8},
	} {
		if got := writeHalves(c.size, c.perKB); got != c.wantHalves {
			t.Errorf("writeHalves(%d, %d) = %d, want %d", c.size, c.perKB, got, c.wantHalves)
		}
	}
	for _, c := range []struct {
		size       int
		per4KB     int64
		wantHalves int64
	}{
		{0, halvesEventual, 1}, {4096, halvesStrong, 2}, {4097, halvesEventual, 2}, {5000, halvesTxnRead, 8},
	} {
		if got := readHalves(c.size, c.per4KB); got != c.wantHalves {
			t.Errorf("readHalves(%d, %d) = %d, want %d", c.size, c.per4KB, got, c.wantHalves)
		}
	}
}

func TestUnfiltered(t *testing.T) {
	body := `{"TableName": "t", "KeyConditionExpression": "pk = :p", "FilterExpression": "#v = :v",
		"ProjectionExpression": "#w", "Limit": 5,
		"ExpressionAttributeNames": {"#v": "v", "#w": "w"}, "ExpressionAttributeValues": {":p": {"S": "p"}, ":v": {"S": "x"}}}`
	out, ok := unfiltered([]byte(body))
	if !ok {
		t.Fatal("a filtered query needs no second read")
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"TableName": "t", "KeyConditionExpression": "pk = :p", "Limit": 5.0,
		"ExpressionAttributeValues": map[string]any{":p": map[string]any{"S": "p"}}}
	if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
		t.Errorf("unfiltered: %s, want %s", g, w)
	}
	if _, ok := unfiltered([]byte(`{"TableName": "t", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p"}}}`)); ok {
		t.Error("a plain query needs a second read")
	}
	if out, ok := unfiltered([]byte(`{"TableName": "t", "Select": "COUNT"}`)); !ok || string(out) != `{"TableName":"t"}` {
		t.Errorf("counting scan: %s, %v", out, ok)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
