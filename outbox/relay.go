package outbox

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// AfterRelay says what the relay does with a row once Herald has its event.
type AfterRelay string

const (
	// Delete removes relayed rows (the default): the table holds only what
	// is still to be sent.
	Delete AfterRelay = "delete"
	// Mark sets relayed_at on relayed rows and keeps them, as a record;
	// pruning them is then the producer's job.
	Mark AfterRelay = "mark"
)

// Defaults of RelayConfig.
const (
	DefaultBatchSize      = 500 // Herald's batch ingest takes at most 500 events
	DefaultPollInterval   = time.Second
	DefaultMinBackoff     = time.Second
	DefaultMaxBackoff     = time.Minute
	DefaultRequestTimeout = 30 * time.Second
	DefaultConcurrency    = 8
)

// maxRetryAfter bounds how long a Retry-After from Herald may pause the relay.
const maxRetryAfter = time.Hour

// RelayConfig is what a Relay needs. Outbox, DB, Server and Key are
// required; the rest have defaults.
type RelayConfig struct {
	Outbox *Outbox
	// DB is the producer's database holding the outbox table. For
	// PostgreSQL, a database/sql handle of the pgx driver
	// (github.com/jackc/pgx/v5/stdlib) lets the relay LISTEN for new rows;
	// with another driver it polls.
	DB *sql.DB
	// Server is Herald's base URL, such as "https://herald.example.com".
	Server string
	// Key is an admin API key: it may send events for every tenant.
	Key string
	// AfterRelay is Delete (default) or Mark.
	AfterRelay AfterRelay
	// BatchSize is how many rows are read and posted at once, at most 500.
	BatchSize int
	// PollInterval is how often the table is read when nothing woke the
	// relay: on SQLite, the delay before a new row is sent; on PostgreSQL
	// the fallback for a lost notification.
	PollInterval time.Duration
	// MinBackoff and MaxBackoff bound the pause after Herald answered 429
	// or 5xx or could not be reached: it starts at MinBackoff and doubles
	// up to MaxBackoff, or longer when Herald's Retry-After asks (at most
	// an hour).
	MinBackoff, MaxBackoff time.Duration
	// RequestTimeout bounds each request to Herald.
	RequestTimeout time.Duration
	// Concurrency is how many events are posted at once when Herald has no
	// batch ingest and they go one by one.
	Concurrency int
	// Client sends the requests; nil means a client with RequestTimeout.
	Client *http.Client
	// Logger receives what the relay does; nil discards it.
	Logger *slog.Logger
	// AfterPost, when not nil, runs after a batch was posted and before its
	// rows are deleted or marked. An error makes the relay stop there, as
	// if its process died: Run and Drain return it and the rows stay. It is
	// a fault hook for tests.
	AfterPost func() error
}

// Relay moves events from an outbox table to Herald. Several relays may
// share one PostgreSQL table: each locks the rows it posts (FOR UPDATE SKIP
// LOCKED, in a transaction held across the post), so a row is posted by one
// relay at a time and order across relays is not kept. On SQLite run one
// relay per database.
type Relay struct {
	cfg    RelayConfig
	sql    statements
	poster *poster
	log    *slog.Logger

	relayed, dead atomic.Int64
}

// Stats counts what a relay did.
type Stats struct {
	Relayed int64 // rows Herald took (new events and idempotent repeats)
	Dead    int64 // rows moved to the dead table
}

// NewRelay checks cfg and returns a Relay.
func NewRelay(cfg RelayConfig) (*Relay, error) {
	if cfg.Outbox == nil || cfg.DB == nil {
		return nil, errors.New("outbox: RelayConfig.Outbox and RelayConfig.DB are required")
	}
	u, err := url.Parse(cfg.Server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("outbox: the Herald server %q is not an absolute http or https URL", cfg.Server)
	}
	if cfg.Key == "" {
		return nil, errors.New("outbox: RelayConfig.Key (an admin API key) is required")
	}
	cfg.AfterRelay = cmp.Or(cfg.AfterRelay, Delete)
	if cfg.AfterRelay != Delete && cfg.AfterRelay != Mark {
		return nil, fmt.Errorf("outbox: AfterRelay is %q, want %q or %q", cfg.AfterRelay, Delete, Mark)
	}
	cfg.BatchSize = cmp.Or(cfg.BatchSize, DefaultBatchSize)
	cfg.PollInterval = cmp.Or(cfg.PollInterval, DefaultPollInterval)
	cfg.MinBackoff = cmp.Or(cfg.MinBackoff, DefaultMinBackoff)
	cfg.MaxBackoff = cmp.Or(cfg.MaxBackoff, DefaultMaxBackoff)
	cfg.RequestTimeout = cmp.Or(cfg.RequestTimeout, DefaultRequestTimeout)
	cfg.Concurrency = cmp.Or(cfg.Concurrency, DefaultConcurrency)
	switch {
	case cfg.BatchSize < 1 || cfg.BatchSize > DefaultBatchSize:
		return nil, fmt.Errorf("outbox: BatchSize is %d, want 1 to %d", cfg.BatchSize, DefaultBatchSize)
	case cfg.PollInterval < 0 || cfg.MinBackoff < 0 || cfg.RequestTimeout < 0:
		return nil, errors.New("outbox: durations must be positive")
	case cfg.MaxBackoff < cfg.MinBackoff:
		return nil, fmt.Errorf("outbox: MaxBackoff %v is less than MinBackoff %v", cfg.MaxBackoff, cfg.MinBackoff)
	case cfg.Concurrency < 1:
		return nil, fmt.Errorf("outbox: Concurrency is %d, want at least 1", cfg.Concurrency)
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: cfg.RequestTimeout}
	}
	r := &Relay{
		cfg: cfg,
		sql: cfg.Outbox.sql,
		poster: &poster{
			client:      client,
			server:      strings.TrimRight(cfg.Server, "/"),
			key:         cfg.Key,
			concurrency: cfg.Concurrency,
			userAgent:   "herald-relay",
		},
		log: cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
	}
	return r, nil
}

