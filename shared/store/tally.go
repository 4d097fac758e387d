package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxsub/wxsub/shared/ledger"
)

// Counters are kept off the request path. Today's counts and a broadcast's
// counts are one item each (D#<appid>#<day>, B#<id>/C), and no send, report
// or push writes them: the table's stream (NEW_AND_OLD_IMAGES) carries every
// change of a message record and of a ledger row, and the tally function
// reads it in batches and adds what each batch counts to the counters in one
// transaction (ApplyChanges). A send's settlement and a report's grant thus
// cost no counter write, and the counter items take one write per batch
// rather than one per request: no item is hot, however many sends run.
//
// Counts follow the requests by the stream's delay plus the batching window
// (about a second). They are exact: a batch that the event source delivers
// again (Lambda retries a failed batch until it succeeds, from the same first
// record) is recognised by the marker its first transaction wrote, and only
// the records after the marker's are counted.

// Change is one record of the table's stream: an item before and after a
// write (nil when absent).
type Change struct {
	// ID is the record's eventID, unique in the stream.
	ID       string
	Old, New map[string]types.AttributeValue
}

// ChangesFromStream converts the records of a DynamoDB event source batch.
func ChangesFromStream(recs []events.DynamoDBEventRecord) ([]Change, error) {
	out := make([]Change, 0, len(recs))
	for _, r := range recs {
		c := Change{ID: r.EventID}
		var err error
		if c.Old, err = fromStreamImage(r.Change.OldImage); err != nil {
			return nil, fmt.Errorf("store: record %s: old image: %w", r.EventID, err)
		}
		if c.New, err = fromStreamImage(r.Change.NewImage); err != nil {
			return nil, fmt.Errorf("store: record %s: new image: %w", r.EventID, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func fromStreamImage(img map[string]events.DynamoDBAttributeValue) (map[string]types.AttributeValue, error) {
	if len(img) == 0 {
		return nil, nil
	}
	out := make(map[string]types.AttributeValue, len(img))
	for k, v := range img {
		av, err := fromStreamValue(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = av
	}
	return out, nil
}

func fromStreamValue(v events.DynamoDBAttributeValue) (types.AttributeValue, error) {
	switch v.DataType() {
	case events.DataTypeString:
		return &types.AttributeValueMemberS{Value: v.String()}, nil
	case events.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: v.Number()}, nil
	case events.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: v.Boolean()}, nil
	case events.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case events.DataTypeBinary:
		return &types.AttributeValueMemberB{Value: v.Binary()}, nil
	case events.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: v.StringSet()}, nil
	case events.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: v.NumberSet()}, nil
	case events.DataTypeBinarySet:
		return &types.AttributeValueMemberBS{Value: v.BinarySet()}, nil
	case events.DataTypeList:
		var l []types.AttributeValue
		for _, e := range v.List() {
			av, err := fromStreamValue(e)
			if err != nil {
				return nil, err
			}
			l = append(l, av)
		}
		return &types.AttributeValueMemberL{Value: l}, nil
	case events.DataTypeMap:
		m, err := fromStreamImage(v.Map())
		if err != nil {
			return nil, err
		}
		if m == nil {
			m = map[string]types.AttributeValue{}
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	}
	return nil, fmt.Errorf("unknown attribute type %d", v.DataType())
}

// counterRef names one counter item: an app's day or a broadcast.
type counterRef struct{ pk, sk string }

// counter is what some changes add to one counter item.
type counter struct {
	// ttl is when the item may go (Unix s), pushed back by each addition.
	ttl  int64
	adds map[string]int64
}

// tally is what some changes add to the counters, by counter item.
type tally map[counterRef]*counter

func (t tally) add(ref counterRef, ttl int64, attr string, n int64) {
	if n == 0 {
		return
	}
	c := t[ref]
	if c == nil {
		c = &counter{adds: map[string]int64{}}
		t[ref] = c
	}
	c.ttl = max(c.ttl, ttl)
	c.adds[attr] += n
}

// day adds to an app's counters of the day of at.
func (t tally) day(appid string, at time.Time, attr string, n int64) {
	t.add(counterRef{"D#" + appid + "#" + ChinaDay(at), "D"}, at.Add(DayRetention).Unix(), attr, n)
}

// broadcast adds to a broadcast's counts.
func (t tally) broadcast(id string, at time.Time, attr string, n int64) {
	t.add(counterRef{"B#" + id, "C"}, at.Add(BroadcastRetention).Unix(), attr, n)
}

// count adds what one change counts to t:
//   - a message leaving pending (a settlement, or the sweep): its outcome
//     and, for a one-time credit, whether it was spent or released, on its
//     day; its broadcast's outcome;
//   - a broadcast's message recorded final at once (a refusal): its
//     broadcast's outcome;
//   - a broadcast's unknown message whose sent event arrived: unknown to
//     sent or failed;
//   - a ledger row whose granted grew: the grants, on its day.
//
// Every other item (counters, markers, tokens, claims) counts nothing.
func (t tally) count(c Change) {
	img := c.New
	if img == nil {
		return
	}
	pk, sk := attrS(img, PartitionKey), attrS(img, SortKey)
	switch {
	case sk == "M" && strings.HasPrefix(pk, "M#"):
		t.countMessage(c.Old, img)
	case strings.HasPrefix(sk, "T#") && strings.HasPrefix(pk, "U#"):
		if n := attrN(img, "granted") - attrN(c.Old, "granted"); n > 0 {
			t.day(attrS(img, "appid"), fromMillis(attrN(img, "updated_at")), "granted", n)
		}
	}
}

func (t tally) countMessage(old, img map[string]types.AttributeValue) {
	was, now := ledger.MessageStatus(attrS(old, "status")), ledger.MessageStatus(attrS(img, "status"))
	if now == ledger.Pending {
		return
	}
	at := fromMillis(attrN(img, "updated_at"))
	bid := attrS(img, "broadcast_id")
	m := Message{Status: now, AnswerStatus: int(attrN(img, "answer_status"))}
	switch {
	case old != nil && was == ledger.Pending:
		appid := attrS(img, "appid")
		switch now {
		case ledger.Sent:
			t.day(appid, at, "sent", 1)
		case ledger.Unknown:
			t.day(appid, at, "unknown", 1)
		default:
			t.day(appid, at, failedPrefix+FailureKey(int(attrN(img, "errcode"))), 1)
		}
		if e := attrS(img, "effect"); e == effectSpent || e == effectReleased {
			t.day(appid, at, e, 1)
		}
		if bid != "" {
			t.broadcast(bid, at, outcomeCounter(m), 1)
		}
	case old == nil || attrN(old, "created_at") != attrN(img, "created_at") || attrS(old, "attempt") != attrS(img, "attempt"):
		// A new record, final at once: a remembered refusal.
		if bid != "" {
			t.broadcast(bid, at, outcomeCounter(m), 1)
		}
	case was == ledger.Unknown && bid != "":
		// Its sent event arrived: the broadcast learns what it became.
		to := "sent"
		if now == ledger.Failed {
			to = "failed"
		}
		t.broadcast(bid, at, "unknown", -1)
		t.broadcast(bid, at, to, 1)
	}
}

// The effect attribute of a settled message: what became of a one-time
// credit (absent for a long-term template), and the day counters it adds to.
const (
	effectSpent    = "spent"
	effectReleased = "released"
	// effectRevoked is a release that a zeroing made during the send turned
	// into a revocation: today's counters count it neither spent nor released.
	effectRevoked = "revoked"
)

// effectOf names a settlement's credit effect in its message record.
func effectOf(kind ledger.Kind, e ledger.CreditEffect) string {
	switch {
	case kind == ledger.LongTerm:
		return ""
	case e == ledger.Release:
		return effectReleased
	}
	return effectSpent
}

func attrS(img map[string]types.AttributeValue, name string) string {
	if v, ok := img[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func attrN(img map[string]types.AttributeValue, name string) int64 {
	if v, ok := img[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

// maxTallyItems is the most counter items one tally transaction adds to:
// DynamoDB's 100 actions a transaction, less the batch marker.
const maxTallyItems = 99

// markerRetention is how long a batch marker is kept: beyond the stream's
// 24 hours, after which no batch can be delivered again.
const markerRetention = 48 * time.Hour

// ApplyChanges adds what a batch of the stream's records counts to the
// counters, exactly once: in one transaction per run of records that
// touches at most maxTallyItems counters, each with a marker named after its
// first record holding the id of its last. When the batch comes again (the
// event source retries it from the same first record), a marker already
// written says which records were counted, and counting resumes after them.
// It returns how many records it took into account now (those a marker
// showed counted before are not).
func (s *Store) ApplyChanges(ctx context.Context, changes []Change) (int, error) {
	counted := 0
	for i := 0; i < len(changes); {
		t, j := tally{}, i
		for ; j < len(changes); j++ {
			next := tally{}
			next.count(changes[j])
			if len(t)+newRefs(t, next) <= maxTallyItems {
				for ref, c := range next {
					for a, n := range c.adds {
						t.add(ref, c.ttl, a, n)
					}
				}
				continue
			}
			break
		}
		if len(t) == 0 {
			counted += j - i // nothing to count: nothing to do twice
			i = j
			continue
		}
		last, err := s.applyTally(ctx, changes[i].ID, changes[j-1].ID, t)
		if err != nil {
			return counted, err
		}
		if last == "" {
			counted += j - i
			i = j
			continue
		}
		// Counted before, up to last: resume after it.
		k := slices.IndexFunc(changes, func(c Change) bool { return c.ID == last })
		if k < i {
			return counted, fmt.Errorf("store: tally marker of record %s names record %s, not in this batch", changes[i].ID, last)
		}
		i = k + 1
	}
	return counted, nil
}

// newRefs counts the items next counts on that t does not hold yet.
func newRefs(t, next tally) int {
	n := 0
	for ref := range next {
		if _, ok := t[ref]; !ok {
			n++
		}
	}
	return n
}

// applyTally writes one tally with its marker (first, last). When the
// marker exists already, it writes nothing and returns the last record the
// marker names.
func (s *Store) applyTally(ctx context.Context, first, last string, t tally) (string, error) {
	now := s.now()
	items := []types.TransactWriteItem{{Put: &types.Put{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			PartitionKey: str(markerPK(first)), SortKey: str("K"),
			"last": str(last), TTLAttribute: num(now.Add(markerRetention).Unix()),
		},
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}}}
	refs := slices.SortedFunc(maps.Keys(t), func(a, b counterRef) int { return strings.Compare(a.pk+a.sk, b.pk+b.sk) })
	for _, ref := range refs {
		c := t[ref]
		names := map[string]string{"#ttl": TTLAttribute}
		values := map[string]types.AttributeValue{":ttl": num(c.ttl)}
		var adds []string
		for i, a := range slices.Sorted(maps.Keys(c.adds)) {
			n, v := fmt.Sprintf("#a%d", i), fmt.Sprintf(":v%d", i)
			names[n], values[v] = a, num(c.adds[a])
			adds = append(adds, n+" "+v)
		}
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       key(ref.pk, ref.sk),
			UpdateExpression:          aws.String("ADD " + strings.Join(adds, ", ") + " SET #ttl = :ttl"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		}})
	}
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if err == nil {
		return "", nil
	}
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) || len(tce.CancellationReasons) == 0 || !failedCondition(tce.CancellationReasons[0]) {
		return "", fmt.Errorf("store: add tally of records %s..%s: %w", first, last, err)
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: key(markerPK(first), "K"), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return "", fmt.Errorf("store: read tally marker of record %s: %w", first, err)
	}
	var m struct {
		Last string `dynamodbav:"last"`
	}
	if err := attributevalue.UnmarshalMap(out.Item, &m); err != nil || m.Last == "" {
		return "", fmt.Errorf("store: tally marker of record %s is unreadable", first)
	}
	return m.Last, nil
}

// markerPK is the partition key of the marker of a run of records starting
// at the record id (eventIDs are opaque: encoded to stay a plain key).
func markerPK(id string) string {
	return "K#" + base64.RawURLEncoding.EncodeToString([]byte(id))
}
