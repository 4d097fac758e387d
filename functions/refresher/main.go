// Command refresher is the scheduled access_token refresh Lambda function (every 5 minutes, see template.yaml).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxsub/wxsub/shared/backend"
)

func main() {
	lambda.Start(backend.MustFromEnv("WECHAT_SECRET").Refresher().Handle)
}