// Stats returns what the relay did so far.
func (r *Relay) Stats() Stats { return Stats{Relayed: r.relayed.Load(), Dead: r.dead.Load()} }

// Run relays until ctx is done, then returns nil once the batch in flight
// is settled (within RequestTimeout). It returns an error when the outbox
// table is missing, when Herald refuses the key (401, 403) and when
// AfterPost fails; other failures (Herald or the database away) are logged
// and retried with backoff.
func (r *Relay) Run(ctx context.Context) error {
	if err := r.check(ctx); err != nil {
		return err
	}
	r.log.Info("relaying", "table", r.cfg.Outbox.table, "server", r.poster.server, "after_relay", r.cfg.AfterRelay, "batch_size", r.cfg.BatchSize)
	wake := make(chan struct{}, 1)
	lctx, stopListen := context.WithCancel(ctx)
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		if r.cfg.Outbox.dialect == Postgres {
			r.listen(lctx, wake)
		}
	}()
	defer func() { stopListen(); <-listening }()

	var backoff time.Duration
	for {
		res, err := r.batch(ctx)
		var fe *fatalError
		var he *hookError
		switch {
		case errors.As(err, &fe), errors.As(err, &he):
			return err
		case ctx.Err() != nil:
			return nil
		case err != nil || res.retried > 0:
			backoff = nextBackoff(backoff, r.cfg.MinBackoff, r.cfg.MaxBackoff)
			wait := backoff
			if res.retryAfter > wait {
				wait = min(res.retryAfter, maxRetryAfter)
			}
			if err != nil {
				r.log.Warn("relay failed; retrying", "err", err, "in", wait)
			} else {
				r.log.Warn("herald did not take every event; retrying", "rows", res.retried, "status", res.status, "in", wait)
			}
			if !sleep(ctx, wait) {
				return nil
			}
			continue
		}
		backoff = 0
		if res.claimed == r.cfg.BatchSize {
			continue // more may be waiting
		}
		t := time.NewTimer(r.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Drain relays batches until the table holds no row to send and returns
// what it did. It stops with an error at the first failure, including a
// row Herald asked to retry: it is for tests, benchmarks and one-off runs.
func (r *Relay) Drain(ctx context.Context) (Stats, error) {
	var s Stats
	if err := r.check(ctx); err != nil {
		return s, err
	}
	for {
		res, err := r.batch(ctx)
		s.Relayed += int64(res.relayed)
		s.Dead += int64(res.dead)
		if err != nil {
			return s, err
		}
		if res.retried > 0 {
			return s, fmt.Errorf("outbox: herald did not take %d events (status %d); they stay in the outbox", res.retried, res.status)
		}
		if res.claimed < r.cfg.BatchSize {
			return s, nil
		}
	}
}

// check makes sure the outbox table is there, so that a missing table is
// one clear error rather than one per poll.
func (r *Relay) check(ctx context.Context) error {
	rows, err := r.cfg.DB.QueryContext(ctx, r.sql.exists)
	if err != nil {
		return fmt.Errorf("outbox: read table %s: %w (create it with Outbox.Migrate, or herald relay --create-table)", r.cfg.Outbox.table, err)
	}
	return rows.Close()
}

// hookError is an error of RelayConfig.AfterPost.
type hookError struct{ err error }

func (e *hookError) Error() string { return "after post: " + e.err.Error() }
func (e *hookError) Unwrap() error { return e.err }

// batchResult is what one batch did.
type batchResult struct {
	claimed, relayed, dead, retried int
	status                          int           // a status of a retried row
	retryAfter                      time.Duration // the longest Retry-After among retried rows
}

// batch reads up to BatchSize rows, posts them and settles each: relayed
// rows are deleted or marked, refused ones moved to the dead table, the
// rest left for a retry.
//
// On PostgreSQL the rows are read FOR UPDATE SKIP LOCKED in a transaction
// that stays open across the post and settles them at its commit: another
// relay skips them meanwhile, and a relay that dies releases them at once
// (its connection ends, the transaction rolls back), with no lease to wait
// out and no clock to trust. The price is a connection and an open
// transaction per relay for the length of one post, bounded by
// RequestTimeout. On SQLite, one relay reads without a transaction (a write
// lock held across a post would stop the producer) and settles in a short
// one.
//
// Once rows are read, the batch finishes even when ctx is canceled (within
// twice RequestTimeout), so that a stop does not repeat a posted batch.
func (r *Relay) batch(parent context.Context) (batchResult, error) {
	var res batchResult
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 2*r.cfg.RequestTimeout)
	defer cancel()
	if parent.Err() != nil {
		return res, parent.Err()
	}
	var tx *sql.Tx
	if r.cfg.Outbox.dialect == Postgres {
		var err error
		if tx, err = r.cfg.DB.BeginTx(ctx, nil); err != nil {
			return res, fmt.Errorf("begin: %w", err)
		}
		defer tx.Rollback()
	}
	rows, err := r.read(ctx, tx)
	if err != nil || len(rows) == 0 {
		return res, err
	}
	res.claimed = len(rows)
	outs, err := r.poster.post(ctx, rows)
	if err != nil {
		return res, err
	}
	if r.cfg.AfterPost != nil {
		if err := r.cfg.AfterPost(); err != nil {
			return res, &hookError{err}
		}
	}
	if tx == nil {
		if tx, err = r.cfg.DB.BeginTx(ctx, nil); err != nil {
			return res, fmt.Errorf("begin: %w", err)
		}
		defer tx.Rollback()
	}
	var done []int64
	for i, o := range outs {
		switch o.verdict {
		case relayed:
			done = append(done, rows[i].seq)
		case dead:
			if _, err := tx.ExecContext(ctx, r.sql.kill, rows[i].seq, o.status, o.reason); err != nil {
				return res, fmt.Errorf("move event %s to the dead table: %w", rows[i].id, err)
			}
			done = append(done, rows[i].seq)
			res.dead++
			r.log.Warn("herald refused an event; moved to the dead table", "id", rows[i].id, "tenant", rows[i].tenantID, "type", rows[i].typ, "reason", o.reason)
		default:
			res.retried++
			res.status = cmp.Or(o.status, res.status)
			res.retryAfter = max(res.retryAfter, o.retryAfter)
		}
	}
	if len(done) > 0 {
		// A dead row was copied above; it leaves the table like a relayed one
		// (and is deleted even in Mark mode: its record is in the dead table).
		if err := r.settle(ctx, tx, rows, outs); err != nil {
			return res, err
		}
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	res.relayed = len(done) - res.dead
	r.relayed.Add(int64(res.relayed))
	r.dead.Add(int64(res.dead))
	r.log.Debug("batch relayed", "rows", res.claimed, "relayed", res.relayed, "dead", res.dead, "retry", res.retried)
	return res, nil
}

// settle deletes or marks the relayed rows and deletes the dead ones.
func (r *Relay) settle(ctx context.Context, tx *sql.Tx, rows []row, outs []outcome) error {
	var ok, gone []int64
	for i, o := range outs {
		switch {
		case o.verdict == dead, o.verdict == relayed && r.cfg.AfterRelay == Delete:
			gone = append(gone, rows[i].seq)
		case o.verdict == relayed:
			ok = append(ok, rows[i].seq)
		}
	}
	if len(gone) > 0 {
		cond, args := r.sql.in(gone)
		if _, err := tx.ExecContext(ctx, r.sql.remove+cond, args...); err != nil {
			return fmt.Errorf("delete relayed rows: %w", err)
		}
	}
	if len(ok) > 0 {
		cond, args := r.sql.in(ok)
		if _, err := tx.ExecContext(ctx, r.sql.mark+cond, args...); err != nil {
			return fmt.Errorf("mark relayed rows: %w", err)
		}
	}
	return nil
}

// read returns the oldest rows not yet relayed, through tx when not nil.
func (r *Relay) read(ctx context.Context, tx *sql.Tx) ([]row, error) {
	var (
		rs  *sql.Rows
		err error
	)
	if tx != nil {
		rs, err = tx.QueryContext(ctx, r.sql.claim, r.cfg.BatchSize)
	} else {
		rs, err = r.cfg.DB.QueryContext(ctx, r.sql.claim, r.cfg.BatchSize)
	}
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var x row
		if err := rs.Scan(&x.seq, &x.id, &x.tenantID, &x.typ, &x.data); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		out = append(out, x)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return out, nil
}

// nextBackoff doubles prev within [lo, hi] and adds up to 20% of jitter
// below it, so that relays that failed together do not retry together.
func nextBackoff(prev, lo, hi time.Duration) time.Duration {
	d := min(max(prev*2, lo), hi)
	if d <= 0 {
		return d
	}
	return d - rand.N(d/5+1)
}

// sleep waits d or until ctx is done, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
