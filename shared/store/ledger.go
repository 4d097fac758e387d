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

// RowKey names one ledger row.
type RowKey struct {
	AppID, OpenID, TemplateID string
}

func (k RowKey) pk() string { return "U#" + k.AppID + "#" + k.OpenID }
func (k RowKey) sk() string { return "T#" + k.TemplateID }

type rowItem struct {
	PK         string `dynamodbav:"pk"`
	SK         string `dynamodbav:"sk"`
	GSI1PK     string `dynamodbav:"gsi1pk"`
	GSI1SK     string `dynamodbav:"gsi1sk"`
	AppID      string `dynamodbav:"appid"`
	OpenID     string `dynamodbav:"openid"`
	TemplateID string `dynamodbav:"template_id"`
	Kind       string `dynamodbav:"kind"`
	Status     string `dynamodbav:"status"`
	Cost       int64  `dynamodbav:"cost"`
	Credits    int64  `dynamodbav:"credits"`
	Granted    int64  `dynamodbav:"granted"`
	Spent      int64  `dynamodbav:"spent"`
	Held       int64  `dynamodbav:"held"`
	Revoked    int64  `dynamodbav:"revoked"`
	Inflight   int64  `dynamodbav:"inflight"`
	UpdatedAt  int64  `dynamodbav:"updated_at"`
	// ZeroedAt is when the balance was last zeroed (Unix ms; absent if never).
	ZeroedAt int64 `dynamodbav:"zeroed_at,omitempty"`
	// One-time accepts granted from one source and not yet paired with the
	// other's report of the same tap (ledger.AcceptFrom); the times are Unix ms.
	ClientPending   int64 `dynamodbav:"client_pending"`
	ClientPendingAt int64 `dynamodbav:"client_pending_at"`
	PushPending     int64 `dynamodbav:"push_pending"`
	PushPendingAt   int64 `dynamodbav:"push_pending_at"`
}

func (it rowItem) row() ledger.Row {
	return ledger.Row{
		AppID: it.AppID, OpenID: it.OpenID, TemplateID: it.TemplateID,
		Kind: ledger.Kind(it.Kind), Status: ledger.Status(it.Status),
		Credits: it.Credits, Granted: it.Granted, Spent: it.Spent, Held: it.Held, Revoked: it.Revoked,
		Inflight: it.Inflight, UpdatedAt: fromMillis(it.UpdatedAt), ZeroedAt: fromMillis(it.ZeroedAt),
		ClientPending: ledger.Unpaired{Count: it.ClientPending, At: fromMillis(it.ClientPendingAt)},
		PushPending:   ledger.Unpaired{Count: it.PushPending, At: fromMillis(it.PushPendingAt)},
	}
}

func newRowItem(k RowKey, r ledger.Row) rowItem {
	return rowItem{
		PK: k.pk(), SK: k.sk(),
		GSI1PK: "T#" + k.AppID + "#" + k.TemplateID, GSI1SK: k.OpenID,
		AppID: k.AppID, OpenID: k.OpenID, TemplateID: k.TemplateID,
		Kind: string(r.Kind), Status: string(r.Status), Cost: r.Kind.Cost(),
		Credits: r.Credits, Granted: r.Granted, Spent: r.Spent, Held: r.Held, Revoked: r.Revoked,
		Inflight: r.Inflight, UpdatedAt: millis(r.UpdatedAt), ZeroedAt: millis(r.ZeroedAt),
		ClientPending: r.ClientPending.Count, ClientPendingAt: millis(r.ClientPending.At),
		PushPending: r.PushPending.Count, PushPendingAt: millis(r.PushPending.At),
	}
}

func decodeRow(av map[string]types.AttributeValue) (ledger.Row, error) {
	var it rowItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return ledger.Row{}, fmt.Errorf("store: decode ledger row: %w", err)
	}
	return it.row(), nil
}

// Row reads one ledger row; ErrNotFound when the user never answered for the template.
func (s *Store) Row(ctx context.Context, k RowKey) (ledger.Row, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: key(k.pk(), k.sk()), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return ledger.Row{}, fmt.Errorf("store: get ledger row: %w", err)
	}
	if out.Item == nil {
		return ledger.Row{}, ErrNotFound
	}
	return decodeRow(out.Item)
}

