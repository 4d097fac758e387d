// Package eventsource reads a DynamoDB table's stream as Lambda's event
// source mapping does, for the local stack and the tests: each shard in
// order, in batches of at most BatchSize records gathered for up to Window,
// handed to the function as the events.DynamoDBEvent Lambda builds; a batch
// the function fails is handed again, from the same first record, until it
// succeeds (MaximumRetryAttempts -1), and the shard waits meanwhile. Shards
// are read side by side. It reads through the real aws-sdk-go-v2 Streams
// client, so it works on the in-process server and on DynamoDB Local alike.
//
// Lambda's behaviour, from
// https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html: it "polls
// shards in your DynamoDB stream for records at a base rate of 4 times per
// second", "processes records in order" within a shard, and "if your
// function returns an error, Lambda retries the batch until processing
// succeeds or the data expires".
package eventsource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// PollInterval is how often a shard is polled: Lambda's 4 times a second.
const PollInterval = 250 * time.Millisecond

// Source is one event source mapping: a table's stream and the function
// it feeds.
type Source struct {
	Streams *dynamodbstreams.Client
	Table   string
	// BatchSize is the most records a batch holds; Window how long records
	// wait for a fuller batch.
	BatchSize int
	Window    time.Duration
	// Latest starts at the end of the stream (LATEST) rather than at its
	// oldest record (TRIM_HORIZON).
	Latest bool
	// Handle is the function.
	Handle func(context.Context, events.DynamoDBEvent) error
	Logger *slog.Logger

	mu     sync.Mutex
	arn    string
	shards map[string]*shard
}

// shard is where one shard is read from.
type shard struct {
	mu   sync.Mutex
	iter *string
	// since is when the records now waiting were first seen (zero when none).
	since time.Time
}

// Run polls the stream every PollInterval until ctx ends.
func (s *Source) Run(ctx context.Context) {
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	for {
		if _, err := s.Poll(ctx, false); err != nil && ctx.Err() == nil {
			s.logger().WarnContext(ctx, "stream poll failed", "table", s.Table, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Drain hands every record now in the stream to the function, without
// waiting for fuller batches, and returns once a poll finds none left (or
// the function fails, or ctx ends). Tests use it to wait for the stream's
// consumers to catch up.
func (s *Source) Drain(ctx context.Context) error {
	for {
		n, err := s.Poll(ctx, true)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

// Poll reads each shard once and hands what it found to the function (if
// the batch is full, or waited Window, or now). It returns how many
// records were handed over.
func (s *Source) Poll(ctx context.Context, now bool) (int, error) {
	shards, err := s.discover(ctx)
	if err != nil {
		return 0, err
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
		errs  []error
	)
	for id, sh := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := s.pollShard(ctx, id, sh, now)
			mu.Lock()
			defer mu.Unlock()
			total += n
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return total, errors.Join(errs...)
}

// discover finds the stream and its shards, once; a shard's reader starts
// at TRIM_HORIZON or LATEST.
func (s *Source) discover(ctx context.Context) (map[string]*shard, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shards != nil {
		return s.shards, nil
	}
	list, err := s.Streams.ListStreams(ctx, &dynamodbstreams.ListStreamsInput{TableName: aws.String(s.Table)})
	if err != nil {
		return nil, fmt.Errorf("eventsource: list streams of %s: %w", s.Table, err)
	}
	if len(list.Streams) == 0 {
		return nil, fmt.Errorf("eventsource: table %s has no stream", s.Table)
	}
	arn := list.Streams[len(list.Streams)-1].StreamArn
	desc, err := s.Streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: arn})
	if err != nil {
		return nil, fmt.Errorf("eventsource: describe stream of %s: %w", s.Table, err)
	}
	pos := types.ShardIteratorTypeTrimHorizon
	if s.Latest {
		pos = types.ShardIteratorTypeLatest
	}
	shards := map[string]*shard{}
	for _, sh := range desc.StreamDescription.Shards {
		it, err := s.Streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
			StreamArn: arn, ShardId: sh.ShardId, ShardIteratorType: pos,
		})
		if err != nil {
			return nil, fmt.Errorf("eventsource: iterator of shard %s: %w", aws.ToString(sh.ShardId), err)
		}
		shards[aws.ToString(sh.ShardId)] = &shard{iter: it.ShardIterator}
	}
	s.arn, s.shards = aws.ToString(arn), shards
	return shards, nil
}

// pollShard reads one shard from where it stands and hands the batch over;
// the shard moves on only once the function succeeded.
func (s *Source) pollShard(ctx context.Context, id string, sh *shard, now bool) (int, error) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.iter == nil {
		return 0, nil // the shard is closed and read to its end
	}
	out, err := s.Streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{
		ShardIterator: sh.iter, Limit: aws.Int32(int32(s.BatchSize)),
	})
	if err != nil {
		return 0, fmt.Errorf("eventsource: read shard %s: %w", id, err)
	}
	if len(out.Records) == 0 {
		sh.since = time.Time{}
		sh.iter = out.NextShardIterator
		return 0, nil
	}
	if sh.since.IsZero() {
		sh.since = time.Now()
	}
	if !now && len(out.Records) < s.BatchSize && time.Since(sh.since) < s.Window {
		return 0, nil // wait for more, from the same place
	}
	ev := events.DynamoDBEvent{Records: make([]events.DynamoDBEventRecord, len(out.Records))}
	for i, r := range out.Records {
		rec, err := toEvent(r, s.arn)
		if err != nil {
			return 0, fmt.Errorf("eventsource: shard %s: %w", id, err)
		}
		ev.Records[i] = rec
	}
	if err := s.Handle(ctx, ev); err != nil {
		return 0, fmt.Errorf("eventsource: the function failed a batch of %d records of shard %s (retried): %w", len(ev.Records), id, err)
	}
	sh.since = time.Time{}
	sh.iter = out.NextShardIterator
	return len(ev.Records), nil
}

