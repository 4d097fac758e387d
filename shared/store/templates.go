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

// Template is one entry of the app's template catalogue, as synced from gettemplate.
type Template struct {
	ID       string    `dynamodbav:"id"`
	Title    string    `dynamodbav:"title"`
	Type     int       `dynamodbav:"type"`
	Keywords []Keyword `dynamodbav:"keywords"`
	SyncedAt time.Time `dynamodbav:"synced_at"`
}

// Keyword is one field of a template.
type Keyword struct {
	Key    string   `dynamodbav:"key"`
	Name   string   `dynamodbav:"name"`
	Type   string   `dynamodbav:"type"`
	MaxLen int      `dynamodbav:"max_len"`
	Enum   []string `dynamodbav:"enum,omitempty"`
}

type templateItem struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
	Template
}

// PutTemplate stores or replaces one catalogue entry.
func (s *Store) PutTemplate(ctx context.Context, appid string, t Template) error {
	item, err := attributevalue.MarshalMap(templateItem{PK: "A#" + appid, SK: "TPL#" + t.ID, Template: t})
	if err != nil {
		return fmt.Errorf("store: encode template: %w", err)
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}); err != nil {
		return fmt.Errorf("store: put template %s: %w", t.ID, err)
	}
	return nil
}

// DeleteTemplate removes one catalogue entry (WeChat no longer lists it).
func (s *Store) DeleteTemplate(ctx context.Context, appid, id string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table), Key: key("A#"+appid, "TPL#"+id),
	})
	if err != nil {
		return fmt.Errorf("store: delete template %s: %w", id, err)
	}
	return nil
}

// Templates returns the app's catalogue ordered by id; empty before the first sync.
func (s *Store) Templates(ctx context.Context, appid string) ([]Template, error) {
	var ts []Template
	var start map[string]types.AttributeValue
	for {
		out, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:              aws.String(s.table),
			KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :t)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": str("A#" + appid), ":t": str("TPL#"),
			},
			ExclusiveStartKey: start,
		})
		if err != nil {
			return nil, fmt.Errorf("store: query templates: %w", err)
		}
		for _, item := range out.Items {
			var it templateItem
			if err := attributevalue.UnmarshalMap(item, &it); err != nil {
				return nil, fmt.Errorf("store: decode template: %w", err)
			}
			ts = append(ts, it.Template)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return ts, nil
		}
		start = out.LastEvaluatedKey
	}
}
