// Command pushevents is the WeChat message-push (GET and POST /v1/wechat/events) Lambda function. See template.yaml for its routes.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxsub/wxsub/shared/backend"
)

func main() {
	lambda.Start(backend.MustFromEnv("WECHAT_PUSH_TOKEN", "WECHAT_ENCODING_AES_KEY").Events().Handle)
}
