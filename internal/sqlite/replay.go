package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// retryDelivery is the update of hook.Store.RetryDelivery: the first queued
// replay keeps the status to return to and makes the delivery due at ?1;
// later ones only add to the count. (Every right-hand side reads the row
// as it was.)
const retryDelivery = `UPDATE deliveries SET replays = replays + 1,
		replay_status = CASE WHEN replays = 0 THEN status ELSE replay_status END,
		status = 'pending',
		next_attempt_at = CASE WHEN replays = 0 OR next_attempt_at IS NULL THEN ?1 ELSE next_attempt_at END,
		updated_at = ?1
	WHERE id = ?2 AND status <> 'canceled' RETURNING ` + deliveryColumns

// RetryDelivery queues one more attempt of the delivery; see hook.Store.
func (db *DB) RetryDelivery(ctx context.Context, id string, now time.Time) (hook.Delivery, error) {
	var d hook.Delivery
	err := db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		var err error
		d, err = retry(ctx, tx, id, now)
		return err
	})
	if err != nil {
		return hook.Delivery{}, fmt.Errorf("retry delivery: %w", err)
	}
	return d, nil
}

func retry(ctx context.Context, tx *wtx, id string, now time.Time) (hook.Delivery, error) {
	d, err := scanDelivery(tx.QueryRowContext(ctx, retryDelivery, micros(now), id))
	if errors.Is(err, hook.ErrNotFound) {
		var exists bool
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM deliveries WHERE id = ?)", id).Scan(&exists); err != nil {
			return hook.Delivery{}, err
		}
		if exists {
			return hook.Delivery{}, fmt.Errorf("delivery %s is canceled: %w", id, hook.ErrConflict)
		}
	}
	return d.Delivery, err
}

// ReplayEvent retries or creates the event's deliveries; see hook.Store.
func (db *DB) ReplayEvent(ctx context.Context, eventID string, endpointIDs []string, now time.Time) ([]hook.Delivery, error) {
	var out []hook.Delivery
	err := db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		out = nil
		e, err := scanEvent(tx.QueryRowContext(ctx, "SELECT "+eventColumns+" FROM events WHERE id = ?", eventID))
		if err != nil {
			return err
		}
		ids := slices.Compact(slices.Sorted(slices.Values(endpointIDs)))
		if endpointIDs == nil {
			eps, err := matchingEndpoints(ctx, tx, e.Event)
			if err != nil {
				return err
			}
			for _, ep := range eps {
				ids = append(ids, ep.ID)
			}
		}
		for _, epID := range ids {
			d, err := scanDelivery(tx.QueryRowContext(ctx, "SELECT "+deliveryColumns+
				" FROM deliveries WHERE event_id = ? AND endpoint_id = ?", eventID, epID))
			switch {
			case errors.Is(err, hook.ErrNotFound):
				nd := hook.NewDelivery(e.Event, hook.Endpoint{ID: epID}, now)
				if err := insertDelivery(ctx, tx, nd); err != nil {
					return err
				}
				out = append(out, nd)
				continue
			case err != nil:
				return err
			case d.Status == hook.DeliveryCanceled:
				out = append(out, d.Delivery)
				continue
			}
			r, err := retry(ctx, tx, d.ID, now)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("replay event: %w", err)
	}
	return out, nil
}

const jobColumns = `id, tenant_id, kind, endpoint_id, since, until, status, total, done, error, created_at, finished_at`

func scanJob(s scanner) (hook.Job, error) {
	var (
		j                     hook.Job
		kind, status          string
		since, until, created int64
		finished              sql.NullInt64
	)
	err := s.Scan(&j.ID, &j.TenantID, &kind, &j.EndpointID, &since, &until, &status, &j.Total, &j.Done, &j.Error,
		&created, &finished)
	if err != nil {
		return hook.Job{}, translate(err)
	}
	j.Kind, j.Status = hook.JobKind(kind), hook.JobStatus(status)
	j.Since, j.Until, j.CreatedAt = fromMicros(since), fromMicros(until), fromMicros(created)
	j.FinishedAt = fromNullMicros(finished)
	return j, nil
}

// CreateJob stores a running job; see hook.Store.
func (db *DB) CreateJob(ctx context.Context, j hook.Job) (hook.Job, error) {
	err := db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		err := tx.QueryRowContext(ctx, "SELECT count(*) FROM events WHERE tenant_id = ? AND created_at >= ? AND created_at < ?",
			j.TenantID, micros(j.Since), micros(j.Until)).Scan(&j.Total)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO jobs (id, tenant_id, kind, endpoint_id, since, until, status,
			total, done, error, cursor, created_at, finished_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
			j.ID, j.TenantID, j.Kind, j.EndpointID, micros(j.Since), micros(j.Until), j.Status,
			j.Total, j.Done, j.Error, micros(j.CreatedAt), nullMicros(j.FinishedAt))
		return translate(err)
	})
	if err != nil {
		return hook.Job{}, fmt.Errorf("create job: %w", err)
	}
	return j, nil
}

