package outbox

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/stdlib"
)

// errNoListen means the database/sql driver is not pgx: the relay polls.
var errNoListen = errors.New("the database driver is not pgx (github.com/jackc/pgx/v5/stdlib), so the relay cannot LISTEN")

// listen wakes the relay whenever the outbox trigger notifies, until ctx is
// done. A lost connection is opened again after PollInterval; polling goes
// on meanwhile, so a notification lost in between costs one poll at most.
func (r *Relay) listen(ctx context.Context, wake chan<- struct{}) {
	for {
		err := r.listenOnce(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errNoListen) {
			r.log.Info("polling only", "reason", err, "interval", r.cfg.PollInterval)
			return
		}
		r.log.Warn("listen for new outbox rows failed; polling meanwhile", "err", err, "retry_in", r.cfg.PollInterval)
		if !sleep(ctx, r.cfg.PollInterval) {
			return
		}
	}
}

// listenOnce holds one connection of the pool in LISTEN until it fails or
// ctx is done. The connection is then discarded, not returned to the pool
// still listening.
func (r *Relay) listenOnce(ctx context.Context, wake chan<- struct{}) error {
	conn, err := r.cfg.DB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return errNoListen
		}
		pc := sc.Conn()
		// The table name is a checked identifier (see New).
		if _, err := pc.Exec(ctx, "LISTEN "+r.cfg.Outbox.table); err != nil {
			return fmt.Errorf("%w: listen: %v", driver.ErrBadConn, err)
		}
		notify(wake) // rows written before LISTEN took effect
		for {
			if _, err := pc.WaitForNotification(ctx); err != nil {
				return fmt.Errorf("%w: wait for notification: %v", driver.ErrBadConn, err)
			}
			notify(wake)
		}
	})
}

// notify wakes the relay unless a wake-up is already pending.
func notify(wake chan<- struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}
