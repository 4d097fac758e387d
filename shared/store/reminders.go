package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxsub/wxsub/shared/ledger"
)

// Reminders and scheduled broadcasts wait in the table itself: each has an
// entry in its due minute (pk R#<appid>#<unix minute>#<shard>, sk
// <send_at ms>#<id>), spread over DueShards partitions so that a crowd of
// reminders due in one minute does not write one partition, and the
// dispatcher keeps how far it has read (pk R#<appid>, sk CURSOR). Entries are
// never deleted one by one: the cursor says which were handed on, and TTL
// removes them later.

// DueShards is how many partitions one due minute is spread over. A
// partition takes about 1,000 write units a second, and a hold writes its
// entry in a transaction (2 units): 4 of them take 2,000 holds a second
// into one minute, while a dispatcher run reads 4 partitions a minute.
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html)
const DueShards = 4

// The dispatcher runs every minute and reads DispatchAhead ahead of its
// time, handing each reminder to the queue with a delay until it is due,
// so that reminders start on time rather than up to a minute late. A
// reminder's hold must therefore be written HoldLead before its send_at (a
// few seconds more than DispatchAhead, for clocks and the write itself):
// then no run can have read past its due time before it exists.
const (
	DispatchAhead = 40 * time.Second
	HoldLead      = DispatchAhead + 5*time.Second
)

// What a due entry starts.
const (
	DueMessage   = "message"
	DueBroadcast = "broadcast"
)

// Due is one entry of the due minutes: a reminder or a scheduled broadcast.
type Due struct {
	Type   string // DueMessage or DueBroadcast
	ID     string
	SendAt time.Time
}

type dueItem struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	TTL    int64  `dynamodbav:"ttl"`
	Type   string `dynamodbav:"type"`
	Ref    string `dynamodbav:"ref"`
	SendAt int64  `dynamodbav:"send_at"`
}

func duePK(appid string, minute int64, shard int) string {
	return fmt.Sprintf("R#%s#%d#%02d", appid, minute, shard)
}

func dueSK(at time.Time, id string) string { return fmt.Sprintf("%013d#%s", millis(at), id) }

func newDueItem(appid, typ, id string, at time.Time) dueItem {
	h := fnv.New32a()
	h.Write([]byte(id))
	return dueItem{
		PK: duePK(appid, at.Unix()/60, int(h.Sum32()%DueShards)), SK: dueSK(at, id),
		TTL: at.Add(MessageRetention).Unix(), Type: typ, Ref: id, SendAt: millis(at),
	}
}

// DueBetween returns the entries due after after and at or before upto,
// ordered by due time: one strongly consistent Query per shard and minute.
func (s *Store) DueBetween(ctx context.Context, appid string, after, upto time.Time) ([]Due, error) {
	var out []Due
	// "~" sorts after every id character (ids.Random: a-z, 2-7): the bounds
	// take every entry of their millisecond.
	lo, hi := dueSK(after, "~"), dueSK(upto, "~")
	for minute := after.Unix() / 60; minute <= upto.Unix()/60; minute++ {
		for shard := 0; shard < DueShards; shard++ {
			var start map[string]types.AttributeValue
			for {
				res, err := s.db.Query(ctx, &dynamodb.QueryInput{
					TableName:              aws.String(s.table),
					KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
					ExpressionAttributeValues: map[string]types.AttributeValue{
						":pk": str(duePK(appid, minute, shard)), ":lo": str(lo), ":hi": str(hi),
					},
					ConsistentRead:    aws.Bool(true),
					ExclusiveStartKey: start,
				})
				if err != nil {
					return nil, fmt.Errorf("store: query due minute: %w", err)
				}
				for _, av := range res.Items {
					var it dueItem
					if err := attributevalue.UnmarshalMap(av, &it); err != nil {
						return nil, fmt.Errorf("store: decode due entry: %w", err)
					}
					out = append(out, Due{Type: it.Type, ID: it.Ref, SendAt: fromMillis(it.SendAt)})
				}
				if len(res.LastEvaluatedKey) == 0 {
					break
				}
				start = res.LastEvaluatedKey
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].SendAt.Before(out[j].SendAt) })
	return out, nil
}

