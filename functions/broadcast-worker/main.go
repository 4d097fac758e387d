// Command broadcast-worker is the Lambda function that works through the
// broadcast job queue (SQS) at a bounded rate. See template.yaml.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxsub/wxsub/shared/backend"
)

func main() {
	lambda.Start(backend.MustFromEnv("WECHAT_SECRET").MustBroadcasts().HandleSQS)
}
