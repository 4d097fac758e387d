package store

import (
	"context"
	"errors"
	"fmt"
	"github.com/wxsub/wxsub/shared/wait"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DayRetention is how long the daily counters are kept.
const DayRetention = 40 * 24 * time.Hour

// PendingShards is how many partitions the pending markers of one app are
// spread over (pending.go), so that no partition takes every send's writes.
const PendingShards = 64

// DayCounts are what wxsub did for one app on one day of China time (when
// WeChat's daily quotas reset). They live in one item (pk D#<appid>#<day>,
// sk D) that only the tally writes, from the table's stream (tally.go).
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

// DayCounts reads the app's counters of day (YYYY-MM-DD, China time); all
// zero for a day without activity. It costs one GetItem. The counters
// follow the requests by the tally's delay (about a second).
func (s *Store) DayCounts(ctx context.Context, appid, day string) (DayCounts, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: key("D#"+appid+"#"+day, "D"), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return DayCounts{}, fmt.Errorf("store: get day counts: %w", err)
	}
	c := DayCounts{Day: day, Failed: map[string]int64{}}
	for name, av := range out.Item {
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
			c.Sent = v
		case "unknown":
			c.Unknown = v
		case "granted":
			c.Granted = v
		case effectSpent:
			c.Spent = v
		case effectReleased:
			c.Released = v
		default:
			if code, ok := strings.CutPrefix(name, failedPrefix); ok {
				c.Failed[code] = v
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
			if err := wait.Sleep(ctx, pause); err != nil {
				return nil, err
			}
		}
	}
	return items, nil
}
