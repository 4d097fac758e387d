// Command sweep is the scheduled Lambda function that settles sends stopped
// between reservation and settlement (every 5 minutes, see template.yaml).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxsub/wxsub/shared/backend"
)

func main() {
	lambda.Start(backend.MustFromEnv().Sweep().Invoke)
}
