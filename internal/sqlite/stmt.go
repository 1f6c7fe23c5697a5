package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// stmtCache holds the writer's prepared statements. Every write goes
// through the one writer goroutine, so its CPU time bounds the write rate,
// and parsing SQL anew for each statement was about half of it. It is used
// by the writer goroutine only.
//
// Statements are prepared on the writer's *sql.DB, whose one connection is
// busy inside a batch's transaction; so a statement first runs unprepared,
// and is prepared after the batch commits, when the connection is free.
// Inside a transaction, Tx.StmtContext then reuses the statement already
// prepared on that connection.
type stmtCache struct {
	db      *sql.DB
	stmts   map[string]*sql.Stmt
	pending map[string]bool // run unprepared in this batch; prepare after it
}

// maxStmts bounds the cache; the writer's queries are a fixed set, well
// below it.
const maxStmts = 128

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}, pending: map[string]bool{}}
}

// get returns the prepared statement of query, or nil (and notes the query,
// to prepare it after the batch).
func (c *stmtCache) get(query string) *sql.Stmt {
	if s, ok := c.stmts[query]; ok {
		return s
	}
	if len(c.stmts)+len(c.pending) < maxStmts {
		c.pending[query] = true
	}
	return nil
}

// prepare prepares the statements noted since the last call. A statement
// that does not prepare (a table not yet migrated) is tried again when it
// next runs.
func (c *stmtCache) prepare() {
	for q := range c.pending {
		if s, err := c.db.Prepare(q); err == nil {
			c.stmts[q] = s
		}
	}
	clear(c.pending)
}

func (c *stmtCache) close() error {
	var errs []error
	for _, s := range c.stmts {
		errs = append(errs, s.Close())
	}
	clear(c.stmts)
	return errors.Join(errs...)
}

// wtx is the transaction a write op runs in: a *sql.Tx that runs the
// writer's prepared statements where it has them.
type wtx struct {
	tx    *sql.Tx
	stmts *stmtCache
	batch *txBatch
}

// afterBatch runs fn once the batch of this op has ended, with whether it
// committed, whatever the op itself returned: an op that failed may still
// depend on what the other ops of its batch commit.
func (t *wtx) afterBatch(fn func(committed bool)) { t.batch.after = append(t.batch.after, fn) }

// txBatch is what the ops of one batch transaction share: work they leave to
// run once before the commit, and the state that work writes.
type txBatch struct {
	beforeCommit []func(context.Context, *wtx) error
	after        []func(committed bool)

	match *versioned[*tenantEndpoints] // the writer's (see readTenantEndpoints)

	attemptSeq int64 // the last attempt seq taken (see nextAttemptSeq)
	seqLoaded  bool
}

func (t *wtx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := t.stmts.get(query); s != nil {
		return t.tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

func (t *wtx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := t.stmts.get(query); s != nil {
		return t.tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

func (t *wtx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := t.stmts.get(query); s != nil {
		return t.tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}

// readStmts prepares the hot queries of the read pool once: a *sql.Stmt of
// a *sql.DB is safe for concurrent use and prepares itself on each
// connection it runs on. It implements queryer for the queries it is given.
type readStmts struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func (r *readStmts) get(ctx context.Context, query string) (*sql.Stmt, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.stmts[query]; ok {
		return s, nil
	}
	s, err := r.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if r.stmts == nil {
		r.stmts = map[string]*sql.Stmt{}
	}
	r.stmts[query] = s
	return s, nil
}

func (r *readStmts) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := r.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

func (r *readStmts) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	s, err := r.get(ctx, query)
	if err != nil {
		// A *sql.Row carries its error only from a query; run the query
		// unprepared so that the caller's Scan reports it.
		return r.db.QueryRowContext(ctx, query, args...)
	}
	return s.QueryRowContext(ctx, args...)
}

func (r *readStmts) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, s := range r.stmts {
		errs = append(errs, s.Close())
	}
	clear(r.stmts)
	return errors.Join(errs...)
}
