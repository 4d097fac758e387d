package loadgen

import (
	"context"
	"errors"
	"maps"
	"strings"

	"github.com/wxsub/wxsub/dev/localdb"
	"github.com/wxsub/wxsub/dev/wechatsim"
)

// TokenItemKey is the key of appid's shared token item, as shared/store
// writes it (store/token.go); the DynamoDB server counts reads under it.
func TokenItemKey(appid string) map[string]string {
	return map[string]string{"pk": "A#" + appid, "sk": "TOKEN"}
}

// ItemClass names the kind of item a key belongs to in wxsub's single table:
// the prefixes of its pk and sk up to the first '#', such as "U/T" for a
// ledger row or "A/TOKEN" for the token item.
func ItemClass(key map[string]string) string {
	prefix := func(s string) string {
		p, _, _ := strings.Cut(s, "#")
		return p
	}
	return prefix(key["pk"]) + "/" + prefix(key["sk"])
}

// LocalCounter reads the counters of an in-process stack: the DynamoDB
// requests of db by operation and by item class, the reads of appid's token
// item, and the WeChat calls of sim. It turns on db's per-item counting.
func LocalCounter(db *localdb.Server, sim *wechatsim.Sim, appid string) (Counter, error) {
	if db == nil || sim == nil {
		return nil, errors.New("loadgen: a local counter needs the in-process DynamoDB and simulator")
	}
	db.CountItems(true)
	return func(context.Context) (Counts, error) {
		c := dynamoCounts(db, appid)
		c.WeChat = sim.Stats().Calls
		return c, nil
	}, nil
}

// dynamoCounts reads db's counters.
func dynamoCounts(db *localdb.Server, appid string) Counts {
	_, byOp := db.Requests()
	c := Counts{DynamoDB: byOp, Items: map[string]map[string]int64{}}
	token := TokenItemKey(appid)
	for _, it := range db.ItemRequests() {
		if maps.Equal(it.Key, token) {
			c.TokenReads = it.Ops["GetItem"]
		}
		class := ItemClass(it.Key)
		if c.Items[class] == nil {
			c.Items[class] = map[string]int64{}
		}
		for op, n := range it.Ops {
			c.Items[class][op] += n
		}
	}
	return c
}
