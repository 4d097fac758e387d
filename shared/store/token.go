package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Items of the token plane, one each per app: the access_token and, for an
// official account, the JS-SDK's jsapi_ticket. Both follow the same
// discipline (version, lease, force budget) and are read with the same
// methods, the ticket's through the ...Of variants.
const (
	TokenItem  = "TOKEN"
	TicketItem = "TICKET"
)

// TokenRecord is one of the app's shared token-plane items (the
// access_token, or the jsapi_ticket in Token).
type TokenRecord struct {
	Token     string
	ExpiresAt time.Time
	// Version grows by one with every token saved.
	Version   int64
	FetchedAt time.Time
	// Cause says why the current token was fetched ("schedule", "bootstrap", "bad_token").
	Cause string
	// LeaseOwner holds the right to fetch a token until LeaseUntil.
	LeaseOwner string
	LeaseUntil time.Time
	// ForceDay (YYYY-MM-DD, China time) and ForceCount track forced refreshes today.
	ForceDay    string
	ForceCount  int64
	LastForceAt time.Time
}

// LogValue gives log/slog the record without its token.
func (r TokenRecord) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int64("version", r.Version),
		slog.Time("expires_at", r.ExpiresAt),
		slog.Time("fetched_at", r.FetchedAt),
		slog.String("cause", r.Cause),
		slog.String("lease_owner", r.LeaseOwner),
		slog.Time("lease_until", r.LeaseUntil),
		slog.String("force_day", r.ForceDay),
		slog.Int64("force_count", r.ForceCount),
	)
}

type tokenItem struct {
	PK          string `dynamodbav:"pk"`
	SK          string `dynamodbav:"sk"`
	Token       string `dynamodbav:"token,omitempty"`
	ExpiresAt   int64  `dynamodbav:"expires_at"`
	Version     int64  `dynamodbav:"version"`
	FetchedAt   int64  `dynamodbav:"fetched_at"`
	Cause       string `dynamodbav:"cause,omitempty"`
	LeaseOwner  string `dynamodbav:"lease_owner,omitempty"`
	LeaseUntil  int64  `dynamodbav:"lease_until"`
	ForceDay    string `dynamodbav:"force_day,omitempty"`
	ForceCount  int64  `dynamodbav:"force_count"`
	LastForceAt int64  `dynamodbav:"last_force_at"`
}

func (it tokenItem) record() TokenRecord {
	return TokenRecord{
		Token: it.Token, ExpiresAt: fromMillis(it.ExpiresAt), Version: it.Version,
		FetchedAt: fromMillis(it.FetchedAt), Cause: it.Cause,
		LeaseOwner: it.LeaseOwner, LeaseUntil: fromMillis(it.LeaseUntil),
		ForceDay: it.ForceDay, ForceCount: it.ForceCount, LastForceAt: fromMillis(it.LastForceAt),
	}
}

func decodeToken(av map[string]types.AttributeValue) (TokenRecord, error) {
	var it tokenItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return TokenRecord{}, fmt.Errorf("store: decode token: %w", err)
	}
	return it.record(), nil
}

func tokenKey(appid, item string) map[string]types.AttributeValue { return key("A#"+appid, item) }

// Token reads the app's token item; ErrNotFound before the first fetch.
func (s *Store) Token(ctx context.Context, appid string) (TokenRecord, error) {
	return s.TokenOf(ctx, appid, TokenItem)
}

// LeaseToken is LeaseTokenOf for the access_token.
func (s *Store) LeaseToken(ctx context.Context, appid, owner string, version int64, now, until time.Time) (TokenRecord, error) {
	return s.LeaseTokenOf(ctx, appid, TokenItem, owner, version, now, until)
}

// SaveToken is SaveTokenOf for the access_token.
func (s *Store) SaveToken(ctx context.Context, appid, owner string, rec TokenRecord) (TokenRecord, error) {
	return s.SaveTokenOf(ctx, appid, TokenItem, owner, rec)
}

