package store

import (
	"context"
	"fmt"
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
// WeChat's daily quotas reset). They live in one item, pk A#<appid>,
// sk DAY#<YYYY-MM-DD>, updated with scalar SET arithmetic only.
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

func dayKey(appid, day string) map[string]types.AttributeValue { return key("A#"+appid, "DAY#"+day) }

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
		Key:                       dayKey(st.Row.AppID, ChinaDay(now)),
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
		Key:                      dayKey(appid, ChinaDay(now)),
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
// zero for a day without activity.
func (s *Store) DayCounts(ctx context.Context, appid, day string) (DayCounts, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: dayKey(appid, day), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return DayCounts{}, fmt.Errorf("store: get day counts: %w", err)
	}
	c := DayCounts{Day: day, Failed: map[string]int64{}}
	for name, av := range out.Item {
		n, ok := av.(*types.AttributeValueMemberN)
		if !ok {
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
		case "spent":
			c.Spent = v
		case "released":
			c.Released = v
		default:
			if code, ok := strings.CutPrefix(name, failedPrefix); ok {
				c.Failed[code] = v
			}
		}
	}
	return c, nil
}
