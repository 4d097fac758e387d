// Command broadcasts-worker is the Lambda function that works through the
// broadcast job queue (SQS) at a bounded rate. See template.yaml.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxsub/wxsub/shared/backend"
	"github.com/wxsub/wxsub/shared/broadcasts"
)

func main() {
	h := backend.MustFromEnv("WECHAT_SECRET").MustBroadcasts()
	pace, err := broadcasts.PaceFromEnv(os.Getenv)
	if err != nil {
		h.Logger.Error("wxsub cannot start", "err", err)
		os.Exit(1)
	}
	// A container runs one invocation at a time: one pacer, at its share
	// of BROADCAST_RATE, kept from one invocation to the next.
	h.Pacers = broadcasts.NewPacers(1, pace.Share())
	lambda.Start(h.HandleSQS)
}
