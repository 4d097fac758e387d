package localdb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// DynamoDB refuses, with a ValidationException and before anything else,
// a request whose expressions use a placeholder (#name or :value) that its
// ExpressionAttributeNames or ExpressionAttributeValues do not declare, or
// that declares one that none of its expressions use. minidyn checks the
// latter by substring ("#st" passes if "#status" is used) and stores NULL
// for an undeclared :value, so the server checks both itself.
//
// The messages are DynamoDB's, as captured from it by the conformance suite
// https://github.com/nubo-db/dynamodb-conformance (tests/tier3/error-messages/updateItem.test.ts
// and query.test.ts, and the captures/ directory) and reported by users:
// "Value provided in ExpressionAttributeNames unused in expressions: keys:
// {#f2}" (https://github.com/AllocZero/EfficientDynamoDb/issues/170),
// "Invalid KeyConditionExpression: An expression attribute name used in the
// document path is not defined; attribute name: #0"
// (https://github.com/aws/aws-sdk-go-v2/issues/285), "Invalid
// UpdateExpression: An expression attribute value used in expression is not
// defined; attribute value: :game" (https://github.com/goamz/goamz/issues/132),
// "ExpressionAttributeNames contains invalid key: Syntax error; key:
// \"#sryLiyD8D-\"" (https://github.com/4ossiblellc/dynamodb-update-expression/issues/13),
// "ExpressionAttributeValues must not be empty" for a transaction's item
// (https://github.com/getmoto/moto/issues/8405). An empty expression is
// refused too, as "Invalid UpdateExpression: The expression can not be
// empty;" (the suite's updateItem.test.ts and query.test.ts). The order of the checks
// and the messages for placeholders without any expression follow dynalite
// (https://github.com/architect/dynalite, validations/index.js), written
// against DynamoDB's answers; unused names are reported before unused
// values, as AWS's own DAX client does (CborSExprGenerator.js).
//
// Since mid-2026 DynamoDB prefixes the validation errors of PutItem and
// UpdateItem with "1 validation error detected: ", and PutItem's
// "ExpressionAttributeValues can only be specified when using expressions"
// lost its ": ConditionExpression is null" tail: the conformance suite
// captured the change in us-east-1 on 2026-08-12
// (captures/2026-08-12-wording-drift.json, probes u_upd_unused_ean,
// u_upd_unused_eav, u_upd_missing_eav, u_upd_empty, b_put_eav_no_expr; eu-west-2 had it
// in June, captures/2026-06-09-validation-rewording.json). Reads keep the
// old wording (https://github.com/nubo-db/dynoxide CHANGELOG: "Read
// operations are unchanged and their expression errors stay bare"). No
// capture covers DeleteItem or transactions; they keep the old wording
// here. A transaction's item with a faulty placeholder refuses the whole
// request with the same message as a single write, and an item with no
// expression may declare placeholders it does not use
// (https://github.com/ExtendDB/extenddb/pull/169, compared with DynamoDB).

// The expression parameters, in the order DynamoDB checks them.
const (
	exprUpdate       = "UpdateExpression"
	exprCondition    = "ConditionExpression"
	exprKeyCondition = "KeyConditionExpression"
	exprFilter       = "FilterExpression"
	exprProjection   = "ProjectionExpression"
)

// envelope is the prefix of PutItem's and UpdateItem's validation errors.
const envelope = "1 validation error detected: "

// placeholderRules says which expressions an operation takes (in the order
// its "can only be specified" message lists them) and whether its messages
// carry the envelope.
type placeholderRules struct {
	exprs     []string
	enveloped bool
}

var opRules = map[string]placeholderRules{
	"PutItem":    {exprs: []string{exprCondition}, enveloped: true},
	"UpdateItem": {exprs: []string{exprUpdate, exprCondition}, enveloped: true},
	"DeleteItem": {exprs: []string{exprCondition}},
	"GetItem":    {exprs: []string{exprProjection}},
	"Query":      {exprs: []string{exprProjection, exprFilter, exprKeyCondition}},
	"Scan":       {exprs: []string{exprProjection, exprFilter}},
}

// The expressions of a transaction's actions.
var (
	txnCheckRules  = placeholderRules{exprs: []string{exprCondition}}
	txnUpdateRules = placeholderRules{exprs: []string{exprUpdate, exprCondition}}
)

