package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Broadcast is one send of a template to every user who may receive it.
type Broadcast struct {
	ID               string `dynamodbav:"id"`
	AppID            string `dynamodbav:"appid"`
	TemplateID       string `dynamodbav:"template_id"`
	Page             string `dynamodbav:"page,omitempty"`
	MiniprogramState string `dynamodbav:"miniprogram_state,omitempty"`
	Lang             string `dynamodbav:"lang,omitempty"`
	// Data is the template data as JSON ({"thing1":{"value":"..."}}).
	Data      string    `dynamodbav:"data"`
	CreatedAt time.Time `dynamodbav:"created_at"`
	// FanoutDone is set once every eligible user has been queued.
	FanoutDone bool  `dynamodbav:"fanout_done"`
	Queued     int64 `dynamodbav:"queued"`
	Sent       int64 `dynamodbav:"sent"`
	NoCredit   int64 `dynamodbav:"no_credit"`
	Failed     int64 `dynamodbav:"failed"`
}

// BroadcastRetention is how long broadcast records are kept.
const BroadcastRetention = 30 * 24 * time.Hour

type broadcastItem struct {
	PK  string `dynamodbav:"pk"`
	SK  string `dynamodbav:"sk"`
	TTL int64  `dynamodbav:"ttl"`
	Broadcast
}

func broadcastKey(id string) map[string]types.AttributeValue { return key("B#"+id, "B") }

// PutBroadcast records a new broadcast.
func (s *Store) PutBroadcast(ctx context.Context, b Broadcast) error {
	item, err := attributevalue.MarshalMap(broadcastItem{PK: "B#" + b.ID, SK: "B",
		TTL: b.CreatedAt.Add(BroadcastRetention).Unix(), Broadcast: b})
	if err != nil {
		return fmt.Errorf("store: encode broadcast: %w", err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if err != nil {
		return fmt.Errorf("store: put broadcast: %w", err)
	}
	return nil
}

// Broadcast reads one broadcast.
func (s *Store) Broadcast(ctx context.Context, id string) (Broadcast, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: broadcastKey(id), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Broadcast{}, fmt.Errorf("store: get broadcast: %w", err)
	}
	if out.Item == nil {
		return Broadcast{}, ErrNotFound
	}
	var it broadcastItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return Broadcast{}, fmt.Errorf("store: decode broadcast: %w", err)
	}
	return it.Broadcast, nil
}

// BroadcastCounts are increments of a broadcast's counters.
type BroadcastCounts struct {
	Queued, Sent, NoCredit, Failed int64
	// FanoutDone marks that every eligible user has been queued.
	FanoutDone bool
}

// AddBroadcastCounts adds to a broadcast's counters atomically.
func (s *Store) AddBroadcastCounts(ctx context.Context, id string, c BroadcastCounts) error {
	expr := "SET queued = queued + :q, sent = sent + :s, no_credit = no_credit + :n, failed = failed + :f"
	values := map[string]types.AttributeValue{
		":q": num(c.Queued), ":s": num(c.Sent), ":n": num(c.NoCredit), ":f": num(c.Failed),
	}
	if c.FanoutDone {
		expr += ", fanout_done = :t"
		values[":t"] = &types.AttributeValueMemberBOOL{Value: true}
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       broadcastKey(id),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return fmt.Errorf("store: count broadcast %s: %w", id, err)
	}
	return nil
}

// broadcastCountUpdate is the broadcast's share of a settlement: the message's
// outcome counted once, in the same transaction that settles it, so that a
// job the queue delivers twice (or that stops half-way) never counts a user
// twice or not at all. The answer decides: 200 sent, 409 no credit, else failed.
func (s *Store) broadcastCountUpdate(m Message) *types.Update {
	counter := "failed"
	switch m.AnswerStatus {
	case 200:
		counter = "sent"
	case 409:
		counter = "no_credit"
	}
	return &types.Update{
		TableName:                 aws.String(s.table),
		Key:                       broadcastKey(m.BroadcastID),
		UpdateExpression:          aws.String("SET #c = #c + :one"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames:  map[string]string{"#c": counter},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1)},
	}
}
