package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/wait"
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
	// Kind is the template's kind when the send reserved its credit.
	Kind ledger.Kind
	// Attempt is a random id of the send that wrote the record, so that a
	// settlement applies only to the reservation it follows.
	Attempt   string
	CreatedAt time.Time
	UpdatedAt time.Time
	// ReservedAt is when the reservation's transaction was written (it may
	// retry after CreatedAt): a zeroing of the row at or after it wins over
	// the release of its credit (ledger.RevokesRelease).
	ReservedAt time.Time
	// AnswerStatus and Answer are the HTTP answer given to the send, returned
	// again to a repeat of the same Idempotency-Key.
	AnswerStatus int
	Answer       string
	// SendAt is when a reminder is due (zero for an immediate send).
	SendAt time.Time
	// StartedAt is when a reminder's send started (left scheduled).
	StartedAt time.Time
	// Request is a reminder's message as JSON (wechat.Message), kept until
	// its send.
	Request string
	// Reason says why a reminder was cancelled.
	Reason string
}

// retainedFrom is when a message's retention starts: its creation, or a
// reminder's due time when later.
func (m Message) retainedFrom() time.Time {
	if m.SendAt.After(m.CreatedAt) {
		return m.SendAt
	}
	return m.CreatedAt
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
	Kind           string `dynamodbav:"kind,omitempty"`
	Attempt        string `dynamodbav:"attempt,omitempty"`
	CreatedAt      int64  `dynamodbav:"created_at"`
	UpdatedAt      int64  `dynamodbav:"updated_at"`
	ReservedAt     int64  `dynamodbav:"reserved_at,omitempty"`
	AnswerStatus   int    `dynamodbav:"answer_status,omitempty"`
	Answer         string `dynamodbav:"answer,omitempty"`
	SendAt         int64  `dynamodbav:"send_at,omitempty"`
	StartedAt      int64  `dynamodbav:"started_at,omitempty"`
	Request        string `dynamodbav:"request,omitempty"`
	Reason         string `dynamodbav:"reason,omitempty"`
}

func messagePK(id string) string { return "M#" + id }

func newMessageItem(m Message) messageItem {
	return messageItem{
		PK: messagePK(m.ID), SK: "M",
		GSI1PK: "UM#" + m.AppID + "#" + m.OpenID,
		GSI1SK: fmt.Sprintf("%013d#%s", millis(m.CreatedAt), m.ID),
		TTL:    m.retainedFrom().Add(MessageRetention).Unix(),
		ID:     m.ID, AppID: m.AppID, OpenID: m.OpenID, TemplateID: m.TemplateID, Page: m.Page,
		Status: string(m.Status), ErrCode: m.ErrCode, ErrMsg: m.ErrMsg, WeChatMsgID: m.WeChatMsgID, Accepted: m.Accepted,
		IdempotencyKey: m.IdempotencyKey, BroadcastID: m.BroadcastID, Kind: string(m.Kind), Attempt: m.Attempt,
		CreatedAt: millis(m.CreatedAt), UpdatedAt: millis(m.UpdatedAt), ReservedAt: millis(m.ReservedAt),
		AnswerStatus: m.AnswerStatus, Answer: m.Answer,
		SendAt: millis(m.SendAt), StartedAt: millis(m.StartedAt), Request: m.Request, Reason: m.Reason,
	}
}

