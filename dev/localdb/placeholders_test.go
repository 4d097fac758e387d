package localdb_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/wxsub/wxsub/dev/localdb"
)

// envelope prefixes PutItem's and UpdateItem's validation errors.
const envelope = "1 validation error detected: "

// wantValidation checks for DynamoDB's ValidationException (HTTP 400) with
// message msg.
func wantValidation(t *testing.T, what string, err error, msg string) {
	t.Helper()
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" || ae.ErrorMessage() != msg ||
		!errors.As(err, &re) || re.HTTPStatusCode() != http.StatusBadRequest {
		t.Errorf("%s: %v\nwant ValidationException: %s", what, err, msg)
	}
}

func names(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func values(kv ...string) map[string]types.AttributeValue {
	m := map[string]types.AttributeValue{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = s(kv[i+1])
	}
	return m
}

func TestPlaceholdersOfSingleRequests(t *testing.T) {
	f := newFixture(t, localdb.Options{TxnLatency: -1})
	f.put(item("kept", "G", "x"))
	update := func(expr string, n map[string]string, v map[string]types.AttributeValue) error {
		_, err := f.raw.UpdateItem(f.ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String("t"), Key: key("u"), UpdateExpression: aws.String(expr),
			ExpressionAttributeNames: n, ExpressionAttributeValues: v,
		})
		return err
	}
	query := func(filter string, n map[string]string, v map[string]types.AttributeValue) error {
		in := &dynamodb.QueryInput{
			TableName: aws.String("t"), KeyConditionExpression: aws.String("pk = :p"),
			ExpressionAttributeNames: n, ExpressionAttributeValues: v,
		}
		if filter != "" {
			in.FilterExpression = aws.String(filter)
		}
		_, err := f.raw.Query(f.ctx, in)
		return err
	}

	// UpdateItem.
	wantValidation(t, "unused name (a prefix of a used one)",
		update("SET #status = :v", names("#st", "a", "#status", "b"), values(":v", "1")),
		envelope+"Value provided in ExpressionAttributeNames unused in expressions: keys: {#st}")
	wantValidation(t, "unused values",
		update("SET v = :v", nil, values(":v", "1", ":x", "2", ":w", "3")),
		envelope+"Value provided in ExpressionAttributeValues unused in expressions: keys: {:w, :x}")
	wantValidation(t, "undefined value", update("SET v = :v", nil, nil),
		envelope+"Invalid UpdateExpression: An expression attribute value used in expression is not defined; attribute value: :v")
	wantValidation(t, "undefined name before undefined value", update("SET v = :v, #a = :w", nil, values(":w", "1")),
		envelope+"Invalid UpdateExpression: An expression attribute name used in the document path is not defined; attribute name: #a")
	wantValidation(t, "empty names", update("SET v = :v", map[string]string{}, values(":v", "1")),
		envelope+"ExpressionAttributeNames must not be empty")
	wantValidation(t, "malformed name", update("SET v = :v", names("a-b", "v"), values(":v", "1")),
		envelope+`ExpressionAttributeNames contains invalid key: Syntax error; key: "a-b"`)
	wantValidation(t, "empty expression", update("", nil, nil),
		envelope+"Invalid UpdateExpression: The expression can not be empty;")
	if f.exists("u") {
		t.Fatal("a refused UpdateItem was applied")
	}

	// PutItem, DeleteItem.
	_, err := f.raw.PutItem(f.ctx, &dynamodb.PutItemInput{
		TableName: aws.String("t"), Item: item("u", "", "x"), ConditionExpression: aws.String("attribute_not_exists(#pk)"),
	})
	wantValidation(t, "PutItem, undefined name", err,
		envelope+"Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #pk")
	_, err = f.raw.PutItem(f.ctx, &dynamodb.PutItemInput{
		TableName: aws.String("t"), Item: item("u", "", "x"), ExpressionAttributeValues: values(":v", "1"),
	})
	wantValidation(t, "PutItem, values without a condition", err,
		envelope+"ExpressionAttributeValues can only be specified when using expressions")
	_, err = f.raw.DeleteItem(f.ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String("t"), Key: key("kept"), ConditionExpression: aws.String("v = :x"),
		ExpressionAttributeValues: values(":x", "x", ":y", "y"),
	})
	wantValidation(t, "DeleteItem, unused value", err,
		"Value provided in ExpressionAttributeValues unused in expressions: keys: {:y}")
	if f.exists("u") || !f.exists("kept") {
		t.Fatal("a refused write was applied")
	}

	// Reads.
	wantValidation(t, "Query, undefined name in the filter", query("#missing = :fv", nil, values(":p", "p", ":fv", "x")),
		"Invalid FilterExpression: An expression attribute name used in the document path is not defined; attribute name: #missing")
	wantValidation(t, "Query, unused name", query("", names("#unused", "a"), values(":p", "p")),
		"Value provided in ExpressionAttributeNames unused in expressions: keys: {#unused}")
	_, err = f.raw.GetItem(f.ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: key("kept"), ExpressionAttributeNames: names("#v", "v")})
	wantValidation(t, "GetItem, names without a projection", err,
		"ExpressionAttributeNames can only be specified when using expressions")
	_, err = f.raw.Scan(f.ctx, &dynamodb.ScanInput{TableName: aws.String("t"), ExpressionAttributeValues: values(":v", "1")})
	wantValidation(t, "Scan, values without a filter", err,
		"ExpressionAttributeValues can only be specified when using expressions: FilterExpression is null")

	// Sound requests pass.
	if err := update("SET #status = :v, #n = if_not_exists(#n, :v)", names("#status", "status", "#n", "n2"), values(":v", "1")); err != nil {
		t.Fatalf("sound UpdateItem: %v", err)
	}
	if err := query("#s = :s", names("#s", "status", "#v", "v"), values(":p", "p", ":s", "1")); err == nil {
		t.Fatal("a name used only by the projection, which this query lacks, passed")
	}
	out, err := f.raw.Query(f.ctx, &dynamodb.QueryInput{
		TableName: aws.String("t"), KeyConditionExpression: aws.String("#pk = :p"), FilterExpression: aws.String("#s = :s"),
		ProjectionExpression: aws.String("#pk, sk, #s"), ExpressionAttributeNames: names("#pk", "pk", "#s", "status"),
		ExpressionAttributeValues: values(":p", "p", ":s", "1"),
	})
	if err != nil || out.Count != 1 {
		t.Fatalf("sound Query, names shared by three expressions: %v, %v; want item u", out, err)
	}
}

