// Package rie runs a Lambda function's real bootstrap under AWS's Lambda
// Runtime Interface Emulator (aws-lambda-rie) on loopback, so that tests and
// benchmarks can invoke the very binary that deploys, with no Docker and no
// AWS account. The emulator is pinned in the tools module (tools/go.mod) and
// built on demand by Binary. It runs on Linux only, like the emulator.
//
// The package's tests also smoke-test every function of template.yaml with
// the sample events in events/, against an in-process DynamoDB and the WeChat
// simulator.
package rie
