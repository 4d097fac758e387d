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

// Broadcast is one send of a template to every user who may receive it.
type Broadcast struct {
	ID               string `dynamodbav:"id"`
	AppID            string `dynamodbav:"appid"`
	TemplateID       string `dynamodbav:"template_id"`
	Page             string `dynamodbav:"page,omitempty"`
	MiniprogramState string `dynamodbav:"miniprogram_state,omitempty"`
	Lang             string `dynamodbav:"lang,omitempty"`
	// MiniprogramAppID and MiniprogramPage are an official account's
	// bizsend link to a mini-program page ("" for none).
	MiniprogramAppID string `dynamodbav:"miniprogram_appid,omitempty"`
	MiniprogramPage  string `dynamodbav:"miniprogram_pagepath,omitempty"`
	// Data is the template data as JSON ({"thing1":{"value":"..."}}).
	Data      string    `dynamodbav:"data"`
	CreatedAt time.Time `dynamodbav:"created_at"`
	// SendAt is when a scheduled broadcast starts (zero: at once); Started
	// is set when the dispatcher queued it (StartBroadcast).
	SendAt  time.Time `dynamodbav:"send_at,omitempty"`
	Started bool      `dynamodbav:"started,omitempty"`
	// FanoutDone is set once every eligible user has been queued.
	FanoutDone bool  `dynamodbav:"fanout_done"`
	Queued     int64 `dynamodbav:"queued"`
	// Sent, NoCredit, Failed and Unknown count the queued users' outcomes;
	// they live in an item beside the broadcast's (pk B#<id>, sk C) that
	// the tally keeps from the table's stream (tally.go), about a second
	// behind the sends. A sent event moves an unknown send to Sent or Failed.
	Sent     int64 `dynamodbav:"-"`
	NoCredit int64 `dynamodbav:"-"`
	Failed   int64 `dynamodbav:"-"`
	Unknown  int64 `dynamodbav:"-"`
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

// PutBroadcast records a new broadcast. A scheduled one (SendAt set) gets
// an entry in its due minute in the same transaction, which the dispatcher
// finds at its time.
func (s *Store) PutBroadcast(ctx context.Context, b Broadcast) error {
	retained := b.CreatedAt
	if b.SendAt.After(retained) {
		retained = b.SendAt
	}
	item, err := attributevalue.MarshalMap(broadcastItem{PK: "B#" + b.ID, SK: "B",
		TTL: retained.Add(BroadcastRetention).Unix(), Broadcast: b})
	if err != nil {
		return fmt.Errorf("store: encode broadcast: %w", err)
	}
	put := &types.Put{TableName: aws.String(s.table), Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}
	if b.SendAt.IsZero() {
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: put.TableName, Item: put.Item, ConditionExpression: put.ConditionExpression,
		})
	} else {
		var due map[string]types.AttributeValue
		if due, err = attributevalue.MarshalMap(newDueItem(b.AppID, DueBroadcast, b.ID, b.SendAt)); err != nil {
			return fmt.Errorf("store: encode due entry: %w", err)
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: put}, {Put: &types.Put{TableName: aws.String(s.table), Item: due}},
		}})
	}
	if err != nil {
		return fmt.Errorf("store: put broadcast: %w", err)
	}
	return nil
}

