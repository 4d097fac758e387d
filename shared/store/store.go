// Package store is wxsub's only door to DynamoDB. Everything lives in one
// table keyed by pk and sk with one global secondary index, gsi1:
//
//	item            pk                       sk            gsi1pk                gsi1sk
//	ledger row      U#<appid>#<openid>       T#<template>  T#<appid>#<template>  <openid>
//	message         M#<id>                   M             UM#<appid>#<openid>   <created>#<id>
//	access token    A#<appid>                TOKEN
//	template        A#<appid>                TPL#<id>
//	day counters    D#<appid>#<day>          D             (ttl: 40 days; written by the tally only)
//	pending marker  P#<appid>#<shard>        <created ms>#<message id>   (while a send is unsettled; PendingShards)
//	broadcast       B#<id>                   B             (ttl: 30 days)
//	broadcast counts B#<id>                  C             (written by the tally only)
//	tally marker    K#<first record id>      K             (ttl: 2 days; one per counted batch)
//	push nonce      N#<appid>#<nonce>        N             (ttl: 10 min)
//	push event      E#<appid>#<digest>       E             (ttl: 1 day; one per event item)
//	msgid pointer   W#<appid>#<msgid>        W             (ttl: the message's)
//
// No item is written by every send or every report: the counters are kept
// from the table's stream, a batch at a time (tally.go). Every request
// retries DynamoDB's conflicts and throttles (retry.go).
//
// Ledger rows also count the one-time accepts granted from one source (the
// client's report or WeChat's popup event) that the other has not reported
// yet: client_pending, push_pending and the Unix ms of the latest of each,
// client_pending_at and push_pending_at (ApplyAccept).
//
// Items that carry gsi1 keys are always created with PutItem and their keys are
// never changed afterwards. Update expressions use SET with arithmetic and
// scalar conditions only, which behave the same on DynamoDB, DynamoDB Local
// and the in-process server used by tests and `make run`.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute and index names of the table; template.yaml declares the same.
const (
	PartitionKey = "pk"
	SortKey      = "sk"
	TTLAttribute = "ttl"
	GSI1         = "gsi1"
	GSI1PK       = "gsi1pk"
	GSI1SK       = "gsi1sk"
)

// API is the subset of the DynamoDB client the store uses.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store reads and writes wxsub's table.
type Store struct {
	db    API
	table string
	now   func() time.Time
}

// New returns a Store on the named table. Every request it makes retries
// DynamoDB's conflicts and throttles with jittered backoff (see retry.go).
func New(db API, table string) *Store {
	return &Store{db: retrying{api: db, retryer: newRetryer()}, table: table, now: time.Now}
}

// WithClock returns a Store on the same table that reads the time from now,
// for tests of time windows.
func (s *Store) WithClock(now func() time.Time) *Store {
	c := *s
	c.now = now
	return &c
}

// ClientOptions configures NewClient.
type ClientOptions struct {
	// Endpoint is a DynamoDB endpoint other than AWS's (DynamoDB Local, the
	// in-process server); empty means AWS.
	Endpoint string
	// Region defaults to AWS_REGION, then us-east-1 for a custom endpoint.
	Region string
}

// NewClient builds the aws-sdk-go-v2 DynamoDB client with its standard
// retryer. With a custom endpoint and no AWS credentials in the environment it
// uses static dummy credentials, which local servers accept.
func NewClient(ctx context.Context, o ClientOptions) (*dynamodb.Client, error) {
	var opts []func(*config.LoadOptions) error
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("store: load AWS config: %w", err)
	}
	if o.Endpoint == "" {
		return dynamodb.NewFromConfig(cfg), nil
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		cfg.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
	}
	return dynamodb.NewFromConfig(cfg, func(d *dynamodb.Options) {
		d.BaseEndpoint = aws.String(o.Endpoint)
		// Local DynamoDB-compatible servers do not send the CRC32 header.
		d.DisableValidateResponseChecksum = true
	}), nil
}

// ErrNotFound is returned when an item does not exist.
var ErrNotFound = errors.New("store: not found")

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{PartitionKey: str(pk), SortKey: str(sk)}
}

// isConditionFailed reports whether err is a failed condition, of a single
// write or of any item of a transaction.
func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return true
	}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		for _, r := range tce.CancellationReasons {
			if aws.ToString(r.Code) == "ConditionalCheckFailed" {
				return true
			}
		}
	}
	return false
}

// conditionOld returns the item a failed conditional write saw, when the
// request asked for it with ReturnValuesOnConditionCheckFailure.
func conditionOld(err error) map[string]types.AttributeValue {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return ccf.Item
	}
	return nil
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
