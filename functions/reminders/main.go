// Command reminders is the scheduled Lambda function that queues reminders
// and scheduled broadcasts when their time comes (every minute, see
// template.yaml).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxsub/wxsub/shared/backend"
)

func main() {
	lambda.Start(backend.MustFromEnv().MustReminders().Invoke)
}
