package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/hook"
)

// DisableEndpoint disables an endpoint; see hook.Store. One UPDATE of the
// status columns only, so configuration and health written meanwhile stay.
func (db *DB) DisableEndpoint(ctx context.Context, id, reason string, now time.Time) (hook.Endpoint, error) {
	e, err := db.scanEndpoint(db.pool.QueryRow(ctx, `UPDATE endpoints
		SET status = 'disabled', disabled_reason = $1, updated_at = $2 WHERE id = $3
		RETURNING `+endpointColumns, reason, ts(now), id))
	if err != nil {
		return hook.Endpoint{}, fmt.Errorf("disable endpoint: %w", err)
	}
	return e, nil
}

// EnableEndpoint enables an endpoint and makes its waiting deliveries due;
// see hook.Store. A delivery due before now keeps its time, and so its
// place in the claim order; later ones are brought forward to now.
//
// The deliveries are locked before the endpoint row, in seq order: the
// order in which CompleteAttempt and claims lock (a delivery, then its
// endpoint), and the same order in two concurrent enables, so none of them
// can deadlock with this.
func (db *DB) EnableEndpoint(ctx context.Context, id string, now time.Time) (hook.Endpoint, error) {
	var e hook.Endpoint
	err := db.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE deliveries SET next_attempt_at = $1, updated_at = $1
			WHERE seq IN (SELECT seq FROM deliveries
				WHERE endpoint_id = $2 AND status = 'pending' AND next_attempt_at > $1
				ORDER BY seq FOR UPDATE)`, ts(now), id)
		if err != nil {
			return err
		}
		e, err = db.scanEndpoint(tx.QueryRow(ctx, `UPDATE endpoints
			SET status = 'active', disabled_reason = '', consecutive_failures = 0, failing_since = NULL,
				updated_at = $1
			WHERE id = $2 RETURNING `+endpointColumns, ts(now), id))
		return err
	})
	if err != nil {
		return hook.Endpoint{}, fmt.Errorf("enable endpoint: %w", err)
	}
	return e, nil
}

// RotateEndpointSecret rotates an endpoint's signing key; see hook.Store.
// The row is read FOR UPDATE, so a concurrent rotation waits and then
// rotates what this one wrote.
func (db *DB) RotateEndpointSecret(ctx context.Context, id string, r hook.SecretRotation) (hook.Endpoint, error) {
	var e hook.Endpoint
	err := db.tx(ctx, func(tx pgx.Tx) error {
		var err error
		e, err = db.scanEndpoint(tx.QueryRow(ctx,
			"SELECT "+endpointColumns+" FROM endpoints WHERE id = $1 FOR UPDATE", id))
		if err != nil {
			return err
		}
		if e.Secrets, err = hook.Rotate(e.Secrets, r); err != nil {
			return err
		}
		e.UpdatedAt = ts(r.Now)
		sealed, err := db.sealSecrets(e)
		if err != nil {
			return err
		}
		return execOne(ctx, tx, "UPDATE endpoints SET secrets = $1, updated_at = $2 WHERE id = $3",
			sealed, e.UpdatedAt, id)
	})
	if err != nil {
		return hook.Endpoint{}, fmt.Errorf("rotate endpoint secret: %w", err)
	}
	return e, nil
}