// UserRows returns every ledger row of one user, ordered by template id.
func (s *Store) UserRows(ctx context.Context, appid, openid string) ([]ledger.Row, error) {
	k := RowKey{AppID: appid, OpenID: openid}
	var rows []ledger.Row
	var start map[string]types.AttributeValue
	for {
		out, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :t)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(k.pk()), ":t": str("T#")},
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, fmt.Errorf("store: query user rows: %w", err)
		}
		for _, item := range out.Items {
			r, err := decodeRow(item)
			if err != nil {
				return nil, err
			}
			rows = append(rows, r)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return rows, nil
		}
		start = out.LastEvaluatedKey
	}
}

// ApplyTap applies one tap's change to a row atomically and returns the row
// after it. It costs one request when the row exists and two the first time.
// kind is the template's kind as the catalogue knows it now.
func (s *Store) ApplyTap(ctx context.Context, k RowKey, kind ledger.Kind, ch ledger.Change) (ledger.Row, error) {
	if ch.Ignore {
		r, err := s.Row(ctx, k)
		if errors.Is(err, ErrNotFound) {
			return ledger.Row{AppID: k.AppID, OpenID: k.OpenID, TemplateID: k.TemplateID, Kind: kind}, nil
		}
		return r, err
	}
	for attempt := 0; attempt < 3; attempt++ {
		r, err := s.updateTap(ctx, k, kind, ch)
		if err == nil || !isConditionFailed(err) {
			return r, err
		}
		// No row yet: create it with the change applied.
		now := s.now()
		row := ledger.Apply(ledger.Row{AppID: k.AppID, OpenID: k.OpenID, TemplateID: k.TemplateID, Kind: kind}, ch)
		row.UpdatedAt = now
		item, err := attributevalue.MarshalMap(newRowItem(k, row))
		if err != nil {
			return ledger.Row{}, fmt.Errorf("store: encode ledger row: %w", err)
		}
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(s.table), Item: item,
			ConditionExpression: aws.String("attribute_not_exists(pk)"),
		})
		if err == nil {
			return row, nil
		}
		if !isConditionFailed(err) {
			return ledger.Row{}, fmt.Errorf("store: create ledger row: %w", err)
		}
		// Another request created it meanwhile: update it.
	}
	return ledger.Row{}, fmt.Errorf("store: ledger row %s/%s kept changing", k.OpenID, k.TemplateID)
}

func (s *Store) updateTap(ctx context.Context, k RowKey, kind ledger.Kind, ch ledger.Change) (ledger.Row, error) {
	sets := []string{"#kind = :kind", "cost = :cost", "updated_at = :now"}
	values := map[string]types.AttributeValue{
		":kind": str(string(kind)), ":cost": num(kind.Cost()), ":now": num(millis(s.now())),
	}
	// DynamoDB refuses a name or value the expressions do not use, so #st
	// travels only with its clause.
	names := map[string]string{"#kind": "kind"}
	if ch.Status != ledger.StatusNone {
		sets = append(sets, "#st = :st")
		names["#st"] = "status"
		values[":st"] = str(string(ch.Status))
	}
	if ch.Grant > 0 {
		sets = append(sets, "credits = credits + :g", "granted = granted + :g")
		values[":g"] = num(ch.Grant)
	}
	if ch.Revoke {
		// The zeroing's time: sends in flight now will not get their credit
		// back if they fail (ledger.Settle).
		sets = append(sets, "revoked = revoked + credits", "credits = :zero", "zeroed_at = :now")
		values[":zero"] = num(0)
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(k.pk(), k.sk()),
		UpdateExpression:          aws.String("SET " + strings.Join(sets, ", ")),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		if isConditionFailed(err) {
			return ledger.Row{}, err
		}
		return ledger.Row{}, fmt.Errorf("store: update ledger row: %w", err)
	}
	return decodeRow(out.Attributes)
}

// RefusedError is returned by Reserve when the row may not send.
type RefusedError struct {
	Refusal ledger.Refusal
	// Row is the row as the refused request saw it; zero when it does not exist.
	Row ledger.Row
}

