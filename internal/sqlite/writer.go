package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// txFunc is one write operation. It runs inside a savepoint of a batch
// transaction; returning an error rolls back only its own changes.
type txFunc func(ctx context.Context, tx *wtx) error

// connFunc is an operation that needs the writer connection to itself and
// manages its own transactions, such as a migration.
type connFunc func(ctx context.Context, c *sql.Conn) error

type writeOp struct {
	ctx  context.Context
	tx   txFunc   // a batched write, or
	conn connFunc // an exclusive one
	done chan error
}

// writer owns the one connection that writes. SQLite allows one writer at a
// time, and with synchronous=FULL each commit costs an fsync, which bounds a
// writer that commits every write on its own to a few hundred writes per
// second on ordinary disks. So writes are queued to one goroutine that runs
// all the writes waiting at that moment in one transaction, each in its own
// SAVEPOINT so that a failing write (a conflict, say) undoes only itself,
// commits once, and only then answers each of them: nothing is acknowledged
// before it is durable, and concurrent writers share one fsync.
type writer struct {
	db     *sql.DB // one connection, used by the loop goroutine alone
	window time.Duration
	max    int
	stmts  *stmtCache
	match  versioned[*tenantEndpoints] // tenants' endpoints as ingest matches them

	ops       chan *writeOp // unbuffered: an op is either taken by the loop or not sent
	quit      chan struct{} // closed by close: drain and stop
	done      chan struct{} // closed when the loop has stopped
	closeOnce sync.Once
}

func newWriter(db *sql.DB, window time.Duration, maxBatch int) *writer {
	w := &writer{
		db:     db,
		stmts:  newStmtCache(db),
		window: window,
		max:    maxBatch,
		ops:    make(chan *writeOp),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go w.loop()
	return w
}

// write runs fn in the next batch and returns once that batch has committed
// (nil) or failed. When ctx ends first, write returns ctx.Err(); the write
// may still commit, which at-least-once callers tolerate (a retried ingest
// finds its event as a duplicate).
func (w *writer) write(ctx context.Context, fn txFunc) error {
	return w.submit(ctx, &writeOp{ctx: ctx, tx: fn, done: make(chan error, 1)})
}

// exclusive runs fn alone on the writer connection, between batches.
func (w *writer) exclusive(ctx context.Context, fn connFunc) error {
	return w.submit(ctx, &writeOp{ctx: ctx, conn: fn, done: make(chan error, 1)})
}

func (w *writer) submit(ctx context.Context, op *writeOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case w.ops <- op:
	case <-w.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *writer) stopped() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// close stops taking writes, commits those already waiting, and returns
// when the loop has stopped. Writes submitted afterwards fail with
// ErrClosed.
func (w *writer) close() error {
	w.closeOnce.Do(func() { close(w.quit) })
	<-w.done
	return w.stmts.close()
}

func (w *writer) loop() {
	defer close(w.done)
	batch := make([]*writeOp, 0, w.max)
	for {
		var first *writeOp
		select {
		case first = <-w.ops:
		case <-w.quit:
			// Drain: writes already blocked in submit are taken and
			// committed; later ones see done and fail with ErrClosed.
			for {
				var excl *writeOp
				batch, excl = w.collect(batch[:0], false)
				if len(batch) == 0 && excl == nil {
					return
				}
				w.run(batch, excl)
			}
		}
		var excl *writeOp
		if first.conn != nil {
			excl = first
		} else {
			batch, excl = w.collect(append(batch[:0], first), w.window > 0)
		}
		w.run(batch, excl)
		clear(batch) // let the ops be collected
		batch = batch[:0]
		w.stmts.prepare() // the statements the batch ran unprepared
	}
}

// collect adds the batched writes waiting now, up to the batch limit; when
// wait is set it waits up to the batch window for more. An exclusive op
// cannot join a transaction, so it ends the batch and is returned apart, to
// run after the batch commits.
func (w *writer) collect(batch []*writeOp, wait bool) ([]*writeOp, *writeOp) {
	var timer <-chan time.Time
	if wait {
		t := time.NewTimer(w.window)
		defer t.Stop()
		timer = t.C
	}
	for len(batch) < w.max {
		var op *writeOp
		if timer != nil {
			select {
			case op = <-w.ops:
			case <-timer:
				return batch, nil
			}
		} else {
			select {
			case op = <-w.ops:
			default:
				return batch, nil
			}
		}
		if op.conn != nil {
			return batch, op
		}
		batch = append(batch, op)
	}
	return batch, nil
}

// run commits one batch and answers every op in it, then runs excl, if
// any, alone.
func (w *writer) run(batch []*writeOp, excl *writeOp) {
	if len(batch) > 0 {
		errs := make([]error, len(batch))
		b := &txBatch{match: &w.match}
		err := w.runTx(batch, errs, b)
		for _, fn := range b.after {
			fn(err == nil)
		}
		for i, op := range batch {
			if errs[i] == nil {
				errs[i] = err
			}
			op.done <- errs[i]
		}
	}
	if excl != nil {
		if err := excl.ctx.Err(); err != nil {
			excl.done <- err
			return
		}
		excl.done <- w.runConn(excl)
	}
}

func (w *writer) runConn(op *writeOp) error {
	ctx := context.WithoutCancel(op.ctx)
	c, err := w.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return op.conn(ctx, c)
}

// runTx runs the batch in one transaction, sharing b among its ops, and
// records each op's own error in errs; it returns an error that fails the
// whole batch (nothing committed).
func (w *writer) runTx(batch []*writeOp, errs []error, b *txBatch) error {
	// Ops run on a context that is not canceled: interrupting a statement
	// of one op must not disturb the shared connection and the transaction
	// of the others. An op whose caller has gone is skipped instead.
	ctx := context.Background()
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	for i, op := range batch {
		if err := op.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		wt := &wtx{tx: tx, stmts: w.stmts, batch: b}
		if _, err := wt.ExecContext(ctx, "SAVEPOINT op"); err != nil {
			return abort(tx, fmt.Errorf("savepoint: %w", err))
		}
		errs[i] = op.tx(context.WithoutCancel(op.ctx), wt)
		if errs[i] != nil {
			// Some errors (I/O, disk full) make SQLite roll back the whole
			// transaction; then ROLLBACK TO fails and the batch is lost.
			if _, err := wt.ExecContext(ctx, "ROLLBACK TO op"); err != nil {
				return abort(tx, fmt.Errorf("rollback to savepoint: %w (after %w)", err, errs[i]))
			}
		}
		if _, err := wt.ExecContext(ctx, "RELEASE op"); err != nil {
			return abort(tx, fmt.Errorf("release savepoint: %w", err))
		}
	}
	for _, fn := range b.beforeCommit {
		if err := fn(ctx, &wtx{tx: tx, stmts: w.stmts, batch: b}); err != nil {
			return abort(tx, fmt.Errorf("before commit: %w", err))
		}
	}
	if err := tx.Commit(); err != nil {
		// A failed COMMIT can leave SQLite's transaction open while
		// database/sql considers it done; end it so the next batch can
		// begin. The error is of no use: there may be no transaction.
		_, _ = w.db.ExecContext(ctx, "ROLLBACK")
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func abort(tx *sql.Tx, err error) error {
	if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
		return fmt.Errorf("%w; rollback: %w", err, rerr)
	}
	return err
}