func (it messageItem) message() Message {
	return Message{
		ID: it.ID, AppID: it.AppID, OpenID: it.OpenID, TemplateID: it.TemplateID, Page: it.Page,
		Status: ledger.MessageStatus(it.Status), ErrCode: it.ErrCode, ErrMsg: it.ErrMsg,
		WeChatMsgID: it.WeChatMsgID, Accepted: it.Accepted, IdempotencyKey: it.IdempotencyKey, BroadcastID: it.BroadcastID,
		Kind: ledger.Kind(it.Kind), Attempt: it.Attempt,
		CreatedAt: fromMillis(it.CreatedAt), UpdatedAt: fromMillis(it.UpdatedAt), ReservedAt: fromMillis(it.ReservedAt),
		AnswerStatus: it.AnswerStatus, Answer: it.Answer,
		SendAt: fromMillis(it.SendAt), StartedAt: fromMillis(it.StartedAt), Request: it.Request, Reason: it.Reason,
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
	if s.expired(m) {
		return Message{}, ErrNotFound // expired; DynamoDB's TTL deletes it lazily
	}
	return m, nil
}

// replaceable is the condition on a message id that a new send may take:
// free, or used by a send older than the idempotency window (":cutoff") that
// is not a reminder still waiting for its time (its credit is held).
const replaceable = "attribute_not_exists(pk) OR (created_at < :cutoff AND #st <> :scheduled)"

// DuplicateError is returned by Reserve and Remember when the message id
// (one derived from an Idempotency-Key) is taken by a send younger than the
// idempotency window.
type DuplicateError struct {
	Existing Message
}

func (e *DuplicateError) Error() string { return "store: message " + e.Existing.ID + " already exists" }

// A reservation retries conflicts in rounds of reserveAttempts, reading the
// row between rounds: many sends to one user at once wait their turn on the
// row rather than fail. It goes on until the context's deadline (the
// Lambda's) less reserveLeave, the time the rest of the send needs (WeChat's
// 10 s timeout and the settlement), or for reserveBudget when the context
// has no deadline.
const (
	reserveAttempts = 3
	reserveBudget   = 16 * time.Second
	reserveLeave    = 12 * time.Second
)

// Reservation is the first write of a send, made before WeChat is called.
type Reservation struct {
	Row RowKey
	// Message is the record in status pending, with Kind and Attempt set.
	Message Message
	// Window is how long a record with the same id (one derived from an
	// Idempotency-Key) blocks a new one; an older record is replaced.
	Window time.Duration
	// WriteBy is, for a reminder, the latest time (on the store's clock)
	// its hold may be written: HoldLead before its send_at, so that the
	// dispatcher, which reads DispatchAhead ahead, cannot have passed its
	// due time already. A round later than that fails with ErrTooLate.
	WriteBy time.Time
}

// ErrTooLate is returned by Reserve when a reminder's hold could not be
// written HoldLead before its send_at (the store kept it retrying).
var ErrTooLate = errors.New("store: the reminder's send_at came too close while its hold was retried")

// Reserve spends one credit of a one-time row (or checks that a long-term
// row is accepted), counts the send in flight, records the message as
// pending and leaves a pending marker for the sweep, in one transaction: a
// message is never sent without a record, and a send that dies before its
// settlement is found (StalePending). It returns *RefusedError when the row
// may not send and *DuplicateError when the message id is taken.
func (s *Store) Reserve(ctx context.Context, r Reservation) error {
	_, err := s.ReserveAt(ctx, r)
	return err
}

// A Message in status ledger.Scheduled (a reminder, with SendAt) is not
// sent now: its credit is held (moved from credits to held) and an entry in
// its due minute lets the dispatcher find it (reminders.go).
//
// ReserveAt is Reserve that also returns when the reservation was written,
// which its settlement needs (Message.ReservedAt): the transaction may be
// retried long after the message was created.
func (s *Store) ReserveAt(ctx context.Context, r Reservation) (time.Time, error) {
	m := r.Message
	// A send in flight is counted in spent and inflight and leaves a
	// pending marker for the sweep; a reminder holds its credit (held) and
	// leaves an entry in its due minute for the dispatcher.
	spend := "credits = credits - cost, spent = spent + cost, inflight = inflight + :one"
	marker, err := attributevalue.MarshalMap(newPendingItem(m))
	if m.Status == ledger.Scheduled {
		spend = "credits = credits - cost, held = if_not_exists(held, :zero) + cost"
		marker, err = attributevalue.MarshalMap(newDueItem(m.AppID, DueMessage, m.ID, m.SendAt))
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("store: encode pending marker: %w", err)
	}
	// The items of one round: the message and the row carry the round's time.
	round := func(at time.Time) ([]types.TransactWriteItem, error) {
		m.ReservedAt = at
		msg, err := attributevalue.MarshalMap(newMessageItem(m))
		if err != nil {
			return nil, fmt.Errorf("store: encode message: %w", err)
		}
		return []types.TransactWriteItem{
			{Update: &types.Update{
				TableName:        aws.String(s.table),
				Key:              key(r.Row.pk(), r.Row.sk()),
				UpdateExpression: aws.String("SET " + spend + ", updated_at = :now"),
				ConditionExpression: aws.String("attribute_exists(pk) AND #st <> :ban AND " +
					"((cost = :one AND credits >= :one) OR (cost = :zero AND #st = :accept))"),
				ExpressionAttributeNames: map[string]string{"#st": "status"},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":one": num(1), ":zero": num(0), ":now": num(millis(at)),
					":ban": str(string(ledger.Ban)), ":accept": str(string(ledger.Accept)),
				},
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
			}},
			{Put: &types.Put{
				TableName:                           aws.String(s.table),
				Item:                                msg,
				ConditionExpression:                 aws.String(replaceable),
				ExpressionAttributeNames:            map[string]string{"#st": "status"},
				ExpressionAttributeValues:           map[string]types.AttributeValue{":cutoff": num(millis(m.CreatedAt.Add(-r.Window))), ":scheduled": str(string(ledger.Scheduled))},
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
			}},
			{Put: &types.Put{TableName: aws.String(s.table), Item: marker}},
		}, nil
	}
	var items []types.TransactWriteItem
	deadline := time.Now().Add(reserveBudget)
	if d, ok := ctx.Deadline(); ok {
		deadline = d.Add(-reserveLeave)
	}
	for n := 1; ; n++ {
		at := s.now()
		if !r.WriteBy.IsZero() && at.After(r.WriteBy) {
			return time.Time{}, ErrTooLate
		}
		if items, err = round(at); err != nil {
			return time.Time{}, err
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items},
			func(o *dynamodb.Options) { o.RetryMaxAttempts = reserveAttempts })
		if err == nil {
			return at, nil
		}
		if !IsConflict(err) || time.Now().After(deadline) {
			break
		}
		// Many sends to one user meet on the row: before trying again, see
		// whether the row could still pay (a read never conflicts), so that
		// a crowd of sends for a spent balance is refused quickly.
		row, rerr := s.Row(ctx, r.Row)
		if errors.Is(rerr, ErrNotFound) {
			return time.Time{}, &RefusedError{Refusal: ledger.RefusedNoCredit}
		}
		if rerr == nil && ledger.CanReserve(row) != ledger.NoRefusal {
			return time.Time{}, refusedBy(row)
		}
		// It could: back off (full jitter, doubling up to a second) and retry.
		if err := wait.Sleep(ctx, time.Duration(rand.Int64N(int64(min(50*time.Millisecond<<min(n, 5), time.Second))))); err != nil {
			return time.Time{}, fmt.Errorf("store: reserve credit: %w", err)
		}
	}
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) || len(tce.CancellationReasons) != len(items) {
		return time.Time{}, fmt.Errorf("store: reserve credit: %w", err)
	}
	if failedCondition(tce.CancellationReasons[1]) {
		existing, err := s.conditionMessage(ctx, m.ID, tce.CancellationReasons[1].Item)
		if err != nil {
			return time.Time{}, err
		}
		if existing.Attempt == m.Attempt {
			// This reservation, written by an earlier round whose answer was lost.
			return existing.ReservedAt, nil
		}
		return time.Time{}, &DuplicateError{Existing: existing}
	}
	if failedCondition(tce.CancellationReasons[0]) {
		return time.Time{}, s.refusal(ctx, r.Row, tce.CancellationReasons[0].Item)
	}
	return time.Time{}, fmt.Errorf("store: reserve credit: %w", err)
}

