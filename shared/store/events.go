package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxsub/wxsub/shared/ledger"
)

// ApplyAccept records an "allow" tap learnt from src and returns the row
// after it. For a one-time template it follows ledger.AcceptFrom: when the
// other source reported an accept of this row within ledger.PairWindow that
// has not been paired yet, this is the same tap, nothing is granted and
// paired is true; otherwise one credit is granted and left for the other
// source to pair with. It costs one request when nothing waits to be paired
// and two when it pairs (two the first time a user answers a template too).
// A long-term accept is ApplyTap's.
func (s *Store) ApplyAccept(ctx context.Context, k RowKey, kind ledger.Kind, src ledger.Source) (row ledger.Row, paired bool, err error) {
	if kind != ledger.OneTime {
		row, err = s.ApplyTap(ctx, k, kind, ledger.OnTap(kind, ledger.TapAccept))
		return row, false, err
	}
	for attempt := 0; attempt < 3; attempt++ {
		now := s.now()
		row, err = s.grantAccept(ctx, k, src, now)
		if err == nil {
			return row, false, nil
		}
		if !isConditionFailed(err) {
			return ledger.Row{}, false, err
		}
		if conditionOld(err) == nil {
			// No row yet: create it with the grant, pending for the other source.
			row, _ = ledger.AcceptFrom(ledger.Row{AppID: k.AppID, OpenID: k.OpenID, TemplateID: k.TemplateID, Kind: kind}, src, now)
			item, err := attributevalue.MarshalMap(newRowItem(k, row))
			if err != nil {
				return ledger.Row{}, false, fmt.Errorf("store: encode ledger row: %w", err)
			}
			_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
				TableName: aws.String(s.table), Item: item,
				ConditionExpression: aws.String("attribute_not_exists(pk)"),
			})
			if err == nil {
				return row, false, nil
			}
			if !isConditionFailed(err) {
				return ledger.Row{}, false, fmt.Errorf("store: create ledger row: %w", err)
			}
			continue // created meanwhile
		}
		// The other source has an open accept: this report is its pair.
		row, err = s.pairAccept(ctx, k, src, now)
		if err == nil {
			return row, true, nil
		}
		if !isConditionFailed(err) {
			return ledger.Row{}, false, err
		}
		// Paired by another request meanwhile: try to grant again.
	}
	return ledger.Row{}, false, errors.New("store: ledger row kept changing while recording an accept")
}

// pendingAttributes names the attributes counting src's unpaired accepts.
func pendingAttributes(src ledger.Source) (count, at string) {
	if src == ledger.FromClient {
		return "client_pending", "client_pending_at"
	}
	return "push_pending", "push_pending_at"
}

// grantAccept grants one credit unless the other source has an open accept
// (then it fails its condition, returning the row it saw).
func (s *Store) grantAccept(ctx context.Context, k RowKey, src ledger.Source, now time.Time) (ledger.Row, error) {
	own, ownAt := pendingAttributes(src)
	other, otherAt := pendingAttributes(src.Other())
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table),
		Key:       key(k.pk(), k.sk()),
		UpdateExpression: aws.String("SET #kind = :kind, cost = :one, updated_at = :now, #st = :accept, " +
			"credits = credits + :one, granted = granted + :one, " +
			own + " = if_not_exists(" + own + ", :zero) + :one, " + ownAt + " = :now"),
		ConditionExpression: aws.String("attribute_exists(pk) AND " +
			"(attribute_not_exists(" + other + ") OR " + other + " < :one OR " + otherAt + " < :cutoff)"),
		ExpressionAttributeNames: map[string]string{"#kind": "kind", "#st": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":kind": str(string(ledger.OneTime)), ":accept": str(string(ledger.Accept)),
			":one": num(1), ":zero": num(0), ":now": num(millis(now)),
			":cutoff": num(millis(now.Add(-ledger.PairWindow))),
		},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil {
		if isConditionFailed(err) {
			return ledger.Row{}, err
		}
		return ledger.Row{}, fmt.Errorf("store: grant accept: %w", err)
	}
	return decodeRow(out.Attributes)
}

// pairAccept uses up one open accept of the other source. The first report
// of the tap already set the status and the credit, so nothing else changes.
func (s *Store) pairAccept(ctx context.Context, k RowKey, src ledger.Source, now time.Time) (ledger.Row, error) {
	other, otherAt := pendingAttributes(src.Other())
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 key(k.pk(), k.sk()),
		UpdateExpression:    aws.String("SET " + other + " = " + other + " - :one"),
		ConditionExpression: aws.String(other + " >= :one AND " + otherAt + " >= :cutoff"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": num(1), ":cutoff": num(millis(now.Add(-ledger.PairWindow))),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		if isConditionFailed(err) {
			return ledger.Row{}, err
		}
		return ledger.Row{}, fmt.Errorf("store: pair accept: %w", err)
	}
	return decodeRow(out.Attributes)
}

