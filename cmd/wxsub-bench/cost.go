package main

import (
	"time"

	"github.com/wxsub/wxsub/shared/broadcasts"
)

// AWS's public on-demand prices in US East (N. Virginia), us-east-1, as
// published on aws.amazon.com/{dynamodb,lambda,api-gateway,sqs}/pricing and
// read on 2026-12-01. Other regions differ (AWS China's Beijing and Ningxia
// regions price in CNY on amazonaws.cn); the units below carry over.
const (
	pricesRegion = "us-east-1 (US East, N. Virginia)"
	pricesDate   = "2026-12-01"

	usdPerMillionWRU       = 0.625        // DynamoDB on-demand write request units
	usdPerMillionRRU       = 0.125        // DynamoDB on-demand read request units
	usdPerGBSecondArm      = 0.0000133334 // Lambda duration, arm64, first 7.5 billion GB-s a month
	usdPerMillionInvokes   = 0.20         // Lambda requests
	usdPerMillionHTTPAPI   = 1.00         // API Gateway HTTP API requests, first 300 million a month
	usdPerMillionSQS       = 0.40         // SQS standard queue requests (64 KB chunks)
	lambdaMemoryGB         = 0.25         // template.yaml's Globals MemorySize: 256 MB
	gsiWritesPerSend       = 4            // see costSection: the row twice, the message twice
	gsiWritesPerReport     = 1            // the row
	sqsRequestsPer100Users = 6.4          // see costSection
)

// costSection renders what a million sends and a million reports cost on
// AWS, from the units and durations the contention run measured.
func (c contention) costSection(p func(string, ...any)) {
	p("## What a million sends and a million reports cost\n\n")
	if c.err != "" || c.sendsAnswered == 0 || c.reports == 0 {
		p("Not measured: the contention run failed.\n\n")
		return
	}
	sends, reports := float64(c.sendsAnswered), float64(c.reports)
	send := unitCost{
		wru:      (c.sendUnits.WriteUnits+c.tallySendUnits.WriteUnits)/sends + gsiWritesPerSend,
		rru:      (c.sendUnits.ReadUnits + c.tallySendUnits.ReadUnits) / sends,
		duration: c.run.Percentile(50), requests: 1,
	}
	report := unitCost{
		wru:      (c.reportUnits.WriteUnits+c.tallyReportUnits.WriteUnits)/reports + gsiWritesPerReport,
		rru:      (c.reportUnits.ReadUnits + c.tallyReportUnits.ReadUnits) / reports,
		duration: c.reportRun.Percentile(50), requests: 1,
	}
	p("From the sends and reports of the contention run above (conflicts and their retries included; "+
		"half of the reports were a user's first report of the template, which creates the row), "+
		"at AWS's public on-demand prices in %s, read on %s. DynamoDB units are what the local DynamoDB "+
		"counted as DynamoDB bills them (a transactional write costs 2 units per KB and item; a cancelled "+
		"transaction is counted as written, an upper bound), plus the writes DynamoDB makes to gsi1: %d per "+
		"send (the ledger row at reservation and settlement, the message record at both) and %d per report "+
		"(the row). They include the tally's writes, which count the changes from the table's stream off the "+
		"request path: %.3f write units per send and %.3f per report here, where it counted each phase in "+
		"batches of up to 1,000 records (reading the stream is free for a Lambda trigger; the tally's own Lambda "+
		"time, one invocation per batch, is not included). Lambda time is the measured median request (%s for a send, %s for a report) at 256 MB "+
		"on arm64; in AWS a send also waits for WeChat's round trip (typically 50–200 ms from a mainland "+
		"region), which adds about $0.33 per million sends per 100 ms. One HTTP API request and one Lambda "+
		"invocation per send or report. CloudWatch Logs ingestion (two JSON lines, about 0.6 KB, per "+
		"request) and data transfer are not included.\n\n",
		pricesRegion, pricesDate, gsiWritesPerSend, gsiWritesPerReport,
		c.tallySendUnits.WriteUnits/sends, c.tallyReportUnits.WriteUnits/reports, ms(send.duration), ms(report.duration))
	p("| per million | DynamoDB write units | DynamoDB read units | DynamoDB | Lambda GB-s | Lambda | HTTP API | total |\n")
	p("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range []struct {
		name string
		u    unitCost
	}{{"sends", send}, {"reports", report}} {
		u := row.u
		p("| %s | %s | %s | $%.2f | %s | $%.2f | $%.2f | **$%.2f** |\n", row.name,
			comma(int64(u.wru*1e6)), comma(int64(u.rru*1e6)), u.dynamoUSD(), comma(int64(u.gbSeconds()*1e6)),
			u.lambdaUSD(), u.apiUSD(), u.totalUSD())
	}
	perMillionUsers := 1e6 / 100 * sqsRequestsPer100Users
	p("\nA broadcast adds SQS: a page job reads %d users and queues their send jobs of %d users in one "+
		"`SendMessageBatch` and the next page in one `SendMessage`; Lambda receives and deletes them in batches "+
		"of 5: about %.1f SQS requests per 100 users, %s per million users ($%.3f), on top of the sends "+
		"(the worker's Lambda time is the sends' own, paced). Lambda's SQS pollers also long-poll an idle "+
		"queue, a few hundred thousand requests a month ($0.10–$0.30).\n\n",
		broadcasts.PageSize, broadcasts.UsersPerJob, sqsRequestsPer100Users, comma(int64(perMillionUsers)), perMillionUsers/1e6*usdPerMillionSQS)
}

// unitCost is what one request costs.
type unitCost struct {
	wru, rru float64 // DynamoDB request units
	duration time.Duration
	requests float64 // Lambda invocations and HTTP API requests
}

func (u unitCost) gbSeconds() float64 { return u.duration.Seconds() * lambdaMemoryGB }

func (u unitCost) dynamoUSD() float64 { return u.wru*usdPerMillionWRU + u.rru*usdPerMillionRRU }

func (u unitCost) lambdaUSD() float64 {
	return u.gbSeconds()*1e6*usdPerGBSecondArm + u.requests*usdPerMillionInvokes
}

func (u unitCost) apiUSD() float64 { return u.requests * usdPerMillionHTTPAPI }

func (u unitCost) totalUSD() float64 { return u.dynamoUSD() + u.lambdaUSD() + u.apiUSD() }
