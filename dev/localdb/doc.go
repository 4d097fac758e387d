// Package localdb runs a DynamoDB-compatible server in-process on loopback,
// for `make run` and the tests: truora/minidyn behind a listener, plus fault
// injection for the failures DynamoDB really produces (internal errors,
// throttling) so that reliability tests can use the real aws-sdk-go-v2
// client.
//
// # Realism
//
// minidyn applies every request at once, one at a time, so it never
// answers what DynamoDB answers under concurrency. In front of it the
// server reproduces, on by default, three behaviours of DynamoDB, with
// DynamoDB's own error answers so that the SDK classifies them as in AWS:
//
//   - Transactions hold their items. A TransactWriteItems takes TxnLatency
//     (default 25ms), holding the items it names meanwhile, and is applied
//     at the end (its conditions are evaluated then; see Transactions
//     below). Another TransactWriteItems naming one of those items is
//     cancelled at once: TransactionCanceledException, with the reason
//     TransactionConflict for each held item and None for the others. A
//     PutItem, UpdateItem or DeleteItem of one fails with
//     TransactionConflictException, which the SDK's standard retryer does
//     not retry. Reads (GetItem, Query, TransactGetItems, ...) are not
//     blocked while it waits, and see its items as they were; transactions
//     on different items run side by side.
//   - Items have a write budget. One item takes at most ItemWriteUnits write
//     units a second (default 1000, DynamoDB's per-partition limit), with a
//     burst of one second's worth: a single write costs 1, each item of a
//     transaction 2, whatever the item's size. A single write over budget
//     answers ThrottlingException, what an on-demand table answers for a
//     hot key (the SDK's standard retryer retries it: 4 attempts in all for
//     DynamoDB, waiting a random part of 1s, 2s and 4s between them); a
//     transaction with an item over budget is cancelled with the reason
//     ThrottlingError for that item (not retried). A refused request
//     consumes nothing.
//   - Global secondary indexes lag. A write reaches Query and Scan on a
//     global secondary index IndexLag (default 300ms) after it ends, and a
//     later write to the item within that time pushes that back. Until then
//     the index shows the item as it was: with its old index keys, not at
//     all if it is new, still there if it was deleted. ConsistentRead on a
//     global secondary index is refused with ValidationException, as
//     DynamoDB does. GetItem, and Query and Scan on the table or a local
//     secondary index, are strongly consistent.
//
// Each setting is a field of Options, given to StartWith or changed at run
// time with SetOptions; Start reads them from the environment:
//
//	LOCALDB_TXN_LATENCY   Go duration, default 25ms
//	LOCALDB_ITEM_WCU      write units per item per second, default 1000
//	LOCALDB_INDEX_LAG     Go duration, default 300ms
//
// "0" or "off" (or a negative Options field) turns a behaviour off, which
// restores minidyn's: transactions hold nothing and take no extra time
// (two on one item take turns, the second waiting for the first to be
// applied, rather than one being cancelled), items have no budget, and
// indexes are up to date at once (and accept ConsistentRead). Stats counts
// the requests each behaviour refused.
//
// Not modelled: Time to Live never deletes anything (minidyn has no TTL;
// DynamoDB deletes expired items only within a few days, so readers must
// filter them anyway:
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html);
// TransactGetItems is never cancelled by a write in progress; Query, Scan
// and BatchGetItem never see part of a transaction (DynamoDB promises them
// only read-committed isolation); BatchWriteItem lags into indexes but
// neither conflicts nor spends budgets; reads have no budget; tables have
// no overall throughput limit. Answers carry no
// ConsumedCapacity, whatever ReturnConsumedCapacity asks (Stats counts it).
// A replayed TransactWriteItems answers the first call's answer.
// Placeholders are not checked in
// BatchGetItem, BatchWriteItem or TransactGetItems, are checked before the
// expressions' syntax (whose errors DynamoDB reports first), and unused ones
// are listed sorted.
//
// # Transactions
//
// The server applies a TransactWriteItems itself, item by item, rather
// than with minidyn's, which copies every table it names first: a
// transaction costs the same whatever the size of its tables. It keeps
// DynamoDB's semantics: all or nothing (a cancelled transaction's writes
// are rolled back, the items it created deleted); every action whose
// condition fails is reported, as ConditionalCheckFailed with the item as
// it was when ReturnValuesOnConditionCheckFailure is ALL_OLD, and None
// for the others, in the request's order; another error (an invalid
// update, a missing table) refuses the whole transaction with that error;
// two actions on one item are refused with ValidationException
// ("Transaction request cannot include multiple operations on one item").
// A ConditionCheck changes nothing. Applying takes some microseconds, and
// meanwhile every other request waits, so that none sees a transaction
// half applied, nor a write later rolled back. The details are in
// transact.go.
//
// # Consumed capacity
//
// Stats.WriteUnits and ReadUnits count the request units that the served
// requests consumed, as DynamoDB on-demand bills them, whatever the
// Options: 1 write unit per KB of the item written (the larger of the item
// before and after; the deleted item for a DeleteItem), 2 per KB for each
// item of a TransactWriteItems (ConditionCheck included); 1 read unit per
// 4 KB of the item read (GetItem, each key of BatchGetItem) if strongly
// consistent, half that if eventually consistent, 2 in a TransactGetItems;
// a Query or Scan sums the sizes of the items it read, before any filter
// or projection, then rounds up (reads of a global secondary index are
// eventually consistent). Sizes round up to whole units, at least one: an
// absent item costs the minimum. An item's size is DynamoDB's (attribute
// names plus values: UTF-8 bytes of a string, about one byte per two
// digits of a number, and so on). A conditional write whose condition
// fails consumes as if it had written, the larger of the item and a Put's
// new item; a replayed ClientRequestToken, or one still in progress,
// consumes 2 read units per 4 KB of each of the transaction's items.
// Throttled, invalid and injected-failure requests consume nothing; an
// answer lost by LoseAnswerNext was served, and is charged. Assumed, as
// DynamoDB does not document it: a transaction cancelled for a failed
// condition or a conflict, and a single write refused with
// TransactionConflictException, consume as if they had written. Not
// counted: the writes that propagate an item to its table's secondary
// indexes, which DynamoDB bills too (one more write per index the item is
// in, two if its index key changes). The sources and the approximations
// are in capacity.go.
//
// # Idempotent transactions
//
// A TransactWriteItems with a ClientRequestToken (aws-sdk-go-v2 gives
// every call one, and keeps it across its retries of that call) is
// remembered once it succeeds, for 10 minutes by the server's clock. The
// same token with the same parameters (compared as JSON values, whatever
// the order of their members) then answers the first call's answer again
// without applying anything, holding nothing and spending no budget; with
// other parameters it answers IdempotentParameterMismatchException. While
// the first call still runs, the same token answers
// TransactionInProgressException, which the SDK retries. A call that fails
// (cancelled, refused, InternalServerError) leaves no trace: its token can
// be used again, with any parameters.
//
// # Placeholders
//
// As DynamoDB does, a request is refused with ValidationException, before
// anything else and with DynamoDB's messages, when one of its expressions
// uses a #name or :value placeholder that its ExpressionAttributeNames or
// ExpressionAttributeValues do not declare ("Invalid UpdateExpression: An
// expression attribute value used in expression is not defined; attribute
// value: :v"), or when it declares one that no expression uses ("Value
// provided in ExpressionAttributeNames unused in expressions: keys:
// {#st}"), or declares placeholders without any expression, an empty map
// or a malformed key, or has an empty expression. This holds for PutItem, UpdateItem, DeleteItem,
// GetItem, Query, Scan and each action of TransactWriteItems (whose faulty
// action refuses the whole request; an action without any expression may
// declare placeholders). Like DynamoDB since 2026, PutItem and UpdateItem
// prefix those messages with "1 validation error detected: "; match them
// by their end, never whole. Placeholders are always checked, whatever the
// Options.
//
// # Streams
//
// A table created (or updated) with a StreamSpecification has a stream, as
// in DynamoDB: every write that changes an item appends a record (INSERT,
// MODIFY or REMOVE, with the images its StreamViewType asks for), a write
// that changes nothing appends none, a transaction's records appear once it
// is applied, and all of one item's records are in one shard, in order. The
// stream has StreamShards shards, chosen by partition key, and keeps every
// record for the server's life. The Streams API (ListStreams,
// DescribeStream, GetShardIterator, GetRecords) is served on the same
// endpoint for the real dynamodbstreams client (StreamsClient); its
// requests are neither counted in Requests nor refused by the faults. A
// write to a table with a stream holds the apply lock while minidyn serves
// it, so that the images around it are its own. Details in streams.go.
//
// # Fault injection
//
// FailAll and FailNext make requests answer InternalServerError, and
// Throttle ProvisionedThroughputExceededException, before any of the above.
// LoseAnswerNext serves requests as usual, applying them, but answers
// InternalServerError instead: the answer lost after the commit, which the
// SDK's retry then repeats (harmlessly for a TransactWriteItems, whose
// token is replayed; not for an UpdateItem that adds to a counter).
// Requests, ItemRequests and Stats count what the server received and
// refused, and the capacity the served requests consumed.
package localdb