func cursorKey(appid string) map[string]types.AttributeValue { return key("R#"+appid, "CURSOR") }

// DispatchedThrough is how far the dispatcher has handed on due entries:
// every entry due at or before it was queued. ok is false before its first run.
func (s *Store) DispatchedThrough(ctx context.Context, appid string) (through time.Time, ok bool, err error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: cursorKey(appid), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: read dispatch cursor: %w", err)
	}
	if out.Item == nil {
		return time.Time{}, false, nil
	}
	var it struct {
		Through int64 `dynamodbav:"through"`
	}
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return time.Time{}, false, fmt.Errorf("store: decode dispatch cursor: %w", err)
	}
	return fromMillis(it.Through), true, nil
}

// ErrCursorMoved is returned by AdvanceDispatch when another run moved the
// cursor first.
var ErrCursorMoved = errors.New("store: another dispatcher run moved the cursor")

// AdvanceDispatch moves the cursor from from (zero: it did not exist) to to.
func (s *Store) AdvanceDispatch(ctx context.Context, appid string, from, to time.Time) error {
	cond := "through = :from"
	values := map[string]types.AttributeValue{":to": num(millis(to)), ":from": num(millis(from))}
	if from.IsZero() {
		cond = "attribute_not_exists(pk)"
		delete(values, ":from")
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       cursorKey(appid),
		UpdateExpression:          aws.String("SET through = :to"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeValues: values,
	})
	if isConditionFailed(err) {
		return ErrCursorMoved
	}
	if err != nil {
		return fmt.Errorf("store: move dispatch cursor: %w", err)
	}
	return nil
}

// ErrNotScheduled is returned when a reminder is no longer scheduled: its
// send started, or it ended.
var ErrNotScheduled = errors.New("store: the message is not scheduled")

// ErrHeldRevoked is returned by StartScheduled when the user's balance was
// zeroed after the reminder's credit was held: the credit is revoked and the
// reminder must end (EndScheduled) without a send.
var ErrHeldRevoked = errors.New("store: the reminder's held credit was revoked by a zeroing")

// StartScheduled turns a scheduled reminder into a send in flight, in one
// transaction: the record becomes pending under a new attempt, its held
// credit becomes spent and in flight, and a pending marker lets the sweep
// find it should the send stop before its settlement. It returns the
// started record, ErrNotScheduled when another delivery started or ended it,
// and ErrHeldRevoked when a zeroing since the hold revoked its credit.
func (s *Store) StartScheduled(ctx context.Context, m Message, attempt string) (Message, error) {
	if m.Status != ledger.Scheduled {
		return Message{}, ErrNotScheduled
	}
	started := m
	started.Status, started.Attempt = ledger.Pending, attempt
	started.StartedAt = s.now()
	started.UpdatedAt = started.StartedAt
	marker, err := attributevalue.MarshalMap(newPendingItem(started))
	if err != nil {
		return Message{}, fmt.Errorf("store: encode pending marker: %w", err)
	}
	row := RowKey{AppID: m.AppID, OpenID: m.OpenID, TemplateID: m.TemplateID}
	items := []types.TransactWriteItem{
		{Update: &types.Update{
			TableName:                aws.String(s.table),
			Key:                      key(messagePK(m.ID), "M"),
			UpdateExpression:         aws.String("SET #st = :pending, attempt = :new, started_at = :now, updated_at = :now"),
			ConditionExpression:      aws.String("#st = :scheduled AND attempt = :old"),
			ExpressionAttributeNames: map[string]string{"#st": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pending": str(string(ledger.Pending)), ":scheduled": str(string(ledger.Scheduled)),
				":new": str(attempt), ":old": str(m.Attempt), ":now": num(millis(started.StartedAt)),
			},
		}},
		{Update: &types.Update{
			TableName:        aws.String(s.table),
			Key:              key(row.pk(), row.sk()),
			UpdateExpression: aws.String("SET held = if_not_exists(held, :zero) - cost, spent = spent + cost, inflight = inflight + :one, updated_at = :now"),
			ConditionExpression: aws.String("attribute_exists(pk) AND " +
				"(attribute_not_exists(zeroed_at) OR zeroed_at < :reserved)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":one": num(1), ":zero": num(0), ":now": num(millis(started.StartedAt)), ":reserved": num(millis(m.ReservedAt)),
			},
		}},
		{Put: &types.Put{TableName: aws.String(s.table), Item: marker}},
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if err == nil {
		return started, nil
	}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) && len(tce.CancellationReasons) == len(items) {
		switch {
		case failedCondition(tce.CancellationReasons[0]):
			return Message{}, ErrNotScheduled
		case failedCondition(tce.CancellationReasons[1]):
			return Message{}, ErrHeldRevoked
		}
	}
	return Message{}, fmt.Errorf("store: start reminder %s: %w", m.ID, err)
}

