package localdb

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The defaults of Options.
const (
	// DefaultTxnLatency is how long a TransactWriteItems takes by default.
	DefaultTxnLatency = 25 * time.Millisecond
	// DefaultItemWriteUnits is the default write budget of one item, in
	// write units a second: DynamoDB's limit for one partition.
	DefaultItemWriteUnits = 1000
	// DefaultIndexLag is how long a write takes by default to reach the
	// global secondary indexes.
	DefaultIndexLag = 300 * time.Millisecond
)

// The environment variables that Start reads.
const (
	// EnvTxnLatency sets Options.TxnLatency: a Go duration ("25ms").
	EnvTxnLatency = "LOCALDB_TXN_LATENCY"
	// EnvItemWriteUnits sets Options.ItemWriteUnits: an integer.
	EnvItemWriteUnits = "LOCALDB_ITEM_WCU"
	// EnvIndexLag sets Options.IndexLag: a Go duration ("300ms").
	EnvIndexLag = "LOCALDB_INDEX_LAG"
)

// Options are the realism settings; zero value of a field means "use the
// default", and a negative value turns the behaviour off.
type Options struct {
	// TxnLatency is how long a TransactWriteItems takes, holding its items
	// meanwhile (DefaultTxnLatency). Off, transactions hold nothing.
	TxnLatency time.Duration
	// ItemWriteUnits is how many write units one item may take a second
	// (DefaultItemWriteUnits). Off, items have no budget.
	ItemWriteUnits int
	// IndexLag is how long a write takes to reach Query and Scan on a
	// global secondary index (DefaultIndexLag). Off, indexes are up to date
	// at once and accept ConsistentRead, as minidyn does.
	IndexLag time.Duration
}

// settings are Options resolved: a zero field is off.
type settings struct {
	txnLatency time.Duration
	itemWCU    int
	indexLag   time.Duration
	// changed is closed when the settings are replaced, which wakes the
	// transactions waiting out txnLatency.
	changed chan struct{}
}

func (o Options) resolve() *settings {
	return &settings{
		txnLatency: orDefault(o.TxnLatency, DefaultTxnLatency),
		itemWCU:    orDefault(o.ItemWriteUnits, DefaultItemWriteUnits),
		indexLag:   orDefault(o.IndexLag, DefaultIndexLag),
		changed:    make(chan struct{}),
	}
}

// orDefault resolves one setting: zero is the default, negative is off (0).
func orDefault[T time.Duration | int](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// SetOptions replaces the realism settings at run time. A transaction
// waiting out its latency recomputes it from the new settings (so lowering
// TxnLatency releases a held transaction at once), and the index lag
// applies to the writes already waiting.
func (s *Server) SetOptions(o Options) {
	old := s.settings.Swap(o.resolve())
	if old != nil {
		close(old.changed)
	}
}

// OptionsFromEnv reads the realism settings from the environment variables
// EnvTxnLatency, EnvItemWriteUnits and EnvIndexLag: Go durations for the
// first and last, an integer for the other; "0" or "off" turns one off, and
// an unset or malformed variable leaves its default (Start reports a
// malformed one).
func OptionsFromEnv(getenv func(string) string) Options {
	o, _ := parseEnv(getenv)
	return o
}

// parseEnv is OptionsFromEnv, also reporting the malformed variables.
func parseEnv(getenv func(string) string) (Options, error) {
	var o Options
	var errs [3]error
	o.TxnLatency, errs[0] = envDuration(getenv, EnvTxnLatency)
	o.ItemWriteUnits, errs[1] = envInt(getenv, EnvItemWriteUnits)
	o.IndexLag, errs[2] = envDuration(getenv, EnvIndexLag)
	return o, errors.Join(errs[:]...)
}

// envValue returns a variable's value, and whether it turns the setting
// off.
func envValue(getenv func(string) string, name string) (v string, off bool) {
	v = strings.TrimSpace(getenv(name))
	return v, v == "0" || strings.EqualFold(v, "off")
}

func envDuration(getenv func(string) string, name string) (time.Duration, error) {
	v, off := envValue(getenv, name)
	switch {
	case v == "":
		return 0, nil
	case off:
		return -1, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("localdb: %s=%q: %w", name, v, err)
	}
	if d <= 0 {
		return -1, nil
	}
	return d, nil
}

func envInt(getenv func(string) string, name string) (int, error) {
	v, off := envValue(getenv, name)
	switch {
	case v == "":
		return 0, nil
	case off:
		return -1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("localdb: %s=%q: %w", name, v, err)
	}
	if n <= 0 {
		return -1, nil
	}
	return n, nil
}

// Stats counts the requests that the realism settings refused, and the
// capacity that the served requests consumed.
type Stats struct {
	// TxnConflicts counts the TransactWriteItems cancelled because another
	// transaction held one of their items.
	TxnConflicts int64
	// WriteConflicts counts the PutItem, UpdateItem and DeleteItem refused
	// with TransactionConflictException.
	WriteConflicts int64
	// Throttles counts the requests (single writes or transactions) refused
	// because an item was over its write budget. Throttle's injected
	// failures are not counted.
	Throttles int64
	// WriteUnits and ReadUnits are the write and read request units that
	// the served requests consumed, as DynamoDB on-demand bills them (see
	// "Consumed capacity" in the package documentation). They are counted
	// in half-units, so they are exact: whole numbers of write units, and
	// read units in steps of 0.5 (an eventually consistent read).
	WriteUnits, ReadUnits float64
}

// stats are the live counters behind Stats.
type stats struct {
	txnConflicts, writeConflicts, throttles atomic.Int64
	// writeHalves and readHalves count request units in halves.
	writeHalves, readHalves atomic.Int64
}

// Stats returns what the realism settings refused, and the capacity the
// served requests consumed, since the server started or since the last
// ResetCounts.
func (s *Server) Stats() Stats {
	return Stats{
		TxnConflicts:   s.stats.txnConflicts.Load(),
		WriteConflicts: s.stats.writeConflicts.Load(),
		Throttles:      s.stats.throttles.Load(),
		WriteUnits:     float64(s.stats.writeHalves.Load()) / 2,
		ReadUnits:      float64(s.stats.readHalves.Load()) / 2,
	}
}

func (st *stats) reset() {
	st.txnConflicts.Store(0)
	st.writeConflicts.Store(0)
	st.throttles.Store(0)
	st.writeHalves.Store(0)
	st.readHalves.Store(0)
}
