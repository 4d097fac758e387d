// Command messages is the send (POST /v1/messages, GET /v1/messages/{id}) Lambda function. See template.yaml for its routes.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxsub/wxsub/shared/backend"
)

func main() {
	lambda.Start(backend.MustFromEnv("WECHAT_SECRET").Messages().Handle)
}
