// Command jssdk is the GET /v1/jssdk-config Lambda function (official accounts). See template.yaml for its route.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxsub/wxsub/shared/backend"
)

func main() {
	lambda.Start(backend.MustFromEnv().Jssdk().Handle)
}
