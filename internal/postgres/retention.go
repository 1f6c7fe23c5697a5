package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/hook"
)

// listExpire names the cursor of DeleteExpired's batches.
const listExpire = "expire"

// beforeAll is a time before every event: the start of the first batch.
var beforeAll = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)

// DeleteExpired deletes one batch of expired events in one transaction,
// through the events_created_seq index. Deliveries go with their event and
// attempts with their delivery (ON DELETE CASCADE), each found through the
// index of its UNIQUE (event_id, …) or (delivery_id, …).
func (db *DB) DeleteExpired(ctx context.Context, p hook.ExpireParams) (hook.ExpireResult, error) {
	afterAt, afterSeq, err := decodeExpireCursor(p.After)
	if err != nil {
		return hook.ExpireResult{}, fmt.Errorf("delete expired: %w", err)
	}
	before := ts(p.Before)
	limit := max(p.Limit, 1)
	var res hook.ExpireResult
	err = db.tx(ctx, func(tx pgx.Tx) error {
		res = hook.ExpireResult{}
		var lastAt time.Time
		var lastSeq int64
		err := tx.QueryRow(ctx, `SELECT created_at, seq FROM events
			WHERE created_at < $1 AND (created_at, seq) > ($2, $3)
			ORDER BY created_at, seq LIMIT 1 OFFSET $4`, before, afterAt, afterSeq, limit-1).Scan(&lastAt, &lastSeq)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			// Fewer than limit remain: the batch takes them all.
			lastAt, lastSeq = before.Add(-time.Microsecond), math.MaxInt64
		case err != nil:
			return err
		default:
			res.Next = hook.EncodeCursor(listExpire, strconv.FormatInt(lastAt.UnixMicro(), 10)+","+strconv.FormatInt(lastSeq, 10))
		}
		tag, err := tx.Exec(ctx, `DELETE FROM events e
			WHERE created_at < $1 AND (created_at, seq) > ($2, $3) AND (created_at, seq) <= ($4, $5)
			AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status = 'pending')`,
			before, afterAt, afterSeq, lastAt, lastSeq)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		res.Deleted = int(tag.RowsAffected())
		// A delivery retried and claimed after the statement's snapshot is
		// deleted with its event all the same (the cascade reads the rows
		// as they are), and its row in leases would count as a live lease
		// of its endpoint until the lease ended. The delivery rows are
		// locked (deleted) before the lease rows, as everywhere.
		_, err = tx.Exec(ctx, `DELETE FROM leases l
			WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.seq = l.delivery_seq)`)
		return err
	})
	if err != nil {
		return hook.ExpireResult{}, fmt.Errorf("delete expired: %w", err)
	}
	return res, nil
}

// decodeExpireCursor returns the (created_at, seq) a batch starts after;
// for no cursor, a position before every event.
func decodeExpireCursor(c string) (time.Time, int64, error) {
	key, err := hook.DecodeCursor(listExpire, c)
	if err != nil {
		return time.Time{}, 0, err
	}
	if key == "" {
		return beforeAll, 0, nil
	}
	a, s, ok := strings.Cut(key, ",")
	at, err1 := strconv.ParseInt(a, 10, 64)
	seq, err2 := strconv.ParseInt(s, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return time.Time{}, 0, hook.ErrInvalidCursor
	}
	return time.UnixMicro(at).UTC(), seq, nil
}
