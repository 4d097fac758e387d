package localdb

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// A TransactWriteItems with a ClientRequestToken is idempotent: "multiple
// identical calls have the same effect as one single call"; the token "is
// valid for 10 minutes after the first request that uses it is completed";
// "If you submit a request with the same client token but a change in
// other parameters within the 10-minute idempotency window, DynamoDB
// returns an IdempotentParameterMismatch exception"
// (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html,
// also the SDK's TransactWriteItemsInput.ClientRequestToken). A call that
// failed leaves nothing behind: "If the request succeeded when initially
// submitted, DynamoDB won't execute it again. If it failed the first time,
// DynamoDB will apply the writes in the request"
// (https://www.alexdebrie.com/posts/dynamodb-transactions/#idempotency-with-transactional-requests,
// as quoted in https://notes.paulswail.com/public/When+should+idempotency+tokens+be+used+when+executing+a+DynamoDB+transaction).
// A second call while the first is still under way answers
// TransactionInProgressException ("The transaction with the given request
// token is already in progress", the SDK's types.TransactionInProgressException).
//
// aws-sdk-go-v2 fills ClientRequestToken with a new UUID for every call
// that leaves it empty (the OperationIdempotencyTokenAutoFill middleware,
// service/dynamodb/api_op_TransactWriteItems.go) and its retries of one
// call resend the same serialised body, so a retry after a lost answer is
// replayed, not applied again. Parameters are compared as JSON values,
// not bytes: DynamoDB "doesn't care about parameter ordering"
// (https://github.com/localstack/localstack/issues/6529), and the SDK
// serialises maps in random order
// (https://github.com/aws/aws-sdk-go-v2/issues/3131).

// tokenWindow is how long a successful ClientRequestToken is remembered.
const tokenWindow = 10 * time.Minute

// tokenVerdict is what the token store says of a new TransactWriteItems.
type tokenVerdict int

const (
	tokenNew        tokenVerdict = iota // unknown token: run it
	tokenReplay                         // same token and parameters succeeded
	tokenMismatch                       // same token, other parameters
	tokenInProgress                     // same token, still running
)

// answer is a successful response, kept to be replayed.
type answer struct {
	contentType string
	body        []byte
}

// write sends the answer again.
func (a answer) write(w http.ResponseWriter) {
	if a.contentType != "" {
		w.Header().Set("Content-Type", a.contentType)
	}
	w.WriteHeader(http.StatusOK)
	w.Write(a.body)
}

// tokenEntry is what the store knows of one token.
type tokenEntry struct {
	sum     [sha256.Size]byte // of the request's parameters
	running bool
	answer  answer
	done    time.Time // when the request succeeded
}

// tokenStore remembers the ClientRequestTokens of transactions running or
// successful within tokenWindow.
type tokenStore struct {
	mu      sync.Mutex
	byToken map[string]*tokenEntry
	swept   time.Time
}

func newTokenStore() *tokenStore { return &tokenStore{byToken: map[string]*tokenEntry{}} }

// begin looks a token up at now. An unknown (or expired) token is recorded
// as running, and the caller must call end.
func (t *tokenStore) begin(token string, sum [sha256.Size]byte, now time.Time) (tokenVerdict, answer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(now)
	e := t.byToken[token]
	switch {
	case e == nil || e.expired(now):
		t.byToken[token] = &tokenEntry{sum: sum, running: true}
		return tokenNew, answer{}
	case e.running:
		return tokenInProgress, answer{}
	case e.sum != sum:
		return tokenMismatch, answer{}
	}
	return tokenReplay, e.answer
}

// end records the outcome of a token's transaction at now: its answer if
// it succeeded (a non-nil ok), or nothing at all.
func (t *tokenStore) end(token string, ok *answer, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byToken[token]
	switch {
	case e == nil || !e.running: // not begun by this call
	case ok == nil:
		delete(t.byToken, token)
	default:
		e.running, e.answer, e.done = false, *ok, now
	}
}

// expired reports whether a successful token is past its window at now.
func (e *tokenEntry) expired(now time.Time) bool {
	return !e.running && !now.Before(e.done.Add(tokenWindow))
}

// sweep forgets, at most once a minute, the expired tokens. t.mu is held.
func (t *tokenStore) sweep(now time.Time) {
	if now.Sub(t.swept) < time.Minute {
		return
	}
	t.swept = now
	for token, e := range t.byToken {
		if e.expired(now) {
			delete(t.byToken, token)
		}
	}
}

// paramsSum digests a TransactWriteItems body as a JSON value, so that the
// order of object members does not matter.
func paramsSum(body []byte) ([sha256.Size]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("localdb: decode TransactWriteItems: %w", err)
	}
	canon, err := json.Marshal(v) // sorts object members
	if err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("localdb: encode TransactWriteItems: %w", err)
	}
	return sha256.Sum256(canon), nil
}

// serveIdempotent serves a TransactWriteItems carrying a
// ClientRequestToken: it replays the answer of an earlier success with the
// same token and parameters, refuses the token while it runs or with other
// parameters, and otherwise runs the transaction, remembering its token if
// it succeeds.
func (s *Server) serveIdempotent(w http.ResponseWriter, r *http.Request, req transactRequest, start time.Time) {
	body, err := readBody(r)
	var sum [sha256.Size]byte
	if err == nil {
		sum, err = paramsSum(body)
	}
	if err != nil { // not JSON: minidyn answers it
		s.runTransaction(w, r, req, start)
		return
	}
	token := req.ClientRequestToken
	verdict, a := s.tokens.begin(token, sum, s.now())
	switch verdict {
	case tokenReplay:
		a.write(w)
		s.chargeTransactionReads(req)
		return
	case tokenMismatch:
		writeTokenMismatch(w)
		return
	case tokenInProgress:
		writeTokenInProgress(w)
		s.chargeTransactionReads(req)
		return
	}
	aw := &answerWriter{ResponseWriter: w, status: http.StatusOK}
	var kept *answer
	defer func() { s.tokens.end(token, kept, s.now()) }()
	s.runTransaction(aw, r, req, start)
	if aw.status == http.StatusOK {
		kept = &answer{contentType: aw.Header().Get("Content-Type"), body: aw.body.Bytes()}
	}
}

// answerWriter passes an answer on, keeping its status and a copy of its
// body.
type answerWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *answerWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *answerWriter) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}
