package postgres

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
)

// Listen calls wake whenever an Ingest (of any process sharing the
// database) has committed new deliveries, so that a dispatcher can claim at
// once instead of at its next poll. It holds one connection of its own,
// outside the pool, listening on herald_deliveries; when that connection
// fails it reconnects with backoff (100ms doubling to 10s, jittered) until
// ctx ends, and then returns nil. It also calls wake after every
// (re)connection, since notifications sent while it was away are lost.
//
// wake runs on Listen's goroutine and must not block; notifications are
// hints, several may be coalesced into one call, and polling stays the
// source of truth. NOTIFY takes a database-wide lock at commit, which
// serializes the commits of ingests that made deliveries.
func (db *DB) Listen(ctx context.Context, wake func()) error {
	const (
		minBackoff = 100 * time.Millisecond
		maxBackoff = 10 * time.Second
	)
	backoff := minBackoff
	for {
		start := time.Now()
		err := db.listen(ctx, wake)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > maxBackoff {
			backoff = minBackoff // it ran for a while: a new failure
		}
		db.log.Warn("listen for deliveries", "err", err, "retry_in", backoff)
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listen runs one connection until it fails or ctx ends.
func (db *DB) listen(ctx context.Context, wake func()) error {
	conn, err := pgx.ConnectConfig(ctx, db.pool.Config().ConnConfig.Copy())
	if err != nil {
		return translate(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(ctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return translate(err)
	}
	wake()
	for {
		_, err := conn.WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return ctx.Err()
			}
			return translate(err)
		}
		wake()
	}
}
