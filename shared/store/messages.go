package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxsub/wxsub/shared/ledger"
)

// MessageRetention is how long message records are kept before DynamoDB's TTL removes them.
const MessageRetention = 30 * 24 * time.Hour

// Message is the record of one send.
type Message struct {
	ID          string
	AppID       string
	OpenID      string
	TemplateID  string
	Page        string
	Status      ledger.MessageStatus
	ErrCode     int
	ErrMsg      string
	WeChatMsgID string
	// Accepted marks a failed message that WeChat had taken (its sent event
	// reported the failure): its credit stays spent.
	Accepted bool
	// IdempotencyKey is the caller's Idempotency-Key, when it sent one.
	IdempotencyKey string
	BroadcastID    string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// AnswerStatus and Answer are the HTTP answer given to the send, returned
	// again to a repeat of the same Idempotency-Key.
	AnswerStatus int
	Answer       string
}

type messageItem struct {
	PK             string `dynamodbav:"pk"`
	SK             string `dynamodbav:"sk"`
	GSI1PK         string `dynamodbav:"gsi1pk"`
	GSI1SK         string `dynamodbav:"gsi1sk"`
	TTL            int64  `dynamodbav:"ttl"`
	ID             string `dynamodbav:"id"`
	AppID          string `dynamodbav:"appid"`
	OpenID         string `dynamodbav:"openid"`
	TemplateID     string `dynamodbav:"template_id"`
	Page           string `dynamodbav:"page,omitempty"`
	Status         string `dynamodbav:"status"`
	ErrCode        int    `dynamodbav:"errcode"`
	ErrMsg         string `dynamodbav:"errmsg,omitempty"`
	WeChatMsgID    string `dynamodbav:"wechat_msgid,omitempty"`
	Accepted       bool   `dynamodbav:"accepted,omitempty"`
	IdempotencyKey string `dynamodbav:"idempotency_key,omitempty"`
	BroadcastID    string `dynamodbav:"broadcast_id,omitempty"`
	CreatedAt      int64  `dynamodbav:"created_at"`
	UpdatedAt      int64  `dynamodbav:"updated_at"`
	AnswerStatus   int    `dynamodbav:"answer_status,omitempty"`
	Answer         string `dynamodbav:"answer,omitempty"`
}

func messagePK(id string) string { return "M#" + id }

func newMessageItem(m Message) messageItem {
	return messageItem{
		PK: messagePK(m.ID), SK: "M",
		GSI1PK: "UM#" + m.AppID + "#" + m.OpenID,
		GSI1SK: fmt.Sprintf("%013d#%s", millis(m.CreatedAt), m.ID),
		TTL:    m.CreatedAt.Add(MessageRetention).Unix(),
		ID:     m.ID, AppID: m.AppID, OpenID: m.OpenID, TemplateID: m.TemplateID, Page: m.Page,
		Status: string(m.Status), ErrCode: m.ErrCode, ErrMsg: m.ErrMsg, WeChatMsgID: m.WeChatMsgID, Accepted: m.Accepted,
		IdempotencyKey: m.IdempotencyKey, BroadcastID: m.BroadcastID,
		CreatedAt: millis(m.CreatedAt), UpdatedAt: millis(m.UpdatedAt),
		AnswerStatus: m.AnswerStatus, Answer: m.Answer,
	}
}

func (it messageItem) message() Message {
	return Message{
		ID: it.ID, AppID: it.AppID, OpenID: it.OpenID, TemplateID: it.TemplateID, Page: it.Page,
		Status: ledger.MessageStatus(it.Status), ErrCode: it.ErrCode, ErrMsg: it.ErrMsg,
		WeChatMsgID: it.WeChatMsgID, Accepted: it.Accepted, IdempotencyKey: it.IdempotencyKey, BroadcastID: it.BroadcastID,
		CreatedAt: fromMillis(it.CreatedAt), UpdatedAt: fromMillis(it.UpdatedAt),
		AnswerStatus: it.AnswerStatus, Answer: it.Answer,
	}
}

func decodeMessage(av map[string]types.AttributeValue) (Message, error) {
	var it messageItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return Message{}, fmt.Errorf("store: decode message: %w", err)
	}
	return it.message(), nil
}

// Message reads one message record.
func (s *Store) Message(ctx context.Context, id string) (Message, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: key(messagePK(id), "M"), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Message{}, fmt.Errorf("store: get message: %w", err)
	}
	if out.Item == nil {
		return Message{}, ErrNotFound
	}
	m, err := decodeMessage(out.Item)
	if err != nil {
		return Message{}, err
	}
	if !m.CreatedAt.IsZero() && s.now().After(m.CreatedAt.Add(MessageRetention)) {
		return Message{}, ErrNotFound // expired; DynamoDB's TTL deletes it lazily
	}
	return m, nil
}

// DuplicateError is returned by Claim when the message id is already taken by
// a send younger than the idempotency window.
type DuplicateError struct {
	Existing Message
}

func (e *DuplicateError) Error() string { return "store: message " + e.Existing.ID + " already exists" }

