package postgres

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Completions that arrive together are recorded together: a group commit.
// Each is one completeQuery; one goroutine takes what has queued, up to
// maxBatch, and sends it in one transaction and one round trip (a
// pipeline), so that a busy dispatcher pays one commit for many attempts
// rather than one each. While a batch is recorded the next one queues; no
// timer waits for a batch to fill, so a completion that arrives alone is
// recorded at once, alone.
//
// One batch at a time: batches cannot deadlock each other. A batch can
// still deadlock with a claim or a delete that locks the same rows in
// another order; PostgreSQL then aborts one of them. An aborted batch is
// recorded again one completion at a time, each by its caller (see
// recordAlone); a claim or a delete is tried again (see DB.tx).
const (
	maxBatch = 128
	// batchTimeout bounds a batch. A batch runs on a context of its own,
	// not a caller's: one caller's deadline must not fail the others.
	batchTimeout = 30 * time.Second
)

// completion is one CompleteAttempt on its way through the completer.
type completion struct {
	args               []any
	endpoint, delivery string // the order within a batch

	// The row completeQuery answered, if found.
	found            bool
	endpointID, stat pgtype.Text
	since            pgtype.Timestamptz

	// alone is set when the batch it was in failed: the completion is
	// then recorded alone, by its caller, so that one bad completion (or
	// a deadlock) fails no other.
	alone bool
	done  chan struct{} // closed once the batch has ended
}

// completer is the queue of completions and the goroutine that records
// them.
type completer struct {
	queue     chan *completion
	quit      chan struct{} // closed by stop
	stopped   chan struct{} // closed when the goroutine has returned
	startOnce sync.Once
	stopOnce  sync.Once
}

// start starts db's completer, once.
func (db *DB) startCompleter() {
	cm := &db.completer
	cm.startOnce.Do(func() {
		cm.queue = make(chan *completion, 4*maxBatch)
		cm.quit = make(chan struct{})
		cm.stopped = make(chan struct{})
		go db.completeLoop()
	})
}

// stopCompleter stops the goroutine; completions queued then are recorded
// alone by their callers.
func (db *DB) stopCompleter() {
	cm := &db.completer
	if cm.quit == nil {
		return
	}
	cm.stopOnce.Do(func() { close(cm.quit) })
	<-cm.stopped
}

// record records c, in a batch with the completions queued with it or,
// when that batch fails, alone; its answer is in c. When ctx ends first,
// record returns its error, and c may still be recorded: at least once.
func (db *DB) record(ctx context.Context, c *completion) error {
	c.done = make(chan struct{})
	cm := &db.completer
	select {
	case cm.queue <- c:
	case <-cm.quit:
		return db.recordAlone(ctx, c)
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if c.alone {
		return db.recordAlone(ctx, c)
	}
	return nil
}

func (db *DB) completeLoop() {
	cm := &db.completer
	defer close(cm.stopped)
	batch := make([]*completion, 0, maxBatch)
	for {
		select {
		case c := <-cm.queue:
			batch = append(batch[:0], c)
		case <-cm.quit:
			// What is still queued goes back to its callers, alone.
			for {
				select {
				case c := <-cm.queue:
					c.alone = true
					close(c.done)
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case c := <-cm.queue:
				batch = append(batch, c)
			default:
				break fill
			}
		}
		db.flush(batch)
		clear(batch)
	}
}

// flush records batch in one transaction, in the order of their endpoints
// and deliveries; when the transaction fails, each is marked to be
// recorded alone. It ends every completion of the batch.
func (db *DB) flush(batch []*completion) {
	defer func() {
		for _, c := range batch {
			close(c.done)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if len(batch) == 1 {
		if err := db.recordAlone(ctx, batch[0]); err != nil {
			batch[0].alone = true // its caller tries again with its own context
		}
		return
	}
	slices.SortFunc(batch, func(a, b *completion) int {
		return cmp.Or(cmp.Compare(a.endpoint, b.endpoint), cmp.Compare(a.delivery, b.delivery))
	})
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		for _, c := range batch {
			c.found = false
			b.Queue(completeQuery, c.args...).QueryRow(func(row pgx.Row) error {
				return c.scan(row)
			})
		}
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		for _, c := range batch {
			c.alone = true
		}
	}
}

// scan reads completeQuery's answer; no row is an answer too.
func (c *completion) scan(row pgx.Row) error {
	err := row.Scan(&c.endpointID, &c.since, &c.stat)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	c.found = err == nil
	return err
}

// recordAlone records c in a statement of its own.
func (db *DB) recordAlone(ctx context.Context, c *completion) error {
	c.found = false
	return c.scan(db.pool.QueryRow(ctx, completeQuery, c.args...))
}