// exprRequest is what the check needs of a request, or of a transaction's
// action: its expressions (nil when absent) and placeholders.
type exprRequest struct {
	UpdateExpression          *string
	ConditionExpression       *string
	KeyConditionExpression    *string
	FilterExpression          *string
	ProjectionExpression      *string
	ExpressionAttributeNames  map[string]string
	ExpressionAttributeValues map[string]json.RawMessage
}

// checkPlaceholders returns the ValidationException message DynamoDB
// answers to the placeholders of a request of operation op, or "" if they
// are sound (or the request cannot be decoded, for minidyn to answer).
func checkPlaceholders(r *http.Request, op string) string {
	if op == "TransactWriteItems" {
		return checkTransactionPlaceholders(r)
	}
	rules, ok := opRules[op]
	if !ok {
		return ""
	}
	var req exprRequest
	if !decodeBody(r, &req) {
		return ""
	}
	msg := req.check(rules, false)
	if msg != "" && rules.enveloped {
		return envelope + msg
	}
	return msg
}

// checkTransactionPlaceholders checks each action of a TransactWriteItems
// in turn.
func checkTransactionPlaceholders(r *http.Request) string {
	var req struct {
		TransactItems []struct {
			ConditionCheck, Put, Delete, Update *exprRequest
		}
	}
	if !decodeBody(r, &req) {
		return ""
	}
	for _, it := range req.TransactItems {
		for _, a := range []struct {
			req   *exprRequest
			rules placeholderRules
		}{{it.ConditionCheck, txnCheckRules}, {it.Put, txnCheckRules}, {it.Delete, txnCheckRules}, {it.Update, txnUpdateRules}} {
			if a.req == nil {
				continue
			}
			if msg := a.req.check(a.rules, true); msg != "" {
				return msg
			}
		}
	}
	return ""
}

// dropIdleDeclarations removes the ExpressionAttributeNames and
// ExpressionAttributeValues of the actions of a TransactWriteItems that
// have no expression, which DynamoDB ignores but minidyn refuses. The body
// is left as it is if nothing is to be removed or it cannot be decoded.
func dropIdleDeclarations(r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		return
	}
	var req map[string]json.RawMessage
	var items []map[string]map[string]json.RawMessage // action kind → member → value
	if json.Unmarshal(body, &req) != nil || json.Unmarshal(req["TransactItems"], &items) != nil {
		return
	}
	dropped := false
	for _, it := range items {
		for _, action := range it {
			if !hasAnyKey(action, exprUpdate, exprCondition) && hasAnyKey(action, "ExpressionAttributeNames", "ExpressionAttributeValues") {
				delete(action, "ExpressionAttributeNames")
				delete(action, "ExpressionAttributeValues")
				dropped = true
			}
		}
	}
	if !dropped {
		return
	}
	if req["TransactItems"], err = json.Marshal(items); err != nil {
		return
	}
	if body, err = json.Marshal(req); err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
}

func hasAnyKey[V any](m map[string]V, keys ...string) bool {
	return slices.ContainsFunc(keys, func(k string) bool { return hasKey(m, k) })
}

// check returns the message for the first fault of the request's
// placeholders, given the expressions its operation takes; inTxn for a
// transaction's action, which may declare placeholders without any
// expression.
func (q *exprRequest) check(rules placeholderRules, inTxn bool) string {
	present := q.expressions(rules.exprs)
	if len(present) == 0 {
		if inTxn {
			return ""
		}
		if msg := q.withoutExpressions(rules); msg != "" {
			return msg
		}
	}
	if msg := q.checkDeclared(); msg != "" {
		return msg
	}
	usedNames, usedValues := map[string]bool{}, map[string]bool{}
	for _, e := range present {
		if msg := e.resolve(q, usedNames, usedValues); msg != "" {
			return msg
		}
	}
	if unused := unusedKeys(q.ExpressionAttributeNames, usedNames); unused != "" {
		return "Value provided in ExpressionAttributeNames unused in expressions: keys: {" + unused + "}"
	}
	if unused := unusedKeys(q.ExpressionAttributeValues, usedValues); unused != "" {
		return "Value provided in ExpressionAttributeValues unused in expressions: keys: {" + unused + "}"
	}
	return ""
}

// expression is one expression parameter of a request.
type expression struct {
	param string // "UpdateExpression", ...
	text  string
}

// expressions returns those of the allowed expression parameters that the
// request has, in the order DynamoDB checks them.
func (q *exprRequest) expressions(allowed []string) []expression {
	var out []expression
	for _, e := range []struct {
		param string
		text  *string
	}{
		{exprUpdate, q.UpdateExpression},
		{exprCondition, q.ConditionExpression},
		{exprKeyCondition, q.KeyConditionExpression},
		{exprFilter, q.FilterExpression},
		{exprProjection, q.ProjectionExpression},
	} {
		if e.text != nil && slices.Contains(allowed, e.param) {
			out = append(out, expression{param: e.param, text: *e.text})
		}
	}
	return out
}