// Lifetimes of the push bookkeeping items.
const (
	// NonceTTL outlives the ±5 minute timestamp window of a push, so a nonce
	// cannot be replayed while its timestamp is still accepted.
	NonceTTL = 10 * time.Minute
	// EventTTL covers WeChat's retries of a push many times over.
	EventTTL = 24 * time.Hour
)

// ErrClaimed is returned by ClaimNonce and ClaimEvent for a key already
// claimed and not expired.
var ErrClaimed = errors.New("store: already claimed")

// ClaimNonce records the nonce of a push for NonceTTL; ErrClaimed means it
// was seen before (a replay).
func (s *Store) ClaimNonce(ctx context.Context, appid, nonce string) error {
	return s.claim(ctx, "N#"+appid+"#"+nonce, "N", NonceTTL)
}

// ClaimEvent records one item of a pushed event, named by a digest of its
// content, for EventTTL; ErrClaimed means it was applied before (WeChat
// retried the push, with a fresh nonce).
func (s *Store) ClaimEvent(ctx context.Context, appid, digest string) error {
	return s.claim(ctx, "E#"+appid+"#"+digest, "E", EventTTL)
}

// ReportTTL is how long a client report's report_id is remembered: a repeat
// within it changes nothing.
const ReportTTL = 24 * time.Hour

// ClaimReport records a client report's report_id for one user for
// ReportTTL; ErrClaimed means the user sent it before (a retry).
func (s *Store) ClaimReport(ctx context.Context, appid, openid, reportID string) error {
	return s.claim(ctx, "R#"+appid+"#"+openid+"#"+reportID, "R", ReportTTL)
}

// ReleaseReport forgets the report_id of a report that could not be
// recorded, so that the client's retry records it.
func (s *Store) ReleaseReport(ctx context.Context, appid, openid, reportID string) error {
	return s.release(ctx, "R#"+appid+"#"+openid+"#"+reportID, "R")
}

// ReleaseEvent forgets a claim whose item could not be applied, so that
// WeChat's retry applies it: the claim expires now (and DynamoDB's TTL
// removes it; TTL ignores items expired more than five years ago, so not 0).
func (s *Store) ReleaseEvent(ctx context.Context, appid, digest string) error {
	return s.release(ctx, "E#"+appid+"#"+digest, "E")
}

// ReleaseNonce forgets the nonce of a push that could not be applied, so that
// a retry signed with the same nonce is not refused as a replay.
func (s *Store) ReleaseNonce(ctx context.Context, appid, nonce string) error {
	return s.release(ctx, "N#"+appid+"#"+nonce, "N")
}

// release expires a claim now.
func (s *Store) release(ctx context.Context, pk, sk string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(pk, sk),
		UpdateExpression:          aws.String("SET #ttl = :expired"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames:  map[string]string{"#ttl": TTLAttribute},
		ExpressionAttributeValues: map[string]types.AttributeValue{":expired": num(s.now().Unix() - 1)},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("store: release claim %s: %w", sk, err)
	}
	return nil
}

// claim puts pk/sk with an expiry unless it exists and has not expired. The
// expiry is checked here too because the local DynamoDB never expires items.
func (s *Store) claim(ctx context.Context, pk, sk string, ttl time.Duration) error {
	now := s.now()
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			PartitionKey: str(pk), SortKey: str(sk), TTLAttribute: num(now.Add(ttl).Unix()),
		},
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR #ttl < :now"),
		ExpressionAttributeNames:  map[string]string{"#ttl": TTLAttribute},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.Unix())},
	})
	if err == nil {
		return nil
	}
	if isConditionFailed(err) {
		return ErrClaimed
	}
	return fmt.Errorf("store: claim %s: %w", strings.SplitN(pk, "#", 2)[0], err)
}

// pointerItem leads from WeChat's msgid to the message record.
type pointerItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	TTL       int64  `dynamodbav:"ttl"`
	MessageID string `dynamodbav:"message_id"`
}

func pointerPK(appid, msgid string) string { return "W#" + appid + "#" + msgid }

func newPointerItem(m Message) pointerItem {
	return pointerItem{
		PK: pointerPK(m.AppID, m.WeChatMsgID), SK: "W",
		TTL: m.CreatedAt.Add(MessageRetention).Unix(), MessageID: m.ID,
	}
}

