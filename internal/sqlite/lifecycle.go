package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// DisableEndpoint disables an endpoint; see hook.Store. Only the status
// columns change, so configuration written meanwhile stays.
func (db *DB) DisableEndpoint(ctx context.Context, id, reason string, now time.Time) (hook.Endpoint, error) {
	var e hook.Endpoint
	err := db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		var err error
		e, err = db.scanEndpoint(tx.QueryRowContext(ctx, `UPDATE endpoints
			SET status = ?, disabled_reason = ?, updated_at = ? WHERE id = ?
			RETURNING `+endpointColumns, hook.EndpointDisabled, reason, micros(now), id))
		return err
	})
	if err != nil {
		return hook.Endpoint{}, fmt.Errorf("disable endpoint: %w", err)
	}
	return e, nil
}

// EnableEndpoint enables an endpoint and makes its waiting deliveries due;
// see hook.Store. A delivery due before now keeps its time, and so its
// place in the claim order; later ones, waiting out a retry delay, are
// brought forward to now.
func (db *DB) EnableEndpoint(ctx context.Context, id string, now time.Time) (hook.Endpoint, error) {
	var e hook.Endpoint
	err := db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		var err error
		e, err = db.scanEndpoint(tx.QueryRowContext(ctx, `UPDATE endpoints
			SET status = ?, disabled_reason = '', consecutive_failures = 0, failing_since = NULL, updated_at = ?
			WHERE id = ? RETURNING `+endpointColumns, hook.EndpointActive, micros(now), id))
		if err != nil {
			return err
		}
		// The literal 'pending' lets SQLite use the deliveries_pending
		// partial index.
		_, err = tx.ExecContext(ctx, `UPDATE deliveries SET next_attempt_at = ?1, updated_at = ?1
			WHERE endpoint_id = ?2 AND status = 'pending' AND next_attempt_at > ?1`, micros(now), id)
		return err
	})
	if err != nil {
		return hook.Endpoint{}, fmt.Errorf("enable endpoint: %w", err)
	}
	return e, nil
}

// RotateEndpointSecret rotates an endpoint's signing key; see hook.Store.
// The read and the write run in one write transaction, and SQLite has one
// writer, so no other write comes between them.
func (db *DB) RotateEndpointSecret(ctx context.Context, id string, r hook.SecretRotation) (hook.Endpoint, error) {
	var e hook.Endpoint
	err := db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		var err error
		e, err = db.scanEndpoint(tx.QueryRowContext(ctx, "SELECT "+endpointColumns+" FROM endpoints WHERE id = ?", id))
		if err != nil {
			return err
		}
		if e.Secrets, err = hook.Rotate(e.Secrets, r); err != nil {
			return err
		}
		e.UpdatedAt = hook.Timestamp(r.Now)
		sealed, err := db.sealSecrets(e)
		if err != nil {
			return err
		}
		return deleteOne(ctx, tx, "UPDATE endpoints SET secrets = ?, updated_at = ? WHERE id = ?",
			sealed, micros(e.UpdatedAt), id)
	})
	if err != nil {
		return hook.Endpoint{}, fmt.Errorf("rotate endpoint secret: %w", err)
	}
	return e, nil
}