func failedCondition(r types.CancellationReason) bool {
	return aws.ToString(r.Code) == "ConditionalCheckFailed"
}

// refusal explains a failed reservation from the row its condition saw
// (read again when DynamoDB did not return it).
func (s *Store) refusal(ctx context.Context, k RowKey, old map[string]types.AttributeValue) error {
	if old == nil {
		r, err := s.Row(ctx, k)
		if errors.Is(err, ErrNotFound) {
			return &RefusedError{Refusal: ledger.RefusedNoCredit}
		}
		if err != nil {
			return err
		}
		return refusedBy(r)
	}
	r, err := decodeRow(old)
	if err != nil {
		return err
	}
	return refusedBy(r)
}

func refusedBy(r ledger.Row) error {
	refusal := ledger.CanReserve(r)
	if refusal == ledger.NoRefusal {
		refusal = ledger.RefusedNoCredit // spent by another send meanwhile
	}
	return &RefusedError{Refusal: refusal, Row: r}
}

// conditionMessage decodes the message a failed condition saw, or reads it.
func (s *Store) conditionMessage(ctx context.Context, id string, old map[string]types.AttributeValue) (Message, error) {
	if old == nil {
		m, err := s.Message(ctx, id)
		if err != nil {
			return Message{}, fmt.Errorf("store: read message %s: %w", id, err)
		}
		return m, nil
	}
	return decodeMessage(old)
}