// EndScheduled ends a scheduled reminder without sending it: the record gets
// status (ledger.Cancelled, or ledger.Failed when its data no longer fits
// the template), the reason and the answer, and the held credit goes back to
// the balance, or to revoked when the balance was zeroed since it was held
// (a zeroing wins over the release, as for a send). It returns the ended
// record, and ErrNotScheduled when the reminder had started or ended.
func (s *Store) EndScheduled(ctx context.Context, m Message, status ledger.MessageStatus, reason string) (Message, error) {
	if m.Status != ledger.Scheduled {
		return Message{}, ErrNotScheduled
	}
	ended := m
	ended.Status, ended.Reason = status, reason
	ended.UpdatedAt = s.now()
	row := RowKey{AppID: m.AppID, OpenID: m.OpenID, TemplateID: m.TemplateID}
	msgValues := map[string]types.AttributeValue{
		":st": str(string(status)), ":scheduled": str(string(ledger.Scheduled)), ":reason": str(reason),
		":now": num(millis(ended.UpdatedAt)), ":attempt": str(m.Attempt), ":eff": str(effectReleased),
	}
	msg := types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(s.table),
		Key:                       key(messagePK(m.ID), "M"),
		UpdateExpression:          aws.String("SET #st = :st, reason = :reason, effect = :eff, updated_at = :now"),
		ConditionExpression:       aws.String("#st = :scheduled AND attempt = :attempt"),
		ExpressionAttributeNames:  map[string]string{"#st": "status"},
		ExpressionAttributeValues: msgValues,
	}}
	var err error
	for _, revoke := range []bool{false, true, false} {
		back, cond := "credits = credits + cost", "attribute_not_exists(zeroed_at) OR zeroed_at < :reserved"
		msgValues[":eff"] = str(effectReleased)
		if revoke {
			back, cond = "revoked = revoked + cost", "zeroed_at >= :reserved"
			msgValues[":eff"] = str(effectRevoked)
		}
		items := []types.TransactWriteItem{msg, {Update: &types.Update{
			TableName:           aws.String(s.table),
			Key:                 key(row.pk(), row.sk()),
			UpdateExpression:    aws.String("SET held = if_not_exists(held, :zero) - cost, " + back + ", updated_at = :now"),
			ConditionExpression: aws.String(cond),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":now": num(millis(ended.UpdatedAt)), ":reserved": num(millis(m.ReservedAt)), ":zero": num(0),
			},
		}}}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return ended, nil
		}
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) || len(tce.CancellationReasons) != 2 {
			break
		}
		if failedCondition(tce.CancellationReasons[0]) {
			return Message{}, ErrNotScheduled
		}
		if !failedCondition(tce.CancellationReasons[1]) {
			break
		}
		// The row was (or was not) zeroed since the hold: try the other way.
	}
	return Message{}, fmt.Errorf("store: end reminder %s: %w", m.ID, err)
}

