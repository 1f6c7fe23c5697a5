package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// listAttemptLog names the cursors of the attempt feed.
const listAttemptLog = "attemptlog"

// nextAttemptSeq takes the next attempt seq (see migration 0004). It runs in
// the writer's transaction, so seqs are committed in the order they are
// taken and a reader never sees a seq before a smaller one. The counter is
// read at the batch's first attempt and written back once, before the
// batch commits (see txBatch), rather than updated for every attempt. An op
// rolled back to its savepoint leaves a gap, never a seq given twice.
func nextAttemptSeq(ctx context.Context, tx *wtx) (int64, error) {
	b := tx.batch
	if !b.seqLoaded {
		if err := tx.QueryRowContext(ctx, "SELECT last FROM attempt_seq").Scan(&b.attemptSeq); err != nil {
			return 0, err
		}
		b.seqLoaded = true
		b.beforeCommit = append(b.beforeCommit, func(ctx context.Context, tx *wtx) error {
			_, err := tx.ExecContext(ctx, "UPDATE attempt_seq SET last = ?", b.attemptSeq)
			return err
		})
	}
	b.attemptSeq++
	return b.attemptSeq, nil
}

// seqScanner scans a row whose first column is a seq into seq and the rest
// as s would.
type seqScanner struct {
	s   scanner
	seq *int64
}

func (x seqScanner) Scan(dest ...any) error { return x.s.Scan(append([]any{x.seq}, dest...)...) }

// ListAttemptLog lists attempts by seq, oldest first; see
// hook.AttemptLogFilter.
//
// It first reads the largest seq, then lists up to that seq: one writer
// commits seqs in order, so an attempt recorded later has a larger seq and
// the next poll finds it. A page that is not full ends at that largest
// seq, so that polling again skips the attempts that did not match the
// filter instead of reading them again.
func (db *DB) ListAttemptLog(ctx context.Context, f hook.AttemptLogFilter) (hook.Page[hook.Attempt], error) {
	after, err := decodeLogCursor(f.Cursor)
	if err != nil {
		return hook.Page[hook.Attempt]{}, fmt.Errorf("list attempt log: %w", err)
	}
	var last int64
	if err := db.read.QueryRowContext(ctx, "SELECT coalesce(max(seq), 0) FROM attempts").Scan(&last); err != nil {
		return hook.Page[hook.Attempt]{}, fmt.Errorf("list attempt log: %w", err)
	}
	var w where
	w.add("seq > ?", after)
	w.add("seq <= ?", last)
	if f.TenantID != "" {
		w.add("tenant_id = ?", f.TenantID)
	}
	if f.EndpointID != "" {
		w.add("endpoint_id = ?", f.EndpointID)
	}
	if !f.Since.IsZero() {
		// "+": walk by seq, not through the stats index by time.
		w.add("+started_at >= ?", micros(f.Since))
	}
	limit := f.PageLimit()
	var seqs []int64
	as, err := queryList(ctx, db.read, func(s scanner) (hook.Attempt, error) {
		var seq int64
		a, err := scanAttempt(seqScanner{s, &seq})
		seqs = append(seqs, seq)
		return a, err
	}, "SELECT seq, "+attemptColumns+" FROM attempts"+w.String()+" ORDER BY seq LIMIT ?", append(w.args, limit)...)
	if err != nil {
		return hook.Page[hook.Attempt]{}, fmt.Errorf("list attempt log: %w", err)
	}
	if as == nil {
		as = []hook.Attempt{}
	}
	next := max(after, last)
	if len(as) == limit {
		next = seqs[len(seqs)-1]
	}
	return hook.Page[hook.Attempt]{Items: as, Next: hook.EncodeCursor(listAttemptLog, strconv.FormatInt(next, 10))}, nil
}

// decodeLogCursor returns the seq of an attempt log cursor, 0 for none.
// Unlike other cursors, 0 is valid: the start of an empty log.
func decodeLogCursor(c string) (int64, error) {
	key, err := hook.DecodeCursor(listAttemptLog, c)
	if err != nil || key == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(key, 10, 64)
	if err != nil || n < 0 {
		return 0, hook.ErrInvalidCursor
	}
	return n, nil
}

// attemptOK is the SQL of hook.Attempt.Succeeded.
const attemptOK = "(error = '' AND status_code BETWEEN 200 AND 299)"