// MessageByWeChatID finds the message WeChat answered with msgid;
// ErrNotFound when there is none (yet).
func (s *Store) MessageByWeChatID(ctx context.Context, appid, msgid string) (Message, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: key(pointerPK(appid, msgid), "W"), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Message{}, fmt.Errorf("store: get msgid pointer: %w", err)
	}
	if out.Item == nil {
		return Message{}, ErrNotFound
	}
	var p pointerItem
	if err := attributevalue.UnmarshalMap(out.Item, &p); err != nil {
		return Message{}, fmt.Errorf("store: decode msgid pointer: %w", err)
	}
	return s.Message(ctx, p.MessageID)
}

// DeliveryReport is one item of a subscribe_msg_sent_event, as it applies
// to a message.
type DeliveryReport struct {
	Delivery ledger.Delivery
	// Kind is the template's kind, for Delivery.ZeroBalance.
	Kind ledger.Kind
	// WeChatMsgID is recorded on a message that has none (an unknown one).
	WeChatMsgID string
	// ErrCode and ErrMsg are the event's ErrorCode and ErrorStatus, recorded on a failure.
	ErrCode int
	ErrMsg  string
}

// RecordDelivery moves m from sent or unknown to the reported status, in one
// transaction with the zeroing of the row's balance when the report says no
// authorisation is left (a broadcast's counts follow through the tally). A
// failed message is marked accepted: WeChat took the
// send, so its credit stays spent. changed is false when m was no longer sent
// or unknown (a repeated event, or one for a message already final).
func (s *Store) RecordDelivery(ctx context.Context, m Message, r DeliveryReport) (changed bool, err error) {
	if m.Status != ledger.Sent && m.Status != ledger.Unknown {
		return false, nil
	}
	now := millis(s.now())
	sets := []string{"#st = :st", "updated_at = :now"}
	values := map[string]types.AttributeValue{
		":st": str(string(r.Delivery.Status)), ":now": num(now), ":was": str(string(m.Status)),
	}
	if m.WeChatMsgID == "" && r.WeChatMsgID != "" {
		sets = append(sets, "wechat_msgid = :wx")
		values[":wx"] = str(r.WeChatMsgID)
	}
	if r.Delivery.Status == ledger.Failed {
		sets = append(sets, "errcode = :code", "errmsg = :msg", "accepted = :true")
		values[":code"] = num(int64(r.ErrCode))
		values[":msg"] = str(r.ErrMsg)
		values[":true"] = &types.AttributeValueMemberBOOL{Value: true}
	}
	items := []types.TransactWriteItem{{Update: &types.Update{
		TableName:        aws.String(s.table),
		Key:              key(messagePK(m.ID), "M"),
		UpdateExpression: aws.String("SET " + strings.Join(sets, ", ")),
		// As m was read: a message that moved meanwhile is read again by the
		// caller's retry of the push (the counts below depend on it).
		ConditionExpression:       aws.String("#st = :was"),
		ExpressionAttributeNames:  map[string]string{"#st": "status"},
		ExpressionAttributeValues: values,
	}}}
	if r.Delivery.ZeroBalance {
		k := RowKey{AppID: m.AppID, OpenID: m.OpenID, TemplateID: m.TemplateID}
		u := &types.Update{
			TableName:           aws.String(s.table),
			Key:                 key(k.pk(), k.sk()),
			ConditionExpression: aws.String("attribute_exists(pk)"),
		}
		if r.Kind == ledger.LongTerm {
			u.UpdateExpression = aws.String("SET #st = :reject, updated_at = :now")
			u.ExpressionAttributeNames = map[string]string{"#st": "status"}
			u.ExpressionAttributeValues = map[string]types.AttributeValue{":reject": str(string(ledger.Reject)), ":now": num(now)}
		} else {
			u.UpdateExpression = aws.String("SET revoked = revoked + credits, credits = :zero, updated_at = :now, zeroed_at = :now")
			u.ExpressionAttributeValues = map[string]types.AttributeValue{":zero": num(0), ":now": num(now)}
		}
		items = append(items, types.TransactWriteItem{Update: u})
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if err == nil {
		return true, nil
	}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) && len(tce.CancellationReasons) > 0 &&
		aws.ToString(tce.CancellationReasons[0].Code) == "ConditionalCheckFailed" {
		return false, nil
	}
	return false, fmt.Errorf("store: record delivery of message %s: %w", m.ID, err)
}
