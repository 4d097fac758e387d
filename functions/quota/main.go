// Command quota is the quota Lambda function: GET /v1/quota and the hourly quota watch (see template.yaml).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxsub/wxsub/shared/backend"
)

func main() {
	lambda.Start(backend.MustFromEnv("WECHAT_SECRET").Quota().Invoke)
}
