package backend

import (
	"context"
	"fmt"
	"os"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/wxsub/wxsub/shared/broadcasts"
	"github.com/wxsub/wxsub/shared/reminders"
)

// Broadcasts is the broadcast functions' handler, queueing its jobs on q.
func (b *Backend) Broadcasts(q broadcasts.Queue) *broadcasts.Handler {
	return &broadcasts.Handler{AppID: b.Config.AppID, Store: b.Store, Catalog: b.Catalog,
		Messages: b.Messages(), Queue: q, Logger: b.Logger}
}

// Reminders is the dispatcher function's handler, queueing due reminders on q.
func (b *Backend) Reminders(q broadcasts.Queue) *reminders.Handler {
	return &reminders.Handler{AppID: b.Config.AppID, Store: b.Store, Queue: q, Logger: b.Logger, Clock: b.Clock}
}

// SQSQueue is the broadcast job queue named by BROADCAST_QUEUE_URL.
func (b *Backend) SQSQueue(ctx context.Context) (*broadcasts.SQSQueue, error) {
	if b.Config.BroadcastQueueURL == "" {
		return nil, fmt.Errorf("backend: BROADCAST_QUEUE_URL is not set")
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("backend: load AWS config: %w", err)
	}
	return &broadcasts.SQSQueue{Client: sqs.NewFromConfig(cfg), URL: b.Config.BroadcastQueueURL}, nil
}

// MustBroadcasts is Broadcasts on the SQS queue, for the functions' mains.
func (b *Backend) MustBroadcasts() *broadcasts.Handler { return b.Broadcasts(b.mustSQSQueue()) }

// MustReminders is Reminders on the SQS queue, for the dispatcher's main.
func (b *Backend) MustReminders() *reminders.Handler { return b.Reminders(b.mustSQSQueue()) }

func (b *Backend) mustSQSQueue() *broadcasts.SQSQueue {
	q, err := b.SQSQueue(context.Background())
	if err != nil {
		b.Logger.Error("wxsub cannot start", "err", err)
		os.Exit(1)
	}
	return q
}