// Remember records the final answer of a send that never reserved a credit
// (a refusal) under an id derived from an Idempotency-Key, so that a repeat
// of the key gets it again; the tally counts a broadcast's message from it.
// It returns *DuplicateError when the key was used within window.
func (s *Store) Remember(ctx context.Context, m Message, window time.Duration) error {
	item, err := attributevalue.MarshalMap(newMessageItem(m))
	if err != nil {
		return fmt.Errorf("store: encode message: %w", err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(s.table),
		Item:                                item,
		ConditionExpression:                 aws.String(replaceable),
		ExpressionAttributeNames:            map[string]string{"#st": "status"},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":cutoff": num(millis(m.CreatedAt.Add(-window))), ":scheduled": str(string(ledger.Scheduled))},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	old := conditionOld(err)
	if err == nil {
		return nil
	}
	if !isConditionFailed(err) {
		return fmt.Errorf("store: remember answer of message %s: %w", m.ID, err)
	}
	existing, err := s.conditionMessage(ctx, m.ID, old)
	if err != nil {
		return err
	}
	return &DuplicateError{Existing: existing}
}

// Settlement is the end of one reserved send: the final message record and
// what happens to the credit the send reserved.
type Settlement struct {
	Row    RowKey
	Kind   ledger.Kind
	Effect ledger.CreditEffect
	// Message is the final record: the reservation's ID, Attempt and
	// CreatedAt with the outcome and the answer.
	Message Message
	// FreeKey lets the message's Idempotency-Key be used again at once: for
	// answers after which nothing was delivered and the credit was released.
	FreeKey bool
}

// ErrSettled is returned by Settle when the reservation was already settled
// differently: the sweep found it pending for too long and declared it
// unknown (its credit stays spent).
var ErrSettled = errors.New("store: the send was already settled")

// Settle writes the final message record and settles the reserved credit in
// one transaction, so that the ledger and the messages never disagree: the
// send leaves flight and its pending marker goes. The record keeps what
// became of the credit (effect), from which the tally counts the send in
// today's counters and its broadcast's (tally.go). A message WeChat answered with a msgid also
// gets a pointer from that msgid, so that its subscribe_msg_sent_event finds
// it (MessageByWeChatID). A settlement whose earlier attempt was written
// (its answer lost) is recognised as done.
func (s *Store) Settle(ctx context.Context, st Settlement) error {
	m := st.Message
	m.UpdatedAt = s.now()
	sets := "SET #st = :st, errcode = :code, errmsg = :msg, wechat_msgid = :wx, " +
		"updated_at = :now, answer_status = :as, answer = :a"
	values := map[string]types.AttributeValue{
		":st": str(string(m.Status)), ":code": num(int64(m.ErrCode)), ":msg": str(m.ErrMsg),
		":wx": str(m.WeChatMsgID), ":now": num(millis(m.UpdatedAt)),
		":as": num(int64(m.AnswerStatus)), ":a": str(m.Answer),
		":pending": str(string(ledger.Pending)), ":attempt": str(m.Attempt),
	}
	if e := effectOf(st.Kind, st.Effect); e != "" {
		sets += ", effect = :eff"
		values[":eff"] = str(e)
	}
	if st.FreeKey {
		sets += ", created_at = :zero"
		values[":zero"] = num(0)
	}
	items := []types.TransactWriteItem{{Update: &types.Update{
		TableName:                 aws.String(s.table),
		Key:                       key(messagePK(m.ID), "M"),
		UpdateExpression:          aws.String(sets),
		ConditionExpression:       aws.String("#st = :pending AND attempt = :attempt"),
		ExpressionAttributeNames:  map[string]string{"#st": "status"},
		ExpressionAttributeValues: values,
	}}}
	if m.WeChatMsgID != "" {
		ptr, err := attributevalue.MarshalMap(newPointerItem(m))
		if err != nil {
			return fmt.Errorf("store: encode msgid pointer: %w", err)
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.table), Item: ptr}})
	}
	pk, sk := pendingKey(m)
	items = append(items,
		types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.table), Key: key(pk, sk)}},
		types.TransactWriteItem{}, // the row's update, below
	)
	reservedAt := m.ReservedAt
	if reservedAt.IsZero() {
		reservedAt = m.CreatedAt // a reservation made before ReservedAt was recorded
	}
	// A release gives the credit back unless a zeroing came at or after the
	// reservation (ledger.RevokesRelease); the row's condition says which
	// holds, and a failed guess is retried with the other.
	revoke := false
	var err error
	for guess := 0; guess < 3; guess++ {
		items[len(items)-1] = types.TransactWriteItem{Update: s.settleUpdate(st.Row, st.Kind, st.Effect, reservedAt, revoke)}
		if _, ok := values[":eff"]; ok && revoke {
			values[":eff"] = str(effectRevoked) // not released: the tally counts none
		} else if ok && st.Effect == ledger.Release {
			values[":eff"] = str(effectReleased)
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return nil
		}
		var tce *types.TransactionCanceledException
		if st.Effect == ledger.Release && errors.As(err, &tce) && len(tce.CancellationReasons) == len(items) &&
			!failedCondition(tce.CancellationReasons[0]) && failedCondition(tce.CancellationReasons[len(items)-1]) {
			revoke = !revoke
			continue
		}
		break
	}
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) || len(tce.CancellationReasons) == 0 || !failedCondition(tce.CancellationReasons[0]) {
		return fmt.Errorf("store: settle message %s: %w", m.ID, err)
	}
	// The record is no longer this reservation's pending one: find out why.
	now, rerr := s.Message(ctx, m.ID)
	if rerr != nil {
		return fmt.Errorf("store: settle message %s: read it back: %w", m.ID, rerr)
	}
	if now.Attempt == m.Attempt && now.Status == m.Status && now.AnswerStatus == m.AnswerStatus {
		return nil // an earlier attempt of this settlement was written
	}
	return fmt.Errorf("store: settle message %s as %s: it is %s: %w", m.ID, m.Status, now.Status, ErrSettled)
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
			if s.expired(m) {
				continue // DynamoDB's TTL deletes lazily: expired items still appear
			}
			msgs = append(msgs, m)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return msgs, nil
		}
		start = out.LastEvaluatedKey
	}
}

// expired reports whether a message is past its retention (its ttl); a
// record whose key was freed (created_at 0) never expires by this test.
func (s *Store) expired(m Message) bool {
	return !m.CreatedAt.IsZero() && s.now().After(m.retainedFrom().Add(MessageRetention))
}
