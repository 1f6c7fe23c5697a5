package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/internal/hook"
)

// Pool returns the DB's pool, for tests that need raw SQL.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// errAlone is CompleteTogether's answer for an outcome whose batch failed.
var errAlone = errors.New("batch failed: to be recorded alone")

// CompleteTogether records the outcomes (o[i] under tokens[i]) in one
// batch of the completer, as if they had all arrived at once, and answers
// for each nil when it was recorded, the error of CompleteAttempt for a
// lease not held, or errAlone when the batch failed.
func (db *DB) CompleteTogether(ctx context.Context, tokens []string, os []hook.Outcome) ([]error, error) {
	batch := make([]*completion, len(os))
	for i, o := range os {
		c, err := newCompletion(tokens[i], o)
		if err != nil {
			return nil, err
		}
		c.done = make(chan struct{})
		batch[i] = c
	}
	cs := append([]*completion(nil), batch...) // flush sorts its batch
	db.flush(batch)
	errs := make([]error, len(cs))
	for i, c := range cs {
		switch {
		case c.alone:
			errs[i] = errAlone
		case !c.found:
			errs[i] = db.leaseError(ctx, c.delivery)
		}
	}
	return errs, nil
}

// ExplainLease returns the plan of leaseQuery for leasing the deliveries
// seqs at now, without running it.
func (db *DB) ExplainLease(ctx context.Context, seqs []int64, now time.Time) (string, error) {
	tokens := make([]string, len(seqs))
	leases := make([]time.Time, len(seqs))
	for i := range seqs {
		tokens[i], leases[i] = "clm_test", now.Add(time.Minute)
	}
	rows, err := db.pool.Query(ctx, "EXPLAIN "+leaseQuery+prefixed("d.", deliveryColumns)+leasedColumns,
		seqs, tokens, leases, now)
	if err != nil {
		return "", err
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return strings.Join(lines, "\n"), err
}