// StartBroadcast marks a scheduled broadcast started (start true), once:
// changed is false when another run of the dispatcher started it first. With
// start false it undoes the mark, when queuing the broadcast failed.
func (s *Store) StartBroadcast(ctx context.Context, id string, start bool) (changed bool, err error) {
	cond := "attribute_exists(pk) AND started = :from"
	if start {
		cond = "attribute_exists(pk) AND (attribute_not_exists(started) OR started = :from)"
	}
	values := map[string]types.AttributeValue{
		":to": &types.AttributeValueMemberBOOL{Value: start}, ":from": &types.AttributeValueMemberBOOL{Value: !start},
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: broadcastKey(id),
		UpdateExpression:          aws.String("SET started = :to"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeValues: values,
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: mark broadcast %s started: %w", id, err)
	}
	return true, nil
}

func broadcastCountsKey(id string) map[string]types.AttributeValue { return key("B#"+id, "C") }

// Broadcast reads one broadcast with its counts, in one BatchGetItem;
// ErrNotFound when there is none or it has expired.
func (s *Store) Broadcast(ctx context.Context, id string) (Broadcast, error) {
	keys := []map[string]types.AttributeValue{broadcastKey(id), broadcastCountsKey(id)}
	items, err := s.batchGet(ctx, keys)
	if err != nil {
		return Broadcast{}, fmt.Errorf("store: get broadcast: %w", err)
	}
	var b Broadcast
	found := false
	var shards []broadcastShard
	for _, item := range items {
		if sk, _ := item[SortKey].(*types.AttributeValueMemberS); sk != nil && sk.Value == "B" {
			var it broadcastItem
			if err := attributevalue.UnmarshalMap(item, &it); err != nil {
				return Broadcast{}, fmt.Errorf("store: decode broadcast: %w", err)
			}
			if it.TTL > 0 && s.now().Unix() > it.TTL {
				return Broadcast{}, ErrNotFound // DynamoDB's TTL deletes lazily
			}
			b, found = it.Broadcast, true
			continue
		}
		var sh broadcastShard
		if err := attributevalue.UnmarshalMap(item, &sh); err != nil {
			return Broadcast{}, fmt.Errorf("store: decode broadcast counts: %w", err)
		}
		shards = append(shards, sh)
	}
	if !found {
		return Broadcast{}, ErrNotFound
	}
	for _, sh := range shards {
		b.Sent += sh.Sent
		b.NoCredit += sh.NoCredit
		b.Failed += sh.Failed
		b.Unknown += sh.Unknown
	}
	return b, nil
}

// broadcastShard is the item of a broadcast's outcome counts.
type broadcastShard struct {
	Sent     int64 `dynamodbav:"sent"`
	NoCredit int64 `dynamodbav:"no_credit"`
	Failed   int64 `dynamodbav:"failed"`
	Unknown  int64 `dynamodbav:"unknown"`
}

// BroadcastCounts are increments of a broadcast's counters.
type BroadcastCounts struct {
	Queued int64
	// FanoutDone marks that every eligible user has been queued.
	FanoutDone bool
	// Failed counts users that failed without a settlement (the catalogue
	// changed under the broadcast).
	Failed int64
}

// AddBroadcastCounts adds to a broadcast's counters atomically: Queued and
// FanoutDone on the broadcast's item (one write per page of users), Failed
// on its counts item (a rare failure without a message record).
func (s *Store) AddBroadcastCounts(ctx context.Context, id string, c BroadcastCounts) error {
	if c.Queued != 0 || c.FanoutDone {
		expr := "SET queued = queued + :q"
		values := map[string]types.AttributeValue{":q": num(c.Queued)}
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
	}
	if c.Failed != 0 {
		_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(s.table),
			Key:                       broadcastCountsKey(id),
			UpdateExpression:          aws.String("ADD failed :n SET #ttl = :ttl"),
			ExpressionAttributeNames:  map[string]string{"#ttl": TTLAttribute},
			ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(c.Failed), ":ttl": num(s.now().Add(BroadcastRetention).Unix())},
		})
		if err != nil {
			return fmt.Errorf("store: count broadcast %s: %w", id, err)
		}
	}
	return nil
}

// outcomeCounter names the broadcast counter a settled message adds to: its
// answer decides (200 sent, 409 no credit), and a send whose outcome is
// unknown is unknown until its sent event arrives.
func outcomeCounter(m Message) string {
	switch {
	case m.AnswerStatus == 200:
		return "sent"
	case m.AnswerStatus == 409:
		return "no_credit"
	case m.Status == ledger.Unknown:
		return "unknown"
	}
	return "failed"
}