// Job returns the job id.
func (db *DB) Job(ctx context.Context, id string) (hook.Job, error) {
	j, err := scanJob(db.read.QueryRowContext(ctx, "SELECT "+jobColumns+" FROM jobs WHERE id = ?", id))
	if err != nil {
		return hook.Job{}, fmt.Errorf("get job: %w", err)
	}
	return j, nil
}

// ClaimJob leases one running job; see hook.Store.
func (db *DB) ClaimJob(ctx context.Context, now time.Time, lease time.Duration) (hook.Job, string, error) {
	token := "clm_" + rand.Text()
	var j hook.Job
	err := db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		var err error
		j, err = scanJob(tx.QueryRowContext(ctx, `UPDATE jobs SET claim_token = ?1, lease_until = ?2
			WHERE id = (SELECT id FROM jobs WHERE status = 'running' AND (lease_until IS NULL OR lease_until <= ?3)
				ORDER BY created_at LIMIT 1)
			RETURNING `+jobColumns, token, micros(now.Add(lease)), micros(now)))
		return err
	})
	if err != nil {
		return hook.Job{}, "", fmt.Errorf("claim job: %w", err)
	}
	return j, token, nil
}

// RunJobBatch walks the next events of a claimed job; see hook.Store.
func (db *DB) RunJobBatch(ctx context.Context, b hook.JobBatch) (hook.Job, error) {
	var j hook.Job
	err := db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		var (
			held   sql.NullString
			cursor int64
		)
		err := tx.QueryRowContext(ctx, "SELECT claim_token, cursor FROM jobs WHERE id = ? AND status = 'running'", b.JobID).
			Scan(&held, &cursor)
		if errors.Is(err, sql.ErrNoRows) || err == nil && (!held.Valid || held.String != b.Token) {
			return fmt.Errorf("job %s: lease not held: %w", b.JobID, hook.ErrConflict)
		}
		if err != nil {
			return err
		}
		j, err = scanJob(tx.QueryRowContext(ctx, "SELECT "+jobColumns+" FROM jobs WHERE id = ?", b.JobID))
		if err != nil {
			return err
		}
		now := micros(b.Now)
		ep, err := db.scanEndpoint(tx.QueryRowContext(ctx, "SELECT "+endpointColumns+" FROM endpoints WHERE id = ?", j.EndpointID))
		if errors.Is(err, hook.ErrNotFound) {
			j, err = scanJob(tx.QueryRowContext(ctx, `UPDATE jobs SET status = 'failed', error = 'the endpoint was deleted',
				finished_at = ?, claim_token = NULL, lease_until = NULL WHERE id = ? RETURNING `+jobColumns, now, b.JobID))
			return err
		}
		if err != nil {
			return err
		}
		evs, err := queryList(ctx, tx, scanEvent, "SELECT "+eventColumns+` FROM events
			WHERE tenant_id = ? AND seq > ? AND created_at >= ? AND created_at < ? ORDER BY seq LIMIT ?`,
			j.TenantID, cursor, micros(j.Since), micros(j.Until), b.Limit)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if ep.Matches(e.Type) {
				_, err := tx.ExecContext(ctx, `INSERT INTO deliveries
					(id, event_id, endpoint_id, tenant_id, event_type, status, attempt_count, next_attempt_at, created_at, updated_at)
					VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?) ON CONFLICT (event_id, endpoint_id) DO NOTHING`,
					hook.NewID(hook.PrefixDelivery), e.ID, ep.ID, e.TenantID, e.Type, now, now, now)
				if err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'pending', next_attempt_at = ?1,
				unscheduled = attempt_count, updated_at = ?1
				WHERE event_id = ?2 AND endpoint_id = ?3 AND status = 'failed'`, now, e.ID, ep.ID)
			if err != nil {
				return err
			}
			cursor = e.seq
		}
		status, finished, lease := hook.JobRunning, any(nil), any(micros(b.Now.Add(b.Lease)))
		if len(evs) < b.Limit {
			status, finished, lease = hook.JobSucceeded, now, nil
		}
		j, err = scanJob(tx.QueryRowContext(ctx, `UPDATE jobs SET done = done + ?, total = max(total, done + ?),
			cursor = ?, status = ?, finished_at = ?, lease_until = ?,
			claim_token = CASE WHEN ? IS NULL THEN NULL ELSE claim_token END
			WHERE id = ? RETURNING `+jobColumns, len(evs), len(evs), cursor, status, finished, lease, lease, b.JobID))
		return err
	})
	if err != nil {
		return hook.Job{}, fmt.Errorf("run job batch: %w", err)
	}
	return j, nil
}
