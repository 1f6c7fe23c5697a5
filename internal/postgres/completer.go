package postgres

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Completions that arrive together are recorded together: a group commit.
// Each is one completeQuery; up to maxBatch of them go in one transaction,
// sent in one round trip (a pipeline), so that a busy dispatcher pays one
// commit and a few round trips for many attempts rather than one each. No
// goroutine of its own does it and no timer waits for a batch to fill: a
// caller that finds fewer than maxFlushes batches being recorded records
// one itself, with whatever has queued; the others wait for theirs. A
// completion that arrives alone is recorded at once, alone.
const (
	maxBatch   = 128
	maxFlushes = 2
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
	// then recorded alone, by its caller, so that one bad completion
	// (or a deadlock) fails no other.
	alone   bool
	leading bool          // it was handed the lead
	done    chan struct{} // closed once recorded, or alone set
	lead    chan struct{} // closed when it is to record batches itself
}

// completer queues completions; see maxBatch.
type completer struct {
	mu      sync.Mutex
	queue   []*completion
	flushes int // callers recording batches
}

// record records c, in a batch with the completions queued with it or,
// when that batch fails, alone; its answer is in c.
func (db *DB) record(ctx context.Context, c *completion) error {
	c.done, c.lead = make(chan struct{}), make(chan struct{})
	cm := &db.completer
	cm.mu.Lock()
	cm.queue = append(cm.queue, c)
	lead := cm.flushes < maxFlushes
	if lead {
		cm.flushes++
	}
	cm.mu.Unlock()
	if lead {
		db.flushUntil(ctx, c)
	}
	select {
	case <-c.done:
	case <-c.lead:
		db.flushUntil(ctx, c)
		<-c.done
	}
	if c.alone {
		return db.recordAlone(ctx, c)
	}
	return nil
}

// flushUntil records queued batches until own is recorded, and then hands
// its turn to a completion still queued, if any.
func (db *DB) flushUntil(ctx context.Context, own *completion) {
	cm := &db.completer
	for {
		cm.mu.Lock()
		if isDone(own) {
			i := slices.IndexFunc(cm.queue, func(c *completion) bool { return !c.leading })
			if i < 0 {
				cm.flushes--
			} else {
				cm.queue[i].leading = true
				close(cm.queue[i].lead)
			}
			cm.mu.Unlock()
			return
		}
		n := min(len(cm.queue), maxBatch)
		batch := slices.Clone(cm.queue[:n])
		cm.queue = slices.Delete(cm.queue, 0, n)
		cm.mu.Unlock()
		db.flush(ctx, batch)
	}
}

func isDone(c *completion) bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// flush records batch in one transaction, in the order of their endpoints
// and deliveries, so that concurrent batches lock endpoint rows in one
// order; when the transaction fails, each is marked to be recorded alone.
func (db *DB) flush(ctx context.Context, batch []*completion) {
	defer func() {
		for _, c := range batch {
			close(c.done)
		}
	}()
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
