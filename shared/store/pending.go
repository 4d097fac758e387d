package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// pendingItem marks a reserved send that has not settled yet. Reserve writes
// it and Settle deletes it, each in its own transaction; the sweep looks for
// the ones left behind by a send that died in between. Markers are spread
// over PendingShards partitions (pk P#<appid>#<shard>, sk <created ms>#<id>)
// so that no partition takes every send's writes, and sorted by age within
// each so that the sweep reads only the stale ones.
type pendingItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	TTL       int64  `dynamodbav:"ttl"`
	MessageID string `dynamodbav:"message_id"`
}

func pendingPK(appid string, shard int) string { return fmt.Sprintf("P#%s#%02d", appid, shard) }

// pendingKey is where m's marker lives, sorted by when its send started:
// its creation, or a reminder's start.
func pendingKey(m Message) (pk, sk string) {
	h := fnv.New32a()
	h.Write([]byte(m.ID))
	return pendingPK(m.AppID, int(h.Sum32()%PendingShards)), fmt.Sprintf("%013d#%s", millis(pendingSince(m)), m.ID)
}

func pendingSince(m Message) time.Time {
	if !m.StartedAt.IsZero() {
		return m.StartedAt
	}
	return m.CreatedAt
}

func newPendingItem(m Message) pendingItem {
	pk, sk := pendingKey(m)
	return pendingItem{PK: pk, SK: sk, TTL: pendingSince(m).Add(MessageRetention).Unix(), MessageID: m.ID}
}

// StalePending returns the messages of appid that are still pending although
// they were reserved before cutoff: their send stopped between reservation
// and settlement (a timeout, a crash). At most limit are returned, oldest
// first within each shard. It costs one Query per shard plus one read per
// message found.
func (s *Store) StalePending(ctx context.Context, appid string, cutoff time.Time, limit int) ([]Message, error) {
	var out []Message
	for shard := 0; shard < PendingShards && len(out) < limit; shard++ {
		res, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:              aws.String(s.table),
			KeyConditionExpression: aws.String("pk = :pk AND sk < :cutoff"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": str(pendingPK(appid, shard)), ":cutoff": str(fmt.Sprintf("%013d", millis(cutoff))),
			},
			ConsistentRead: aws.Bool(true),
			Limit:          aws.Int32(int32(limit - len(out))),
		})
		if err != nil {
			return nil, fmt.Errorf("store: query pending markers: %w", err)
		}
		for _, av := range res.Items {
			var p pendingItem
			if err := attributevalue.UnmarshalMap(av, &p); err != nil {
				return nil, fmt.Errorf("store: decode pending marker: %w", err)
			}
			m, err := s.Message(ctx, p.MessageID)
			if errors.Is(err, ErrNotFound) {
				continue // cannot happen while markers and records are written together
			}
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		}
	}
	return out, nil
}
