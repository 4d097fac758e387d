// Command tally is the Lambda function that adds the table's stream to the
// counters (today's counts, broadcasts' counts; see template.yaml).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxsub/wxsub/shared/backend"
)

func main() {
	lambda.Start(backend.MustFromEnv().Tally().Handle)
}