func (e *RefusedError) Error() string { return "store: send refused: " + string(e.Refusal) }

// settleUpdate is the ledger half of a settlement (ledger.Settle): the send
// leaves flight and its credit is spent, released, or spent with the rest
// revoked. A release gives the credit back when the row was not zeroed at or
// after reservedAt, and to revoked when it was (revoke); the update's
// condition fails when revoke is the wrong guess.
func (s *Store) settleUpdate(k RowKey, kind ledger.Kind, effect ledger.CreditEffect, reservedAt time.Time, revoke bool) *types.Update {
	now := millis(s.now())
	sets := []string{"inflight = inflight - :one", "updated_at = :now"}
	values := map[string]types.AttributeValue{":one": num(1), ":now": num(now)}
	names := map[string]string{}
	var cond string
	switch effect {
	case ledger.Release:
		values[":reserved"] = num(millis(reservedAt))
		if revoke {
			sets = append(sets, "revoked = revoked + cost", "spent = spent - cost")
			cond = "zeroed_at >= :reserved"
		} else {
			sets = append(sets, "credits = credits + cost", "spent = spent - cost")
			cond = "attribute_not_exists(zeroed_at) OR zeroed_at < :reserved"
		}
	case ledger.SpendAndZero:
		if kind == ledger.LongTerm {
			sets = append(sets, "#st = :reject")
			names["#st"] = "status"
			values[":reject"] = str(string(ledger.Reject))
		} else {
			sets = append(sets, "revoked = revoked + credits", "credits = :zero", "zeroed_at = :now")
			values[":zero"] = num(0)
		}
	}
	u := &types.Update{
		TableName:                 aws.String(s.table),
		Key:                       key(k.pk(), k.sk()),
		UpdateExpression:          aws.String("SET " + strings.Join(sets, ", ")),
		ExpressionAttributeValues: values,
	}
	if cond != "" {
		u.ConditionExpression = aws.String(cond)
	}
	if len(names) > 0 {
		u.ExpressionAttributeNames = names
	}
	return u
}

// TemplateRows pages through the ledger rows of one template (every user who
// ever answered for it), for broadcasts. start is the openid to continue
// after ("" for the first page); next is "" on the last page.
func (s *Store) TemplateRows(ctx context.Context, appid, templateID, start string, limit int32) (rows []ledger.Row, next string, err error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(GSI1),
		KeyConditionExpression:    aws.String("gsi1pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": str("T#" + appid + "#" + templateID)},
		Limit:                     aws.Int32(limit),
	}
	if start != "" {
		k := RowKey{AppID: appid, OpenID: start, TemplateID: templateID}
		in.ExclusiveStartKey = map[string]types.AttributeValue{
			PartitionKey: str(k.pk()), SortKey: str(k.sk()),
			GSI1PK: str("T#" + appid + "#" + templateID), GSI1SK: str(start),
		}
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("store: query template rows: %w", err)
	}
	for _, item := range out.Items {
		r, err := decodeRow(item)
		if err != nil {
			return nil, "", err
		}
		rows = append(rows, r)
	}
	if len(out.LastEvaluatedKey) > 0 && len(rows) > 0 {
		next = rows[len(rows)-1].OpenID
	}
	return rows, next, nil
}

// FollowKind sets a row's kind (and the cost of a send) to kind when the row
// was stored with another one, as happens when a tap was recorded while the
// catalogue did not know the template yet. Credits, spent and revoked stay
// as they are, so the row's history still balances. changed is false when
// the row does not exist or already has the kind.
func (s *Store) FollowKind(ctx context.Context, k RowKey, kind ledger.Kind) (changed bool, err error) {
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(k.pk(), k.sk()),
		UpdateExpression:          aws.String("SET #kind = :kind, cost = :cost, updated_at = :now"),
		ConditionExpression:       aws.String("attribute_exists(pk) AND #kind <> :kind"),
		ExpressionAttributeNames:  map[string]string{"#kind": "kind"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":kind": str(string(kind)), ":cost": num(kind.Cost()), ":now": num(millis(s.now()))},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: set the kind of ledger row %s/%s: %w", k.OpenID, k.TemplateID, err)
	}
	return true, nil
}