// ScheduledOf lists a user's reminders for one template that are still
// scheduled (from gsi1, which lags the table a little: a reminder held a
// moment ago may be missing, and its dispatch checks again).
func (s *Store) ScheduledOf(ctx context.Context, k RowKey) ([]Message, error) {
	var out []Message
	cursor := ""
	for {
		page, next, err := s.UserMessagesPage(ctx, k.AppID, k.OpenID, ledger.Scheduled, 100, cursor)
		if err != nil {
			return nil, err
		}
		for _, m := range page {
			if m.TemplateID == k.TemplateID {
				out = append(out, m)
			}
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}

// UserMessagesPage lists up to limit of a user's messages, newest first,
// only those in status when it is not empty. after is the cursor a previous
// page returned ("" for the first); next is "" on the last page. A page
// holds fewer than limit messages only when it is the last, or when many
// messages in other statuses were skipped (then next goes on).
func (s *Store) UserMessagesPage(ctx context.Context, appid, openid string, status ledger.MessageStatus, limit int32, after string) (msgs []Message, next string, err error) {
	gpk := "UM#" + appid + "#" + openid
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(GSI1),
		KeyConditionExpression:    aws.String("gsi1pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": str(gpk)},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(limit),
	}
	if status != "" {
		in.FilterExpression = aws.String("#st = :st")
		in.ExpressionAttributeNames = map[string]string{"#st": "status"}
		in.ExpressionAttributeValues[":st"] = str(string(status))
	}
	startAt := func(sk string) error {
		_, id, ok := strings.Cut(sk, "#")
		if !ok || id == "" {
			return fmt.Errorf("store: bad message cursor %q", sk)
		}
		in.ExclusiveStartKey = map[string]types.AttributeValue{
			PartitionKey: str(messagePK(id)), SortKey: str("M"), GSI1PK: str(gpk), GSI1SK: str(sk),
		}
		return nil
	}
	if after != "" {
		if err := startAt(after); err != nil {
			return nil, "", err
		}
	}
	// A filter applies after Limit, so a query may return few matches:
	// read on, up to maxQueries, until the page is full.
	const maxQueries = 10
	for q := 0; q < maxQueries; q++ {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("store: query user messages: %w", err)
		}
		for i, item := range out.Items {
			m, err := decodeMessage(item)
			if err != nil {
				return nil, "", err
			}
			if s.expired(m) {
				continue // DynamoDB's TTL deletes lazily: expired items still appear
			}
			msgs = append(msgs, m)
			if int32(len(msgs)) == limit {
				if i < len(out.Items)-1 || attrS(out.LastEvaluatedKey, GSI1PK) == gpk {
					next = attrS(item, GSI1SK)
				}
				return msgs, next, nil
			}
		}
		// DynamoDB's last key is always in the queried partition; minidyn's
		// (under the in-process server) can lie past it once the partition
		// is exhausted, which also means the end.
		if len(out.LastEvaluatedKey) == 0 || attrS(out.LastEvaluatedKey, GSI1PK) != gpk {
			return msgs, "", nil
		}
		next = attrS(out.LastEvaluatedKey, GSI1SK)
		if err := startAt(next); err != nil {
			return nil, "", err
		}
	}
	return msgs, next, nil
}

// ZeroedWhileHeld reports whether a change of the table's stream is a
// ledger row whose balance was zeroed while it held reminders' credits, and
// names the row, the zeroing's time and how many credits were held then:
// those reminders must end (their credits are revoked with the balance).
func ZeroedWhileHeld(c Change) (k RowKey, zeroedAt time.Time, held int64, ok bool) {
	img := c.New
	if img == nil || !strings.HasPrefix(attrS(img, PartitionKey), "U#") || !strings.HasPrefix(attrS(img, SortKey), "T#") {
		return RowKey{}, time.Time{}, 0, false
	}
	z, held := attrN(img, "zeroed_at"), attrN(img, "held")
	if held <= 0 || z == 0 || z == attrN(c.Old, "zeroed_at") {
		return RowKey{}, time.Time{}, 0, false
	}
	return RowKey{AppID: attrS(img, "appid"), OpenID: attrS(img, "openid"), TemplateID: attrS(img, "template_id")}, fromMillis(z), held, true
}