// Claim records a pending message under an id derived from an Idempotency-Key,
// so that a repeat of the key finds it. An older record with the same id
// (beyond window) is replaced. It returns *DuplicateError with the existing
// record when the key was used within window.
func (s *Store) Claim(ctx context.Context, m Message, window time.Duration) error {
	item, err := attributevalue.MarshalMap(newMessageItem(m))
	if err != nil {
		return fmt.Errorf("store: encode message: %w", err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(s.table),
		Item:                                item,
		ConditionExpression:                 aws.String("attribute_not_exists(pk) OR created_at < :cutoff"),
		ExpressionAttributeValues:           map[string]types.AttributeValue{":cutoff": num(millis(m.CreatedAt.Add(-window)))},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return nil
	}
	if !isConditionFailed(err) {
		return fmt.Errorf("store: claim message: %w", err)
	}
	old := conditionOld(err)
	if old == nil {
		existing, gerr := s.Message(ctx, m.ID)
		if gerr != nil {
			return fmt.Errorf("store: read claimed message: %w", gerr)
		}
		return &DuplicateError{Existing: existing}
	}
	existing, derr := decodeMessage(old)
	if derr != nil {
		return derr
	}
	return &DuplicateError{Existing: existing}
}

// ReleaseClaim frees the id of a claim whose send never reserved a credit
// (the store failed): the claim still pending is dated back, so the next
// Claim of the key succeeds as a new attempt.
func (s *Store) ReleaseClaim(ctx context.Context, id string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(messagePK(id), "M"),
		UpdateExpression:          aws.String("SET created_at = :zero"),
		ConditionExpression:       aws.String("#st = :pending"),
		ExpressionAttributeNames:  map[string]string{"#st": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":zero": num(0), ":pending": str(string(ledger.Pending))},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("store: release claim %s: %w", id, err)
	}
	return nil
}

// Settlement is the end of one send: the final message record and what
// happens to the credit the send reserved.
type Settlement struct {
	Row     RowKey
	Kind    ledger.Kind
	Effect  ledger.CreditEffect
	Message Message
	// Claimed is true when Claim already wrote the message as pending.
	Claimed bool
	// Reserved is false when the send never reserved a credit (a refusal
	// remembered for an Idempotency-Key): only the message is written.
	Reserved bool
}

// Settle writes the final message record and settles the reserved credit in
// one transaction, so that the ledger and the messages never disagree. A
// message WeChat answered with a msgid also gets a pointer from that msgid,
// so that its subscribe_msg_sent_event finds it (MessageByWeChatID).
func (s *Store) Settle(ctx context.Context, st Settlement) error {
	m := st.Message
	m.UpdatedAt = s.now()
	var msgWrite types.TransactWriteItem
	if st.Claimed {
		values := map[string]types.AttributeValue{
			":st": str(string(m.Status)), ":code": num(int64(m.ErrCode)), ":msg": str(m.ErrMsg),
			":wx": str(m.WeChatMsgID), ":now": num(millis(m.UpdatedAt)),
			":as": num(int64(m.AnswerStatus)), ":a": str(m.Answer), ":pending": str(string(ledger.Pending)),
		}
		msgWrite.Update = &types.Update{
			TableName: aws.String(s.table),
			Key:       key(messagePK(m.ID), "M"),
			UpdateExpression: aws.String("SET #st = :st, errcode = :code, errmsg = :msg, wechat_msgid = :wx, " +
				"updated_at = :now, answer_status = :as, answer = :a"),
			ConditionExpression:       aws.String("#st = :pending"),
			ExpressionAttributeNames:  map[string]string{"#st": "status"},
			ExpressionAttributeValues: values,
		}
	} else {
		item, err := attributevalue.MarshalMap(newMessageItem(m))
		if err != nil {
			return fmt.Errorf("store: encode message: %w", err)
		}
		msgWrite.Put = &types.Put{
			TableName: aws.String(s.table), Item: item,
			ConditionExpression: aws.String("attribute_not_exists(pk)"),
		}
	}
	items := []types.TransactWriteItem{msgWrite}
	if m.WeChatMsgID != "" {
		ptr, err := attributevalue.MarshalMap(newPointerItem(m))
		if err != nil {
			return fmt.Errorf("store: encode msgid pointer: %w", err)
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.table), Item: ptr}})
	}
	if st.Reserved {
		items = append(items, types.TransactWriteItem{Update: s.settleUpdate(st.Row, st.Kind, st.Effect)})
		// Today's counters ride in the same transaction: no extra request.
		items = append(items, types.TransactWriteItem{Update: s.dayCountUpdate(st)})
	}
	if m.BroadcastID != "" {
		items = append(items, types.TransactWriteItem{Update: s.broadcastCountUpdate(m)})
	}
	if _, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
		return fmt.Errorf("store: settle message %s: %w", m.ID, err)
	}
	return nil
}

// UserMessages lists the messages sent to one user, oldest first.
func (s *Store) UserMessages(ctx context.Context, appid, openid string) ([]Message, error) {
	var msgs []Message
	var start map[string]types.AttributeValue
	for {
		out, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			IndexName:                 aws.String(GSI1),
			KeyConditionExpression:    aws.String("gsi1pk = :p"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": str("UM#" + appid + "#" + openid)},
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, fmt.Errorf("store: query user messages: %w", err)
		}
		for _, item := range out.Items {
			m, err := decodeMessage(item)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, m)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return msgs, nil
		}
		start = out.LastEvaluatedKey
	}
}
