package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxsub/wxsub/shared/ledger"
)

// DayRetention is how long the daily counters are kept.
const DayRetention = 40 * 24 * time.Hour

// DayCounts are what wxsub did for one app on one day of China time (when
// WeChat's daily quotas reset). They are spread over CounterShards items
// (pk D#<appid>#<YYYY-MM-DD>#<shard>, sk D), each write adding to one shard
// chosen at random, so that no item takes every send's or every report's
// write; a read adds the shards up.
type DayCounts struct {
	Day     string
	Sent    int64
	Unknown int64
	// Failed counts failed sends by FailureKey of their errcode.
	Failed map[string]int64
	// Granted, Spent and Released count one-time credits.
	Granted, Spent, Released int64
}

var chinaTime = time.FixedZone("CST", 8*3600)

// ChinaDay is the calendar day (YYYY-MM-DD) of t in China time.
func ChinaDay(t time.Time) string { return t.In(chinaTime).Format(time.DateOnly) }

// FailureKey names a failed send's errcode in DayCounts.Failed: the code, or
// "none" when WeChat sent none (an HTTP failure, no token).
func FailureKey(errcode int) string {
	if errcode == 0 {
		return "none"
	}
	return strconv.Itoa(errcode)
}

const failedPrefix = "failed_"

// CounterShards is how many items share one counter (today's counts, a
// broadcast's counts). DynamoDB takes at most 1,000 write units a second on
// one partition, and it cancels a transaction that meets another one on an
// item (each settlement holds its shard for the transaction's tens of
// milliseconds). With 64 shards, each with its own partition key, a counter
// takes ~64,000 units a second, and at 300 settlements a second (~8 in
// flight) one in eight meets another on its shard and retries on a new one.
// A read adds the shards up in one BatchGetItem (batchKeys at most).
const CounterShards = 64

func shard() int { return rand.IntN(CounterShards) }

func dayKey(appid, day string, shard int) map[string]types.AttributeValue {
	return key(fmt.Sprintf("D#%s#%s#%02d", appid, day, shard), "D")
}

// dayCountUpdate is the counters' part of a settlement's transaction: the
// send's outcome and, for a one-time credit, whether it was spent or released.
func (s *Store) dayCountUpdate(st Settlement) *types.Update {
	now := s.now()
	names := map[string]string{"#ttl": TTLAttribute}
	values := map[string]types.AttributeValue{
		":zero": num(0), ":one": num(1), ":ttl": num(now.Add(DayRetention).Unix()),
	}
	inc := func(placeholder, attr string) string {
		names[placeholder] = attr
		return placeholder + " = if_not_exists(" + placeholder + ", :zero) + :one"
	}
	sets := []string{"#ttl = :ttl"}
	switch st.Message.Status {
	case ledger.Sent:
		sets = append(sets, inc("#out", "sent"))
	case ledger.Unknown:
		sets = append(sets, inc("#out", "unknown"))
	default:
		sets = append(sets, inc("#out", failedPrefix+FailureKey(st.Message.ErrCode)))
	}
	if st.Kind != ledger.LongTerm {
		if st.Effect == ledger.Release {
			sets = append(sets, inc("#credit", "released"))
		} else {
			sets = append(sets, inc("#credit", "spent"))
		}
	}
	return &types.Update{
		TableName:                 aws.String(s.table),
		Key:                       dayKey(st.Row.AppID, ChinaDay(now), shard()),
		UpdateExpression:          aws.String("SET " + strings.Join(sets, ", ")),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
}

// CountGrants adds n granted one-time credits to today's counters. A report
// that grants costs this one write on top of its ledger request.
func (s *Store) CountGrants(ctx context.Context, appid string, n int64) error {
	if n <= 0 {
		return nil
	}
	now := s.now()
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      dayKey(appid, ChinaDay(now), shard()),
		UpdateExpression:         aws.String("SET granted = if_not_exists(granted, :zero) + :n, #ttl = :ttl"),
		ExpressionAttributeNames: map[string]string{"#ttl": TTLAttribute},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":zero": num(0), ":n": num(n), ":ttl": num(now.Add(DayRetention).Unix()),
		},
	})
	if err != nil {
		return fmt.Errorf("store: count grants: %w", err)
	}
	return nil
}

// DayCounts reads the app's counters of day (YYYY-MM-DD, China time); all
// zero for a day without activity. It costs one BatchGetItem.
func (s *Store) DayCounts(ctx context.Context, appid, day string) (DayCounts, error) {
	keys := make([]map[string]types.AttributeValue, CounterShards)
	for i := range keys {
		keys[i] = dayKey(appid, day, i)
	}
	items, err := s.batchGet(ctx, keys)
	if err != nil {
		return DayCounts{}, fmt.Errorf("store: get day counts: %w", err)
	}
	c := DayCounts{Day: day, Failed: map[string]int64{}}
	for _, item := range items {
		for name, av := range item {
			n, ok := av.(*types.AttributeValueMemberN)
			if !ok || name == TTLAttribute {
				continue
			}
			v, err := strconv.ParseInt(n.Value, 10, 64)
			if err != nil {
				return DayCounts{}, fmt.Errorf("store: day counter %s: %w", name, err)
			}
			switch name {
			case "sent":
				c.Sent += v
			case "unknown":
				c.Unknown += v
			case "granted":
				c.Granted += v
			case "spent":
				c.Spent += v
			case "released":
				c.Released += v
			default:
				if code, ok := strings.CutPrefix(name, failedPrefix); ok {
					c.Failed[code] += v
				}
			}
		}
	}
	return c, nil
}

// batchKeys is the most keys one BatchGetItem may name.
const batchKeys = 100

// batchGet reads items by key, strongly consistent, batchKeys to a request,
// asking again for the keys DynamoDB left unprocessed. Missing items are
// left out.
func (s *Store) batchGet(ctx context.Context, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	var items []map[string]types.AttributeValue
	for len(keys) > 0 {
		n := min(len(keys), batchKeys)
		got, err := s.batchGetPage(ctx, keys[:n])
		if err != nil {
			return nil, err
		}
		items = append(items, got...)
		keys = keys[n:]
	}
	return items, nil
}

// batchGetPage is one BatchGetItem of at most batchKeys keys, with its
// unprocessed keys asked again.
func (s *Store) batchGetPage(ctx context.Context, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	var items []map[string]types.AttributeValue
	req := map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
	for pause := 20 * time.Millisecond; len(req) > 0; pause *= 2 {
		out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return nil, err
		}
		items = append(items, out.Responses[s.table]...)
		req = out.UnprocessedKeys
		if len(req) > 0 {
			if pause > time.Second {
				return nil, errors.New("DynamoDB left keys unprocessed for too long")
			}
			if err := sleep(ctx, pause); err != nil {
				return nil, err
			}
		}
	}
	return items, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