func (s *Source) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// toEvent converts a record as GetRecords returns it into the record
// Lambda hands the function.
func toEvent(r types.Record, arn string) (events.DynamoDBEventRecord, error) {
	d := r.Dynamodb
	if d == nil {
		return events.DynamoDBEventRecord{}, fmt.Errorf("record %s has no change", aws.ToString(r.EventID))
	}
	keys, err := image(d.Keys)
	if err != nil {
		return events.DynamoDBEventRecord{}, err
	}
	newImg, err := image(d.NewImage)
	if err != nil {
		return events.DynamoDBEventRecord{}, err
	}
	oldImg, err := image(d.OldImage)
	if err != nil {
		return events.DynamoDBEventRecord{}, err
	}
	return events.DynamoDBEventRecord{
		AWSRegion:      aws.ToString(r.AwsRegion),
		EventID:        aws.ToString(r.EventID),
		EventName:      string(r.EventName),
		EventSource:    aws.ToString(r.EventSource),
		EventVersion:   aws.ToString(r.EventVersion),
		EventSourceArn: arn,
		Change: events.DynamoDBStreamRecord{
			ApproximateCreationDateTime: events.SecondsEpochTime{Time: aws.ToTime(d.ApproximateCreationDateTime)},
			Keys:                        keys,
			NewImage:                    newImg,
			OldImage:                    oldImg,
			SequenceNumber:              aws.ToString(d.SequenceNumber),
			SizeBytes:                   aws.ToInt64(d.SizeBytes),
			StreamViewType:              string(d.StreamViewType),
		},
	}, nil
}

func image(m map[string]types.AttributeValue) (map[string]events.DynamoDBAttributeValue, error) {
	if m == nil {
		return nil, nil
	}
	out := make(map[string]events.DynamoDBAttributeValue, len(m))
	for k, v := range m {
		ev, err := value(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", k, err)
		}
		out[k] = ev
	}
	return out, nil
}

func value(v types.AttributeValue) (events.DynamoDBAttributeValue, error) {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return events.NewStringAttribute(v.Value), nil
	case *types.AttributeValueMemberN:
		return events.NewNumberAttribute(v.Value), nil
	case *types.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(v.Value), nil
	case *types.AttributeValueMemberNULL:
		return events.NewNullAttribute(), nil
	case *types.AttributeValueMemberB:
		return events.NewBinaryAttribute(v.Value), nil
	case *types.AttributeValueMemberSS:
		return events.NewStringSetAttribute(v.Value), nil
	case *types.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(v.Value), nil
	case *types.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(v.Value), nil
	case *types.AttributeValueMemberL:
		l := make([]events.DynamoDBAttributeValue, len(v.Value))
		for i, e := range v.Value {
			ev, err := value(e)
			if err != nil {
				return events.DynamoDBAttributeValue{}, err
			}
			l[i] = ev
		}
		return events.NewListAttribute(l), nil
	case *types.AttributeValueMemberM:
		m, err := image(v.Value)
		if err != nil {
			return events.DynamoDBAttributeValue{}, err
		}
		if m == nil {
			m = map[string]events.DynamoDBAttributeValue{}
		}
		return events.NewMapAttribute(m), nil
	}
	return events.DynamoDBAttributeValue{}, fmt.Errorf("unsupported attribute value %T", v)
}
