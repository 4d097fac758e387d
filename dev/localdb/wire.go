package localdb

import (
	"encoding/json"
	"net/http"
	"strings"
)

// The error answers below are DynamoDB's, byte for byte where it is known:
// HTTP 400, Content-Type application/x-amz-json-1.0, and a JSON body whose
// "__type" names the exception. aws-sdk-go-v2 (smithy-go's awsjson
// protocol, transport/http/protocol/awsjson/awsjson.go) takes the text after
// "#" in "__type" as the error code, looks it up in the client's type
// registry and decodes the body into that type, matching member names
// exactly except message/Message. So these bodies decode into
// *types.TransactionCanceledException, *types.TransactionConflictException
// and *types.ThrottlingException, and a ValidationException into a
// smithy.GenericAPIError with code "ValidationException".

// typePrefix is the namespace of DynamoDB's own exceptions in "__type".
const typePrefix = "com.amazonaws.dynamodb.v20120810#"

const (
	// msgTransactionConflict is the text of the TransactionConflict
	// cancellation reason, as the SDK's documentation of
	// TransactionCanceledException lists it (service/dynamodb/types/errors.go,
	// without its trailing full stop, as the real reasons quoted at
	// cancelledBody have none). TransactionConflictException is given the
	// same text; no verbatim real body of it was found to confirm that.
	msgTransactionConflict = "Transaction is ongoing for the item"

	// msgHotKey is what an on-demand table answers when one key takes more
	// than its partition can: a ThrottlingException for a single write (as
	// aws-sdk-go-v2 users report it: "api error ThrottlingException:
	// Throughput exceeds the current capacity of your table or index. ...",
	// https://github.com/praetorian-inc/chariot-ui/issues/684), and the
	// ThrottlingError cancellation reason in a transaction (the SDK's
	// documentation of TransactionCanceledException: "This message is
	// returned when writes get throttled on an On-Demand table").
	msgHotKey = "Throughput exceeds the current capacity of your table or index. " +
		"DynamoDB is automatically scaling your table or index so please try again shortly. " +
		"If exceptions persist, check if you have a hot key: " +
		"https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html"

	// reasonHotKey is the throttling reason of a partition over its
	// limit: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/throttling-key-range-limit-exceeded-mitigation.html
	// ("affecting both provisioned and on-demand modes").
	reasonHotKey = "TableWriteKeyRangeThroughputExceeded"

	// msgConsistentGSI is DynamoDB's answer to ConsistentRead on a global
	// secondary index, for Query and Scan alike
	// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html;
	// reported verbatim through aws-sdk-go-v2 in
	// https://github.com/Layr-Labs/eigenda/pull/1900, and for Scan in
	// https://github.com/getmoto/moto/pull/7450).
	msgConsistentGSI = "Consistent reads are not supported on global secondary indexes"

	// typeValidation is the "__type" of DynamoDB's ValidationException,
	// which belongs to the coral framework, not to the DynamoDB model
	// (https://github.com/AdRoll/goamz/issues/15 quotes a real body).
	typeValidation = "com.amazon.coral.validate#ValidationException"

	// msgTokenMismatch answers a TransactWriteItems whose ClientRequestToken
	// a different, successful request used within the idempotency window
	// ("DynamoDB returns an IdempotentParameterMismatch exception",
	// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
	// No verbatim body of DynamoDB's was found (DynamoDB Local answers with
	// an empty message: https://github.com/aws/aws-sdk-go-v2/issues/1900), so
	// this is the exception's description in the DynamoDB model (the SDK's
	// types.IdempotentParameterMismatchException).
	msgTokenMismatch = "DynamoDB rejected the request because you retried a request with a different payload " +
		"but with an idempotent token that was already used."

	// msgTokenInProgress answers a TransactWriteItems whose
	// ClientRequestToken a request still under way uses, as DynamoDB
	// answered it through aws-sdk-java-v2
	// (https://github.com/aws/aws-sdk-java-v2/issues/2518). The SDK's
	// standard retryer retries TransactionInProgressException
	// (aws/retry/standard.go).
	msgTokenInProgress = "Transaction from previous request is still in progress"

	// msgInternal is the body of an injected InternalServerError.
	msgInternal = "Internal server error (emulated)"
)

// errorBody is the body of most DynamoDB errors.
type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

// throttlingBody is a ThrottlingException. The member is spelled
// "throttlingReasons" in the DynamoDB model (the SDK's schemas.go;
// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ThrottlingReason.html).
type throttlingBody struct {
	Type              string             `json:"__type"`
	Message           string             `json:"message"`
	ThrottlingReasons []throttlingReason `json:"throttlingReasons"`
}

type throttlingReason struct {
	Reason   string `json:"reason"`
	Resource string `json:"resource"`
}