// The queries of EndpointStats; ?1 to ?3 are the starts of the windows,
// shortest first, ?4 the endpoint. Each reads one endpoint's week through
// an index (TestStatsPlan).
const (
	statsDeliveriesQuery = `SELECT status, coalesce(sum(created_at >= ?1), 0), coalesce(sum(created_at >= ?2), 0), count(*)
		FROM deliveries WHERE endpoint_id = ?4 AND created_at >= ?3 GROUP BY status`
	statsAttemptsQuery = `SELECT
		coalesce(sum(started_at >= ?1), 0), coalesce(sum(started_at >= ?2), 0), count(*),
		coalesce(sum(started_at >= ?1 AND ` + attemptOK + `), 0), coalesce(sum(started_at >= ?2 AND ` + attemptOK + `), 0),
		coalesce(sum(` + attemptOK + `), 0)
		FROM attempts WHERE endpoint_id = ?4 AND started_at >= ?3`
	// percentileQuery reads the durations at ranks ?3 and ?3+1 of the
	// attempts of endpoint ?1 started at or after ?2.
	percentileQuery = `SELECT duration_us FROM attempts WHERE endpoint_id = ?1 AND started_at >= ?2
		ORDER BY duration_us LIMIT 2 OFFSET ?3`
)

// EndpointStats reads an endpoint's stats in one read transaction, so that
// the counts and the percentiles agree. SQLite has no percentile function:
// each percentile is read at its rank, with OFFSET over the window's
// attempts ordered by duration, so that only two rows come back whatever
// the number of attempts (the sort happens in SQLite, over the
// attempts_endpoint_started index).
func (db *DB) EndpointStats(ctx context.Context, endpointID string, now time.Time) (hook.EndpointStats, error) {
	tx, err := db.read.BeginTx(ctx, nil)
	if err != nil {
		return hook.EndpointStats{}, fmt.Errorf("endpoint stats: %w", err)
	}
	defer tx.Rollback()
	st, err := endpointStats(ctx, tx, endpointID, now)
	if err != nil {
		return hook.EndpointStats{}, fmt.Errorf("endpoint stats: %w", err)
	}
	return st, nil
}

func endpointStats(ctx context.Context, tx *sql.Tx, endpointID string, now time.Time) (hook.EndpointStats, error) {
	var (
		st    hook.EndpointStats
		since [len(hook.StatsWindows)]int64
	)
	for i, w := range hook.StatsWindows {
		st.Windows[i].Since = hook.Timestamp(now.Add(-w))
		since[i] = micros(st.Windows[i].Since)
	}
	rows, err := tx.QueryContext(ctx, statsDeliveriesQuery, since[0], since[1], since[2], endpointID)
	if err != nil {
		return hook.EndpointStats{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			status string
			n      [len(hook.StatsWindows)]int64
		)
		if err := rows.Scan(&status, &n[0], &n[1], &n[2]); err != nil {
			return hook.EndpointStats{}, err
		}
		for i := range n {
			st.Windows[i].Deliveries.Add(hook.DeliveryStatus(status), n[i])
		}
	}
	if err := rows.Err(); err != nil {
		return hook.EndpointStats{}, err
	}
	w := &st.Windows
	err = tx.QueryRowContext(ctx, statsAttemptsQuery, since[0], since[1], since[2], endpointID).
		Scan(&w[0].Attempts, &w[1].Attempts, &w[2].Attempts, &w[0].Succeeded, &w[1].Succeeded, &w[2].Succeeded)
	if err != nil {
		return hook.EndpointStats{}, err
	}
	for i := range w {
		if w[i].P50, err = percentile(ctx, tx, endpointID, since[i], w[i].Attempts, 0.5); err != nil {
			return hook.EndpointStats{}, err
		}
		if w[i].P99, err = percentile(ctx, tx, endpointID, since[i], w[i].Attempts, 0.99); err != nil {
			return hook.EndpointStats{}, err
		}
	}
	return st, nil
}

// percentile returns the p-th percentile of the durations of the n attempts
// of the endpoint started at or after since, as PostgreSQL's
// percentile_cont computes it: the value at rank p*(n-1) of the sorted
// durations, interpolated linearly with the next one.
func percentile(ctx context.Context, tx *sql.Tx, endpointID string, since, n int64, p float64) (time.Duration, error) {
	if n == 0 {
		return 0, nil
	}
	pos := p * float64(n-1)
	rank := int64(pos)
	rows, err := tx.QueryContext(ctx, percentileQuery, endpointID, since, rank)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var us []float64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return 0, err
		}
		us = append(us, float64(v))
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(us) == 0 {
		return 0, nil // cannot happen in one transaction
	}
	v := us[0]
	if frac := pos - float64(rank); frac > 0 && len(us) == 2 {
		v += (us[1] - us[0]) * frac
	}
	return microsDuration(v), nil
}

// microsDuration converts a number of microseconds to a duration, rounded
// to the nanosecond.
func microsDuration(us float64) time.Duration {
	return time.Duration(us*1000 + 0.5)
}