func TestPlaceholdersOfTransactions(t *testing.T) {
	f := newFixture(t, localdb.Options{TxnLatency: -1})
	put := types.TransactWriteItem{Put: &types.Put{TableName: aws.String("t"), Item: item("t1", "", "x")}}

	bad := *update("t2")
	bad.ExpressionAttributeNames = names("#st", "status")
	wantValidation(t, "unused name in an action", f.transact(f.raw, put, types.TransactWriteItem{Update: &bad}),
		"Value provided in ExpressionAttributeNames unused in expressions: keys: {#st}")

	check := types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: aws.String("t"), Key: key("t3"), ConditionExpression: aws.String("v = :x"),
	}}
	wantValidation(t, "undefined value in an action", f.transact(f.raw, put, check),
		"Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :x")
	if f.exists("t1") {
		t.Fatal("a refused transaction was applied")
	}

	// An action without any expression may declare placeholders.
	lax := types.TransactWriteItem{Put: &types.Put{TableName: aws.String("t"), Item: item("t1", "", "x"), ExpressionAttributeNames: names("#v", "v")}}
	if err := f.transact(f.raw, lax, types.TransactWriteItem{Update: update("t2")}); err != nil {
		t.Fatalf("sound transaction: %v", err)
	}
	if !f.exists("t1") || !f.exists("t2") {
		t.Fatal("the sound transaction was not applied")
	}
}

func TestTokenParametersCompareAsJSON(t *testing.T) {
	f := newFixture(t, localdb.Options{TxnLatency: -1})
	post := func(body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, f.srv.URL, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810.TransactWriteItems")
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var e struct {
			Type string `json:"__type"`
		}
		json.Unmarshal(b, &e)
		return resp.StatusCode, e.Type
	}
	first := `{"ClientRequestToken":"tok-o","TransactItems":[{"Update":{"TableName":"t","Key":{"pk":{"S":"p"},"sk":{"S":"c"}},` +
		`"UpdateExpression":"ADD n :one","ExpressionAttributeValues":{":one":{"N":"1"}}}}]}`
	reordered := `{"TransactItems":[{"Update":{"ExpressionAttributeValues":{":one":{"N":"1"}},"UpdateExpression":"ADD n :one",` +
		`"Key":{"sk":{"S":"c"},"pk":{"S":"p"}},"TableName":"t"}}],"ClientRequestToken":"tok-o"}`
	other := strings.Replace(first, `"N":"1"`, `"N":"2"`, 1)
	if code, typ := post(first); code != http.StatusOK {
		t.Fatalf("first call: %d %s", code, typ)
	}
	if code, typ := post(reordered); code != http.StatusOK {
		t.Fatalf("same parameters, members reordered: %d %s", code, typ)
	}
	if code, typ := post(other); code != http.StatusBadRequest || !strings.HasSuffix(typ, "#IdempotentParameterMismatchException") {
		t.Fatalf("other parameters: %d %s, want 400 IdempotentParameterMismatchException", code, typ)
	}
	if got := f.counter("c"); got != "1" {
		t.Fatalf("n = %q, want 1", got)
	}
}
