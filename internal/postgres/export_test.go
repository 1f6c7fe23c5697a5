package postgres

import (
	"context"
	"errors"
	"fmt"
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
// seqs at now, without running it (see explain).
func (db *DB) ExplainLease(ctx context.Context, seqs []int64, now time.Time, generic bool) (string, error) {
	tokens := make([]string, len(seqs))
	leases := make([]time.Time, len(seqs))
	for i := range seqs {
		tokens[i], leases[i] = "clm_test", now.Add(time.Minute)
	}
	sql := leaseQuery + prefixed("d.", deliveryColumns) + leasedColumns + " FROM d"
	return db.explain(ctx, sql, generic, seqs, tokens, leases, now)
}

// ExplainClaim returns the plans of lockEndpointsQuery and claimQuery (in
// that order) for a claim of up to 64 deliveries at now of the endpoints
// ids, without running them (see explain).
func (db *DB) ExplainClaim(ctx context.Context, ids []string, now time.Time, generic bool) ([]string, error) {
	lock, err := db.explain(ctx, lockEndpointsQuery, generic, now, "{}", claimClass, 64)
	if err != nil {
		return nil, err
	}
	claim, err := db.explain(ctx, claimQuery, generic, now, ids, "{}", 64, 64, 8)
	if err != nil {
		return nil, err
	}
	return []string{lock, claim}, nil
}

// explain returns the plan of sql for args: the plan made for these
// arguments or, when generic is set, the generic plan, which PostgreSQL
// may use instead once a prepared statement (as pgx makes of every query)
// has run five times. EXPLAIN alone always plans for the arguments it is
// given, so the generic plan is explained through a statement prepared on
// a connection of its own, which is closed afterwards, with
// plan_cache_mode set for it alone.
func (db *DB) explain(ctx context.Context, sql string, generic bool, args ...any) (string, error) {
	if !generic {
		rows, err := db.pool.Query(ctx, "EXPLAIN "+sql, args...)
		if err != nil {
			return "", err
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		return strings.Join(lines, "\n"), err
	}
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		return "", err
	}
	defer c.Release()
	defer c.Conn().Close(context.WithoutCancel(ctx)) // drops the setting and the statement
	for _, s := range []string{"SET plan_cache_mode = force_generic_plan", "PREPARE explained AS " + sql} {
		if _, err := c.Exec(ctx, s); err != nil {
			return "", err
		}
	}
	// EXECUTE takes no parameters of the protocol's: pgx writes the
	// arguments into the statement.
	params := make([]string, len(args))
	for i := range args {
		params[i] = fmt.Sprintf("$%d", i+1)
	}
	rows, err := c.Query(ctx, "EXPLAIN EXECUTE explained("+strings.Join(params, ", ")+")",
		append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...)
	if err != nil {
		return "", err
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return strings.Join(lines, "\n"), err
}
