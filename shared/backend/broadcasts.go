package backend

import (
	"context"
	"fmt"
	"os"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/wxsub/wxsub/shared/broadcasts"
)

// Broadcasts is the broadcast functions' handler, queueing its jobs on q.
func (b *Backend) Broadcasts(q broadcasts.Queue) *broadcasts.Handler {
	return &broadcasts.Handler{AppID: b.Config.AppID, Store: b.Store, Catalog: b.Catalog,
		Messages: b.Messages(), Queue: q, Logger: b.Logger}
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
func (b *Backend) MustBroadcasts() *broadcasts.Handler {
	q, err := b.SQSQueue(context.Background())
	if err != nil {
		b.Logger.Error("wxsub cannot start", "err", err)
		os.Exit(1)
	}
	return b.Broadcasts(q)
}
