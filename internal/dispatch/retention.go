package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// Defaults for the zero values of RetentionConfig.
const (
	DefaultRetentionInterval = 10 * time.Minute
	DefaultRetentionBatch    = 500
)

// Expirer deletes expired events in batches; hook.Store is one.
type Expirer interface {
	DeleteExpired(ctx context.Context, p hook.ExpireParams) (hook.ExpireResult, error)
}

// RetentionConfig is what a Retention needs. Store and Retention are
// required.
type RetentionConfig struct {
	Store  Expirer
	Logger *slog.Logger // nil discards logs
	// Retention is how long events are kept after they were created.
	Retention time.Duration
	// Interval is the time between sweeps. Default 10 min.
	Interval time.Duration
	// Batch is the number of expired events one batch examines. Each batch
	// is one short transaction, so that ingest, which on SQLite shares the
	// one writer, waits at most one batch. Default 500.
	Batch int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Retention deletes events older than the retention, with their deliveries
// and attempts, but never an event with a pending delivery.
type Retention struct {
	store     Expirer
	log       *slog.Logger
	retention time.Duration
	interval  time.Duration
	batch     int
	nowFunc   func() time.Time
}

// NewRetention returns a Retention for cfg.
func NewRetention(cfg RetentionConfig) (*Retention, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("dispatch: RetentionConfig.Store is required")
	case cfg.Retention <= 0:
		return nil, errors.New("dispatch: RetentionConfig.Retention must be positive")
	case cfg.Interval < 0, cfg.Batch < 0:
		return nil, errors.New("dispatch: RetentionConfig.Interval and Batch must not be negative")
	}
	r := &Retention{
		store:     cfg.Store,
		log:       cfg.Logger,
		retention: cfg.Retention,
		interval:  cfg.Interval,
		batch:     cfg.Batch,
		nowFunc:   cfg.Now,
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.interval == 0 {
		r.interval = DefaultRetentionInterval
	}
	if r.batch == 0 {
		r.batch = DefaultRetentionBatch
	}
	if r.nowFunc == nil {
		r.nowFunc = time.Now
	}
	return r, nil
}

// Run sweeps at once and then every interval until ctx ends; it returns nil
// then. A failed sweep is logged and the next one tries again: what it left
// is still expired.
func (r *Retention) Run(ctx context.Context) error {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		n, err := r.Sweep(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			r.log.Warn("retention sweep", "deleted", n, "err", err)
		case n > 0:
			r.log.Info("retention sweep", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep deletes, batch by batch, every event created more than the
// retention ago that has no pending delivery, and returns how many it
// deleted.
//
// After each batch it rests as long as the batch took, so that a sweep of a
// large backlog (the first after an upgrade, or after a long outage) takes
// at most half of the database's write time: on SQLite every ingest waits
// for the batch that holds the one writer, and back-to-back batches would
// make each ingest wait for one.
func (r *Retention) Sweep(ctx context.Context) (int, error) {
	p := hook.ExpireParams{Before: r.nowFunc().Add(-r.retention), Limit: r.batch}
	total := 0
	for {
		start := time.Now()
		res, err := r.store.DeleteExpired(ctx, p)
		if err != nil {
			return total, fmt.Errorf("delete expired: %w", err)
		}
		total += res.Deleted
		if res.Next == "" {
			return total, nil
		}
		p.After = res.Next
		rest := time.NewTimer(time.Since(start))
		select {
		case <-ctx.Done():
			rest.Stop()
			return total, ctx.Err()
		case <-rest.C:
		}
	}
}
