package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/heraldhq/herald/internal/hook"
)

// retryDelivery is the update of hook.Store.RetryDelivery: the first queued
// replay keeps the status to return to and makes the delivery due at $1;
// later ones only add to the count. (Every right-hand side reads the row
// as it was.)
const retryDelivery = `UPDATE deliveries SET replays = replays + 1,
		replay_status = CASE WHEN replays = 0 THEN status ELSE replay_status END,
		status = 'pending',
		next_attempt_at = CASE WHEN replays = 0 OR next_attempt_at IS NULL THEN $1 ELSE next_attempt_at END,
		updated_at = $1
	WHERE id = $2 AND status <> 'canceled' RETURNING ` + deliveryColumns

// RetryDelivery queues one more attempt of the delivery; see hook.Store.
func (db *DB) RetryDelivery(ctx context.Context, id string, now time.Time) (hook.Delivery, error) {
	var d hook.Delivery
	err := db.tx(ctx, func(tx pgx.Tx) error {
		var err error
		if d, err = retry(ctx, tx, id, now); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "SELECT pg_notify($1, '')", notifyChannel)
		return err
	})
	if err != nil {
		return hook.Delivery{}, fmt.Errorf("retry delivery: %w", err)
	}
	return d, nil
}

func retry(ctx context.Context, tx pgx.Tx, id string, now time.Time) (hook.Delivery, error) {
	d, err := scanDelivery(tx.QueryRow(ctx, retryDelivery, ts(now), id))
	if errors.Is(err, hook.ErrNotFound) {
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM deliveries WHERE id = $1)", id).Scan(&exists); err != nil {
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
	now = ts(now)
	err := db.tx(ctx, func(tx pgx.Tx) error {
		out = nil
		e, err := scanEvent(tx.QueryRow(ctx, "SELECT "+eventColumns+" FROM events WHERE id = $1", eventID))
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
			d, err := scanDelivery(tx.QueryRow(ctx, "SELECT "+deliveryColumns+
				" FROM deliveries WHERE event_id = $1 AND endpoint_id = $2", eventID, epID))
			switch {
			case errors.Is(err, hook.ErrNotFound):
				nd := hook.NewDelivery(e.Event, hook.Endpoint{ID: epID}, now)
				_, err := tx.Exec(ctx, `INSERT INTO deliveries
					(id, event_id, endpoint_id, tenant_id, event_type, status, attempt_count, next_attempt_at, created_at, updated_at)
					VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $6)`,
					nd.ID, nd.EventID, nd.EndpointID, nd.TenantID, nd.EventType, now)
				if err != nil {
					return translate(err)
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
		_, err = tx.Exec(ctx, "SELECT pg_notify($1, '')", notifyChannel)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("replay event: %w", err)
	}
	return out, nil
}

const jobColumns = `id, tenant_id, kind, endpoint_id, since, until, status, total, done, error, created_at, finished_at`

func scanJob(s scanner) (hook.Job, error) {
	var (
		j            hook.Job
		kind, status string
		finished     pgtype.Timestamptz
	)
	err := s.Scan(&j.ID, &j.TenantID, &kind, &j.EndpointID, &j.Since, &j.Until, &status, &j.Total, &j.Done, &j.Error,
		&j.CreatedAt, &finished)
	if err != nil {
		return hook.Job{}, translate(err)
	}
	j.Kind, j.Status = hook.JobKind(kind), hook.JobStatus(status)
	j.Since, j.Until, j.CreatedAt = j.Since.UTC(), j.Until.UTC(), j.CreatedAt.UTC()
	j.FinishedAt = fromNullTS(finished)
	return j, nil
}

// CreateJob stores a running job; see hook.Store.
func (db *DB) CreateJob(ctx context.Context, j hook.Job) (hook.Job, error) {
	err := db.tx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, "SELECT count(*) FROM events WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3",
			j.TenantID, ts(j.Since), ts(j.Until)).Scan(&j.Total)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO jobs (id, tenant_id, kind, endpoint_id, since, until, status,
			total, done, error, cursor, created_at, finished_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $12)`,
			j.ID, j.TenantID, string(j.Kind), j.EndpointID, ts(j.Since), ts(j.Until), string(j.Status),
			j.Total, j.Done, text(j.Error), ts(j.CreatedAt), nullTS(j.FinishedAt))
		return err
	})
	if err != nil {
		return hook.Job{}, fmt.Errorf("create job: %w", err)
	}
	return j, nil
}

// Job returns the job id.
func (db *DB) Job(ctx context.Context, id string) (hook.Job, error) {
	j, err := scanJob(db.pool.QueryRow(ctx, "SELECT "+jobColumns+" FROM jobs WHERE id = $1", id))
	if err != nil {
		return hook.Job{}, fmt.Errorf("get job: %w", err)
	}
	return j, nil
}

// ClaimJob leases one running job; see hook.Store.
func (db *DB) ClaimJob(ctx context.Context, now time.Time, lease time.Duration) (hook.Job, string, error) {
	token := "clm_" + rand.Text()
	j, err := scanJob(db.pool.QueryRow(ctx, `UPDATE jobs SET claim_token = $1, lease_until = $2
		WHERE id = (SELECT id FROM jobs WHERE status = 'running' AND (lease_until IS NULL OR lease_until <= $3)
			ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING `+jobColumns, token, ts(now.Add(lease)), ts(now)))
	if err != nil {
		return hook.Job{}, "", fmt.Errorf("claim job: %w", err)
	}
	return j, token, nil
}

// RunJobBatch walks the next events of a claimed job; see hook.Store.
func (db *DB) RunJobBatch(ctx context.Context, b hook.JobBatch) (hook.Job, error) {
	var j hook.Job
	now := ts(b.Now)
	err := db.tx(ctx, func(tx pgx.Tx) error {
		var (
			held   *string
			cursor int64
		)
		err := tx.QueryRow(ctx, "SELECT claim_token, cursor FROM jobs WHERE id = $1 AND status = 'running' FOR UPDATE", b.JobID).
			Scan(&held, &cursor)
		if errors.Is(err, pgx.ErrNoRows) || err == nil && (held == nil || *held != b.Token) {
			return fmt.Errorf("job %s: lease not held: %w", b.JobID, hook.ErrConflict)
		}
		if err != nil {
			return err
		}
		j, err = scanJob(tx.QueryRow(ctx, "SELECT "+jobColumns+" FROM jobs WHERE id = $1", b.JobID))
		if err != nil {
			return err
		}
		ep, err := db.scanEndpoint(tx.QueryRow(ctx, "SELECT "+endpointColumns+" FROM endpoints WHERE id = $1", j.EndpointID))
		if errors.Is(err, hook.ErrNotFound) {
			j, err = scanJob(tx.QueryRow(ctx, `UPDATE jobs SET status = 'failed', error = 'the endpoint was deleted',
				finished_at = $1, claim_token = NULL, lease_until = NULL WHERE id = $2 RETURNING `+jobColumns, now, b.JobID))
			return err
		}
		if err != nil {
			return err
		}
		evs, err := queryList(ctx, tx, scanEvent, "SELECT "+eventColumns+` FROM events
			WHERE tenant_id = $1 AND seq > $2 AND created_at >= $3 AND created_at < $4 ORDER BY seq LIMIT $5`,
			j.TenantID, cursor, j.Since, j.Until, b.Limit)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if ep.Matches(e.Type) {
				_, err := tx.Exec(ctx, `INSERT INTO deliveries
					(id, event_id, endpoint_id, tenant_id, event_type, status, attempt_count, next_attempt_at, created_at, updated_at)
					VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $6) ON CONFLICT (event_id, endpoint_id) DO NOTHING`,
					hook.NewID(hook.PrefixDelivery), e.ID, ep.ID, e.TenantID, e.Type, now)
				if err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, `UPDATE deliveries SET status = 'pending', next_attempt_at = $1,
				unscheduled = attempt_count, updated_at = $1
				WHERE event_id = $2 AND endpoint_id = $3 AND status = 'failed'`, now, e.ID, ep.ID)
			if err != nil {
				return err
			}
			cursor = e.seq
		}
		status, finished, lease := hook.JobRunning, any(nil), any(ts(b.Now.Add(b.Lease)))
		if len(evs) < b.Limit {
			status, finished, lease = hook.JobSucceeded, now, nil
		}
		j, err = scanJob(tx.QueryRow(ctx, `UPDATE jobs SET done = done + $1, total = greatest(total, done + $1),
			cursor = $2, status = $3, finished_at = $4, lease_until = $5,
			claim_token = CASE WHEN $3 = 'running' THEN claim_token END
			WHERE id = $6 RETURNING `+jobColumns, len(evs), cursor, string(status), finished, lease, b.JobID))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "SELECT pg_notify($1, '')", notifyChannel)
		return err
	})
	if err != nil {
		return hook.Job{}, fmt.Errorf("run job batch: %w", err)
	}
	return j, nil
}
