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
// Each is one completeQuery, except that the successes of a batch are one
// successesQuery together; one goroutine takes what has queued, up to
// maxBatch, and sends it in one transaction and one round trip (a
// pipeline), so that a busy dispatcher pays one commit for many attempts
// rather than one each, and PostgreSQL starts one statement for all their
// successes: per statement it plans, binds and starts the executor, which
// cost about a fifth of its CPU per delivery when each had its own. While a batch is recorded the next one queues; no
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
	// success is set for an attempt that succeeded and whose caller needs
	// only to know whether it was recorded: in a batch, it is recorded by
	// successesQuery with the other such attempts.
	success bool

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
	var successes, others []*completion
	for _, c := range batch {
		c.found = false
		if c.success {
			successes = append(successes, c)
		} else {
			others = append(others, c)
		}
	}
	if len(successes) == 1 {
		others, successes = batch, nil
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		if len(successes) > 0 {
			queueSuccesses(&b, successes)
		}
		for _, c := range others {
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

// queueSuccesses queues in b successesQuery for cs, which marks those found.
// Its arrays are the columns of completeQuery's arguments $1-$19, as
// CompleteAttempt made them.
func queueSuccesses(b *pgx.Batch, cs []*completion) {
	n := len(cs)
	var (
		deliveries, tokens, statuses, attempts = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		endpoints, tenants, reqHeaders         = make([]string, n), make([]string, n), make([]string, n)
		respHeaders, errs, messages            = make([]string, n), make([]string, n), make([]string, n)
		numbers, codes                         = make([]int32, n), make([]int32, n)
		ends, starts                           = make([]time.Time, n), make([]time.Time, n)
		nexts, retries                         = make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
		replays                                = make([]bool, n)
		durations                              = make([]int64, n)
		bodies                                 = make([][]byte, n)
	)
	for i, c := range cs {
		a := c.args
		deliveries[i], tokens[i], numbers[i], statuses[i] = a[0].(string), a[1].(string), int32(a[2].(int)), a[3].(string)
		ends[i], replays[i], nexts[i] = a[4].(time.Time), a[5].(bool), nullableTS(a[6])
		attempts[i], endpoints[i], tenants[i] = a[7].(string), a[8].(string), a[9].(string)
		starts[i], durations[i], reqHeaders[i], codes[i] = a[10].(time.Time), a[11].(int64), a[12].(string), int32(a[13].(int))
		respHeaders[i], bodies[i], errs[i], messages[i] = a[14].(string), a[15].([]byte), a[16].(string), a[17].(string)
		retries[i] = nullableTS(a[18])
	}
	b.Queue(successesQuery, deliveries, tokens, numbers, statuses, ends, replays, nexts,
		attempts, endpoints, tenants, starts, durations, reqHeaders, codes,
		respHeaders, bodies, errs, messages, retries).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var n int64
			if err := rows.Scan(&n); err != nil {
				return err
			}
			cs[n-1].found = true
		}
		return rows.Err()
	})
}

// nullableTS is a time argument of completeQuery, nil or a time, as a
// nullable timestamptz.
func nullableTS(v any) pgtype.Timestamptz {
	t, ok := v.(time.Time)
	return pgtype.Timestamptz{Time: t, Valid: ok}
}
