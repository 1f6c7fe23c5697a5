package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/internal/hook"
)

// listExpire names the cursor of DeleteExpired's batches.
const listExpire = "expire"

// expireBoundQuery finds the last event of a batch: the Limit-th expired
// event after the cursor, in (created_at, seq) order, which the
// events_created index holds (seq, the rowid, ends every entry).
const expireBoundQuery = `SELECT created_at, seq FROM events
	WHERE created_at < ? AND (created_at, seq) > (?, ?)
	ORDER BY created_at, seq LIMIT 1 OFFSET ?`

// expireDeleteQuery deletes the batch's events but those with a pending
// delivery. Deliveries go with their event and attempts with their delivery
// (ON DELETE CASCADE; every connection enforces foreign keys), each found
// through the index of its UNIQUE (event_id, …) or (delivery_id, …).
// "+d.status" keeps the planner off the index of pending deliveries, through
// which it would walk every pending delivery for each event.
const expireDeleteQuery = `DELETE FROM events
	WHERE created_at < ? AND (created_at, seq) > (?, ?) AND (created_at, seq) <= (?, ?)
	AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id AND +d.status = 'pending')`

// DeleteExpired deletes one batch of expired events as one write op, so
// that a batch holds the writer, and the ingests queued behind it, only for
// as long as it takes to delete p.Limit events with their rows.
func (db *DB) DeleteExpired(ctx context.Context, p hook.ExpireParams) (hook.ExpireResult, error) {
	afterAt, afterSeq, err := decodeExpireCursor(p.After)
	if err != nil {
		return hook.ExpireResult{}, fmt.Errorf("delete expired: %w", err)
	}
	before := micros(p.Before)
	limit := max(p.Limit, 1)
	var res hook.ExpireResult
	err = db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		res = hook.ExpireResult{}
		var lastAt, lastSeq int64
		err := tx.QueryRowContext(ctx, expireBoundQuery, before, afterAt, afterSeq, limit-1).Scan(&lastAt, &lastSeq)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			// Fewer than limit remain: the batch takes them all.
			lastAt, lastSeq = before-1, math.MaxInt64
		case err != nil:
			return err
		default:
			res.Next = hook.EncodeCursor(listExpire, strconv.FormatInt(lastAt, 10)+","+strconv.FormatInt(lastSeq, 10))
		}
		r, err := tx.ExecContext(ctx, expireDeleteQuery, before, afterAt, afterSeq, lastAt, lastSeq)
		if err != nil {
			return err
		}
		n, err := r.RowsAffected()
		res.Deleted = int(n)
		return err
	})
	if err != nil {
		return hook.ExpireResult{}, fmt.Errorf("delete expired: %w", err)
	}
	return res, nil
}

// decodeExpireCursor returns the (created_at, seq) a batch starts after;
// for no cursor, a position before every event.
func decodeExpireCursor(c string) (int64, int64, error) {
	key, err := hook.DecodeCursor(listExpire, c)
	if err != nil {
		return 0, 0, err
	}
	if key == "" {
		return math.MinInt64, 0, nil
	}
	a, s, ok := strings.Cut(key, ",")
	at, err1 := strconv.ParseInt(a, 10, 64)
	seq, err2 := strconv.ParseInt(s, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, hook.ErrInvalidCursor
	}
	return at, seq, nil
}
