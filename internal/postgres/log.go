package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// listAttemptLog names the cursors of the attempt feed.
const listAttemptLog = "attemptlog"

// seqScanner scans a row whose first column is a seq into seq and the rest
// as s would.
type seqScanner struct {
	s   scanner
	seq *int64
}

func (x seqScanner) Scan(dest ...any) error { return x.s.Scan(append([]any{x.seq}, dest...)...) }

// ListAttemptLog lists attempts by seq, oldest first; see
// hook.AttemptLogFilter. It reads the largest seq, then lists up to it; a
// page that is not full ends at that seq, so that polling again skips the
// attempts that did not match the filter instead of reading them again.
//
// The feed may skip an attempt, and this is accepted: an identity value is
// taken at insert, not at commit, so two completions running together can
// commit in the other order than their seqs, and a poll between the two
// commits moves the cursor past the smaller seq before it is visible. The
// window is the few statements between the insert and the commit of
// CompleteAttempt. The feed is for watching (the CLI's tail); the log of
// each delivery, and GET /v1/deliveries, miss nothing. Closing the window
// would mean ordering the feed by commit (a transaction id filtered by the
// snapshot's xmin, which stalls the feed behind any long transaction) or
// serializing completions on a lock until they commit.
func (db *DB) ListAttemptLog(ctx context.Context, f hook.AttemptLogFilter) (hook.Page[hook.Attempt], error) {
	after, err := decodeLogCursor(f.Cursor)
	if err != nil {
		return hook.Page[hook.Attempt]{}, fmt.Errorf("list attempt log: %w", err)
	}
	var last int64
	if err := db.pool.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM attempts").Scan(&last); err != nil {
		return hook.Page[hook.Attempt]{}, fmt.Errorf("list attempt log: %w", translate(err))
	}
	var w where
	w.add("seq > $?", after)
	w.add("seq <= $?", last)
	if f.TenantID != "" {
		w.add("tenant_id = $?", f.TenantID)
	}
	if f.EndpointID != "" {
		w.add("endpoint_id = $?", f.EndpointID)
	}
	if !f.Since.IsZero() {
		w.add("started_at >= $?", ts(f.Since))
	}
	limit := f.PageLimit()
	var seqs []int64
	as, err := queryList(ctx, db.pool, func(s scanner) (hook.Attempt, error) {
		var seq int64
		a, err := scanAttempt(seqScanner{s, &seq})
		seqs = append(seqs, seq)
		return a, err
	}, "SELECT seq, "+attemptColumns+" FROM attempts"+w.String()+" ORDER BY seq"+w.limit(), append(w.args, limit)...)
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

// EndpointStats reads an endpoint's stats in two queries, deliveries and
// attempts, each over the week with a FILTER per shorter window. The
// percentiles are percentile_cont's, over durations in microseconds.
func (db *DB) EndpointStats(ctx context.Context, endpointID string, now time.Time) (hook.EndpointStats, error) {
	var (
		st    hook.EndpointStats
		since [len(hook.StatsWindows)]time.Time
	)
	for i, w := range hook.StatsWindows {
		since[i] = hook.Timestamp(now.Add(-w))
		st.Windows[i].Since = since[i]
	}
	rows, err := db.pool.Query(ctx, `SELECT status, count(*) FILTER (WHERE created_at >= $1),
		count(*) FILTER (WHERE created_at >= $2), count(*)
		FROM deliveries WHERE endpoint_id = $4 AND created_at >= $3 GROUP BY status`,
		since[0], since[1], since[2], endpointID)
	if err != nil {
		return hook.EndpointStats{}, fmt.Errorf("endpoint stats: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			status string
			n      [len(hook.StatsWindows)]int64
		)
		if err := rows.Scan(&status, &n[0], &n[1], &n[2]); err != nil {
			return hook.EndpointStats{}, fmt.Errorf("endpoint stats: %w", translate(err))
		}
		for i := range n {
			st.Windows[i].Deliveries.Add(hook.DeliveryStatus(status), n[i])
		}
	}
	if err := rows.Err(); err != nil {
		return hook.EndpointStats{}, fmt.Errorf("endpoint stats: %w", translate(err))
	}
	var p [len(hook.StatsWindows)][2]*float64 // NULL when there was no attempt
	w := &st.Windows
	err = db.pool.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE started_at >= $1), count(*) FILTER (WHERE started_at >= $2), count(*),
		count(*) FILTER (WHERE started_at >= $1 AND `+attemptOK+`),
		count(*) FILTER (WHERE started_at >= $2 AND `+attemptOK+`),
		count(*) FILTER (WHERE `+attemptOK+`),
		percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_us) FILTER (WHERE started_at >= $1),
		percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_us) FILTER (WHERE started_at >= $1),
		percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_us) FILTER (WHERE started_at >= $2),
		percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_us) FILTER (WHERE started_at >= $2),
		percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_us),
		percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_us)
		FROM attempts WHERE endpoint_id = $4 AND started_at >= $3`, since[0], since[1], since[2], endpointID).
		Scan(&w[0].Attempts, &w[1].Attempts, &w[2].Attempts, &w[0].Succeeded, &w[1].Succeeded, &w[2].Succeeded,
			&p[0][0], &p[0][1], &p[1][0], &p[1][1], &p[2][0], &p[2][1])
	if err != nil {
		return hook.EndpointStats{}, fmt.Errorf("endpoint stats: %w", translate(err))
	}
	for i := range w {
		w[i].P50, w[i].P99 = microsDuration(p[i][0]), microsDuration(p[i][1])
	}
	return st, nil
}

// microsDuration converts a number of microseconds to a duration, rounded
// to the nanosecond; NULL is zero.
func microsDuration(us *float64) time.Duration {
	if us == nil {
		return 0
	}
	return time.Duration(*us*1000 + 0.5)
}
