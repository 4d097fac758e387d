// Command subscriptions is the subscriptions (client and server ledger routes) Lambda function. See template.yaml for its routes.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxsub/wxsub/shared/backend"
)

func main() {
	lambda.Start(backend.MustFromEnv("SESSION_SIGNING_KEY").Subscriptions().Handle)
}