// withoutExpressions refuses placeholders given to a request without any
// expression.
func (q *exprRequest) withoutExpressions(rules placeholderRules) string {
	if q.ExpressionAttributeNames != nil {
		return "ExpressionAttributeNames can only be specified when using expressions"
	}
	valueExprs := slices.DeleteFunc(slices.Clone(rules.exprs), func(p string) bool { return p == exprProjection })
	if q.ExpressionAttributeValues == nil || len(valueExprs) == 0 {
		return ""
	}
	msg := "ExpressionAttributeValues can only be specified when using expressions"
	if rules.enveloped {
		return msg
	}
	verb := " is null"
	if len(valueExprs) > 1 {
		verb = " are null"
	}
	return msg + ": " + strings.Join(valueExprs, " and ") + verb
}

// checkDeclared refuses empty placeholder maps and malformed keys.
func (q *exprRequest) checkDeclared() string {
	if msg := checkKeys("ExpressionAttributeNames", '#', slices.Sorted(maps.Keys(q.ExpressionAttributeNames)),
		q.ExpressionAttributeNames != nil); msg != "" {
		return msg
	}
	return checkKeys("ExpressionAttributeValues", ':', slices.Sorted(maps.Keys(q.ExpressionAttributeValues)),
		q.ExpressionAttributeValues != nil)
}

// checkKeys refuses a given but empty map of placeholders, or a key that
// is not prefix followed by letters, digits or underscores.
func checkKeys(param string, prefix byte, keys []string, given bool) string {
	if given && len(keys) == 0 {
		return param + " must not be empty"
	}
	for _, k := range keys {
		if len(k) < 2 || k[0] != prefix || placeholderEnd(k, 1) != len(k) {
			return fmt.Sprintf("%s contains invalid key: Syntax error; key: %q", param, k)
		}
	}
	return ""
}

// resolve marks the placeholders the expression uses, and refuses an empty
// expression or a placeholder not declared: in an UpdateExpression the first undeclared name, if any, before
// the first undeclared value; in the others the first undeclared one.
func (e expression) resolve(q *exprRequest, usedNames, usedValues map[string]bool) string {
	if e.text == "" {
		return "Invalid " + e.param + ": The expression can not be empty;"
	}
	var undeclared []string
	for _, p := range placeholders(e.text) {
		switch {
		case p[0] == '#' && hasKey(q.ExpressionAttributeNames, p):
			usedNames[p] = true
		case p[0] == ':' && hasKey(q.ExpressionAttributeValues, p):
			usedValues[p] = true
		default:
			undeclared = append(undeclared, p)
		}
	}
	if len(undeclared) == 0 {
		return ""
	}
	p := undeclared[0]
	if e.param == exprUpdate {
		if i := slices.IndexFunc(undeclared, func(u string) bool { return u[0] == '#' }); i >= 0 {
			p = undeclared[i]
		}
	}
	if p[0] == '#' {
		return "Invalid " + e.param +
			": An expression attribute name used in the document path is not defined; attribute name: " + p
	}
	return "Invalid " + e.param +
		": An expression attribute value used in expression is not defined; attribute value: " + p
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

// placeholders returns the #name and :value placeholders of an expression
// in order. DynamoDB's expressions have no string literals (values come
// only through placeholders), so a '#' or ':' always starts one.
func placeholders(expr string) []string {
	var out []string
	for i := 0; i < len(expr); i++ {
		if expr[i] != '#' && expr[i] != ':' {
			continue
		}
		end := placeholderEnd(expr, i+1)
		if end > i+1 {
			out = append(out, expr[i:end])
		}
		i = end - 1
	}
	return out
}

// placeholderEnd returns the index after the letters, digits and
// underscores of s from i on.
func placeholderEnd(s string, i int) int {
	for i < len(s) && (s[i] == '_' || '0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'z' || 'A' <= s[i] && s[i] <= 'Z') {
		i++
	}
	return i
}

// unusedKeys lists, sorted, the declared placeholders not used.
func unusedKeys[V any](declared map[string]V, used map[string]bool) string {
	var unused []string
	for _, k := range slices.Sorted(maps.Keys(declared)) {
		if !used[k] {
			unused = append(unused, k)
		}
	}
	return strings.Join(unused, ", ")
}
