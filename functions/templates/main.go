// Command templates is the template catalogue Lambda function: GET /v1/templates, POST /v1/templates/sync and the hourly gettemplate sync (see template.yaml).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxsub/wxsub/shared/backend"
)

func main() {
	lambda.Start(backend.MustFromEnv("WECHAT_SECRET", "SESSION_SIGNING_KEY").Templates().Invoke)
}
