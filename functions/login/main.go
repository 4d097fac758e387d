// Command login is the POST /v1/session Lambda function. See template.yaml for its routes.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxsub/wxsub/shared/backend"
)

func main() {
	lambda.Start(backend.MustFromEnv("WECHAT_SECRET", "SESSION_SIGNING_KEY").Login().Handle)
}