// ReleaseTokenLease is ReleaseTokenLeaseOf for the access_token.
func (s *Store) ReleaseTokenLease(ctx context.Context, appid, owner string) error {
	return s.ReleaseTokenLeaseOf(ctx, appid, TokenItem, owner)
}

// TokenOf reads the app's token-plane item (TokenItem or TicketItem);
// ErrNotFound before the first fetch.
func (s *Store) TokenOf(ctx context.Context, appid, item string) (TokenRecord, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: tokenKey(appid, item), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return TokenRecord{}, fmt.Errorf("store: get token: %w", err)
	}
	if out.Item == nil {
		return TokenRecord{}, ErrNotFound
	}
	return decodeToken(out.Item)
}

// ErrLeaseHeld is returned by LeaseToken when another caller holds the lease
// or the token already moved past the version the caller saw.
var ErrLeaseHeld = errors.New("store: token lease held or token already rotated")

// LeaseTokenOf takes the right to fetch a new value of item for the app
// until until, if the stored version is still version (0: none yet) and no
// lease is held at now. It returns the record as it was before the lease.
func (s *Store) LeaseTokenOf(ctx context.Context, appid, item, owner string, version int64, now, until time.Time) (TokenRecord, error) {
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.table),
		Key:              tokenKey(appid, item),
		UpdateExpression: aws.String("SET lease_owner = :o, lease_until = :u, version = if_not_exists(version, :zero)"),
		ConditionExpression: aws.String("(attribute_not_exists(pk) OR version = :v) AND " +
			"(attribute_not_exists(lease_until) OR lease_until < :now)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":o": str(owner), ":u": num(millis(until)), ":v": num(version), ":zero": num(0),
			":now": num(millis(now)),
		},
		ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		if isConditionFailed(err) {
			return TokenRecord{}, ErrLeaseHeld
		}
		return TokenRecord{}, fmt.Errorf("store: lease token: %w", err)
	}
	if len(out.Attributes) == 0 {
		return TokenRecord{}, nil
	}
	return decodeToken(out.Attributes)
}

// SaveTokenOf stores a freshly fetched value of item, bumps the version
// and ends the lease, if owner still holds it. The returned record is what
// was stored.
func (s *Store) SaveTokenOf(ctx context.Context, appid, item, owner string, rec TokenRecord) (TokenRecord, error) {
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table),
		Key:       tokenKey(appid, item),
		UpdateExpression: aws.String("SET #tok = :t, expires_at = :e, fetched_at = :f, cause = :c, " +
			"version = version + :one, lease_until = :zero, lease_owner = :none, " +
			"force_day = :fd, force_count = :fc, last_force_at = :lf"),
		ConditionExpression:      aws.String("lease_owner = :o"),
		ExpressionAttributeNames: map[string]string{"#tok": "token"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":t": str(rec.Token), ":e": num(millis(rec.ExpiresAt)), ":f": num(millis(rec.FetchedAt)),
			":c": str(rec.Cause), ":one": num(1), ":zero": num(0), ":none": str("-"), ":o": str(owner),
			":fd": str(rec.ForceDay), ":fc": num(rec.ForceCount), ":lf": num(millis(rec.LastForceAt)),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		if isConditionFailed(err) {
			return TokenRecord{}, ErrLeaseHeld
		}
		return TokenRecord{}, fmt.Errorf("store: save token: %w", err)
	}
	return decodeToken(out.Attributes)
}

// ReleaseTokenLeaseOf gives the lease on item up without a new value (the
// fetch failed).
func (s *Store) ReleaseTokenLeaseOf(ctx context.Context, appid, item, owner string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 tokenKey(appid, item),
		UpdateExpression:    aws.String("SET lease_until = :zero, lease_owner = :none"),
		ConditionExpression: aws.String("lease_owner = :o"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":zero": num(0), ":none": str("-"), ":o": str(owner),
		},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("store: release token lease: %w", err)
	}
	return nil
}