// cancelledBody is a TransactionCanceledException: reasons in the order of
// the request's items, "None" without a message for the items at fault of
// nothing, and capitalised "Message" members, as real answers quoted in
// https://github.com/erlcloud/erlcloud/pull/607 and
// https://github.com/aws/aws-sdk-net/issues/1292 show.
type cancelledBody struct {
	Type                string               `json:"__type"`
	CancellationReasons []cancellationReason `json:"CancellationReasons"`
	Message             string               `json:"Message"`
}

type cancellationReason struct {
	Code    string `json:"Code"`
	Message string `json:"Message,omitempty"`
	// Item is the item as it was, for a failed condition whose action
	// asked for it (ReturnValuesOnConditionCheckFailure ALL_OLD).
	Item attrs `json:"Item,omitempty"`
}

// writeError answers a DynamoDB client error (HTTP 400) with body.
func writeError(w http.ResponseWriter, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		http.Error(w, "localdb: encode error body: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(http.StatusBadRequest)
	w.Write(b)
}

// writeTransactionConflict answers a single write to an item that a
// transaction holds.
func writeTransactionConflict(w http.ResponseWriter) {
	writeError(w, errorBody{Type: typePrefix + "TransactionConflictException", Message: msgTransactionConflict})
}

// writeThrottling answers a single write to an item over its budget.
func writeThrottling(w http.ResponseWriter, r *http.Request, table string) {
	writeError(w, throttlingBody{
		Type:    typePrefix + "ThrottlingException",
		Message: msgHotKey,
		ThrottlingReasons: []throttlingReason{{
			Reason:   reasonHotKey,
			Resource: "arn:aws:dynamodb:" + region(r) + ":000000000000:table/" + table,
		}},
	})
}

// writeInternalError answers DynamoDB's InternalServerError (HTTP 500),
// which the SDK's standard retryer retries.
func writeInternalError(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(http.StatusInternalServerError)
	b, _ := json.Marshal(errorBody{Type: typePrefix + "InternalServerError", Message: msgInternal})
	w.Write(b)
}

// writeTokenMismatch answers a ClientRequestToken reused with other
// parameters.
func writeTokenMismatch(w http.ResponseWriter) {
	writeError(w, errorBody{Type: typePrefix + "IdempotentParameterMismatchException", Message: msgTokenMismatch})
}

// writeTokenInProgress answers a ClientRequestToken that a transaction
// still under way uses.
func writeTokenInProgress(w http.ResponseWriter) {
	writeError(w, errorBody{Type: typePrefix + "TransactionInProgressException", Message: msgTokenInProgress})
}

// writeValidation answers a ValidationException.
func writeValidation(w http.ResponseWriter, msg string) {
	writeError(w, errorBody{Type: typeValidation, Message: msg})
}

// writeCancelled answers a cancelled transaction, one verdict per item in
// the request's order.
func writeCancelled(w http.ResponseWriter, verdicts []verdict) {
	reasons := make([]cancellationReason, len(verdicts))
	for i, v := range verdicts {
		reasons[i] = v.reason()
	}
	writeCancelledReasons(w, reasons)
}

// writeCancelledReasons answers a cancelled transaction, one reason per
// item in the request's order.
func writeCancelledReasons(w http.ResponseWriter, reasons []cancellationReason) {
	codes := make([]string, len(reasons))
	for i, r := range reasons {
		codes[i] = r.Code
	}
	writeError(w, cancelledBody{
		Type:                typePrefix + "TransactionCanceledException",
		CancellationReasons: reasons,
		// The message lists the codes: "Transaction cancelled, please
		// refer cancellation reasons for specific reasons [None,
		// ConditionalCheckFailed]" in the real answers quoted above.
		Message: "Transaction cancelled, please refer cancellation reasons for specific reasons [" +
			strings.Join(codes, ", ") + "]",
	})
}

// reason is the cancellation reason of an item given its verdict.
func (v verdict) reason() cancellationReason {
	switch v {
	case conflicted:
		return cancellationReason{Code: "TransactionConflict", Message: msgTransactionConflict}
	case throttled:
		return cancellationReason{Code: "ThrottlingError", Message: msgHotKey}
	}
	return cancellationReason{Code: "None"}
}

// region returns the region a request was signed for ("us-east-1" when it
// does not say), from its Authorization header: "AWS4-HMAC-SHA256
// Credential=KEY/DATE/REGION/dynamodb/aws4_request, ...".
func region(r *http.Request) string {
	_, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if !ok {
		return "us-east-1"
	}
	parts := strings.Split(cred, "/")
	if len(parts) < 3 || parts[2] == "" {
		return "us-east-1"
	}
	return parts[2]
}
