package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/heraldhq/herald/internal/hook"
)

// sealedSecret is the stored form of a hook.Secret, inside the sealed blob;
// the same as the SQLite store's.
type sealedSecret struct {
	Key       string `json:"key"`
	ExpiresAt int64  `json:"expiresAt,omitempty"` // unix microseconds; 0 for the current secret
}

// sealSecrets encrypts an endpoint's secrets bound to its id, so a sealed
// value copied into another row does not open.
func (db *DB) sealSecrets(e hook.Endpoint) ([]byte, error) {
	var ss []sealedSecret // nil stays nil: "null"
	if e.Secrets != nil {
		ss = make([]sealedSecret, len(e.Secrets))
	}
	for i, s := range e.Secrets {
		ss[i] = sealedSecret{Key: s.Key}
		if !s.ExpiresAt.IsZero() {
			ss[i].ExpiresAt = hook.Timestamp(s.ExpiresAt).UnixMicro()
		}
	}
	b, err := json.Marshal(ss)
	if err != nil {
		return nil, err
	}
	return db.box.Seal(b, e.ID), nil
}

func (db *DB) openSecrets(id string, sealed []byte) ([]hook.Secret, error) {
	b, err := db.box.Open(sealed, id)
	if err != nil {
		return nil, fmt.Errorf("endpoint %s secrets: %w", id, err)
	}
	var ss []sealedSecret
	if err := json.Unmarshal(b, &ss); err != nil {
		return nil, fmt.Errorf("endpoint %s secrets: %w", id, err)
	}
	if ss == nil {
		return nil, nil
	}
	out := make([]hook.Secret, len(ss))
	for i, s := range ss {
		out[i] = hook.Secret{Key: s.Key}
		if s.ExpiresAt != 0 {
			out[i].ExpiresAt = time.UnixMicro(s.ExpiresAt).UTC()
		}
	}
	return out, nil
}

// endpointArgs are the stored values of every column but id, tenant_id and
// created_at, in the order of the columns in CreateEndpoint: the first
// eleven are the configuration, then status, disabled_reason, updated_at
// and health.
func (db *DB) endpointArgs(e hook.Endpoint) ([]any, error) {
	events, err := jsonText(e.Events)
	if err != nil {
		return nil, err
	}
	hj, err := json.Marshal(e.Headers)
	if err != nil {
		return nil, err
	}
	// Custom headers often hold credentials (an Authorization the
	// endpoint expects), so they are sealed like the secrets, with the
	// SQLite store's additional data.
	headers := db.box.Seal(hj, e.ID+"/headers")
	meta, err := jsonText(e.Metadata)
	if err != nil {
		return nil, err
	}
	sched, err := schedule(e.RetrySchedule)
	if err != nil {
		return nil, err
	}
	secrets, err := db.sealSecrets(e)
	if err != nil {
		return nil, err
	}
	return []any{
		e.URL, e.Description, events, secrets, string(e.SignatureScheme), headers,
		e.RateLimit, e.MaxInFlight, int64(e.Timeout), sched, meta,
		string(e.Status), e.DisabledReason, ts(e.UpdatedAt),
		nullTS(e.LastSuccessAt), nullTS(e.LastFailureAt), e.ConsecutiveFailures, nullTS(e.FailingSince),
	}, nil
}

// CreateEndpoint stores a new endpoint with its secrets sealed;
// hook.ErrNotFound when its tenant does not exist, hook.ErrConflict when its
// id is taken.
func (db *DB) CreateEndpoint(ctx context.Context, e hook.Endpoint) error {
	args, err := db.endpointArgs(e)
	if err != nil {
		return fmt.Errorf("create endpoint: %w", err)
	}
	args = append([]any{e.ID, e.TenantID, ts(e.CreatedAt)}, args...)
	_, err = db.pool.Exec(ctx, `INSERT INTO endpoints (id, tenant_id, created_at,
		url, description, events, secrets, signature_scheme, headers,
		rate_limit, max_in_flight, timeout_ns, retry_schedule, metadata,
		status, disabled_reason, updated_at,
		last_success_at, last_failure_at, consecutive_failures, failing_since)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`, args...)
	if err != nil {
		return fmt.Errorf("create endpoint: %w", translate(err))
	}
	return nil
}

// UpdateEndpoint replaces the endpoint's configuration; hook.ErrNotFound
// when it does not exist. Status and health belong to the delivery engine,
// and an update computed from an earlier read must not undo what the
// engine wrote since.
func (db *DB) UpdateEndpoint(ctx context.Context, e hook.Endpoint) error {
	args, err := db.endpointArgs(e)
	if err != nil {
		return fmt.Errorf("update endpoint: %w", err)
	}
	cfg := append(args[:11:11], args[13], e.ID)
	if e.Secrets == nil {
		cfg[3] = nil // keep the stored secrets: see hook.Store
	}
	err = execOne(ctx, db.pool, `UPDATE endpoints SET url = $1, description = $2, events = $3, secrets = coalesce($4, secrets),
		signature_scheme = $5, headers = $6, rate_limit = $7, max_in_flight = $8, timeout_ns = $9,
		retry_schedule = $10, metadata = $11, updated_at = $12
		WHERE id = $13`, cfg...)
	if err != nil {
		return fmt.Errorf("update endpoint: %w", err)
	}
	return nil
}

// DeleteEndpoint removes an endpoint and cancels its pending deliveries in
// one transaction; its delivery log stays. Like DeleteTenant, it first
// locks the tenant row, so that an ingest in flight, which may be adding a
// delivery to this endpoint, commits before the cancel reads.
func (db *DB) DeleteEndpoint(ctx context.Context, id string, now time.Time) error {
	err := db.tx(ctx, func(tx pgx.Tx) error {
		var tenant string
		if err := tx.QueryRow(ctx, "SELECT tenant_id FROM endpoints WHERE id = $1", id).Scan(&tenant); err != nil {
			return translate(err)
		}
		if err := lockTenant(ctx, tx, tenant); err != nil {
			return err
		}
		// Ending the lease fences out an attempt in flight: its
		// CompleteAttempt finds no lease. The deliveries come before the
		// endpoint row: CompleteAttempt locks a delivery and then updates
		// its endpoint, and the opposite order here could deadlock.
		_, err := tx.Exec(ctx, `UPDATE deliveries
			SET status = 'canceled', next_attempt_at = NULL, updated_at = $1, claim_token = NULL, lease_until = NULL
			WHERE endpoint_id = $2 AND status = 'pending'`, ts(now), id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM leases WHERE endpoint_id = $1", id); err != nil {
			return err
		}
		return execOne(ctx, tx, "DELETE FROM endpoints WHERE id = $1", id)
	})
	if err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	}
	return nil
}

const endpointColumns = `id, tenant_id, url, description, events, secrets, signature_scheme, headers,
	rate_limit, max_in_flight, timeout_ns, retry_schedule, metadata, status, disabled_reason,
	created_at, updated_at, last_success_at, last_failure_at, consecutive_failures, failing_since`

func (db *DB) scanEndpoint(s scanner) (hook.Endpoint, error) {
	var (
		e                       hook.Endpoint
		events, meta            string
		secrets, headers        []byte
		scheme, status          string
		timeout                 int64
		sched                   *string
		lastSuccess, lastFailed pgtype.Timestamptz
		failingSince            pgtype.Timestamptz
	)
	err := s.Scan(&e.ID, &e.TenantID, &e.URL, &e.Description, &events, &secrets, &scheme, &headers,
		&e.RateLimit, &e.MaxInFlight, &timeout, &sched, &meta, &status, &e.DisabledReason,
		&e.CreatedAt, &e.UpdatedAt, &lastSuccess, &lastFailed, &e.ConsecutiveFailures, &failingSince)
	if err != nil {
		return hook.Endpoint{}, translate(err)
	}
	for _, f := range []struct {
		text string
		v    any
	}{{events, &e.Events}, {meta, &e.Metadata}} {
		if err := json.Unmarshal([]byte(f.text), f.v); err != nil {
			return hook.Endpoint{}, fmt.Errorf("endpoint %s: %w", e.ID, err)
		}
	}
	if e.RetrySchedule, err = parseSchedule(sched); err != nil {
		return hook.Endpoint{}, fmt.Errorf("endpoint %s: %w", e.ID, err)
	}
	if e.Secrets, err = db.openSecrets(e.ID, secrets); err != nil {
		return hook.Endpoint{}, err
	}
	hj, err := db.box.Open(headers, e.ID+"/headers")
	if err != nil {
		return hook.Endpoint{}, fmt.Errorf("endpoint %s headers: %w", e.ID, err)
	}
	if err := json.Unmarshal(hj, &e.Headers); err != nil {
		return hook.Endpoint{}, fmt.Errorf("endpoint %s headers: %w", e.ID, err)
	}
	e.SignatureScheme = hook.SignatureScheme(scheme)
	e.Status = hook.EndpointStatus(status)
	e.Timeout = time.Duration(timeout)
	e.CreatedAt = e.CreatedAt.UTC()
	e.UpdatedAt = e.UpdatedAt.UTC()
	e.LastSuccessAt = fromNullTS(lastSuccess)
	e.LastFailureAt = fromNullTS(lastFailed)
	e.FailingSince = fromNullTS(failingSince)
	return e, nil
}

// Endpoint returns the endpoint id with its secrets opened.
func (db *DB) Endpoint(ctx context.Context, id string) (hook.Endpoint, error) {
	e, err := db.scanEndpoint(db.pool.QueryRow(ctx, "SELECT "+endpointColumns+" FROM endpoints WHERE id = $1", id))
	if err != nil {
		return hook.Endpoint{}, fmt.Errorf("get endpoint: %w", err)
	}
	return e, nil
}

// ListEndpoints lists endpoints ordered by id (ids sort by creation time).
func (db *DB) ListEndpoints(ctx context.Context, f hook.EndpointFilter) (hook.Page[hook.Endpoint], error) {
	after, err := hook.DecodeCursor(listEndpoints, f.Cursor)
	if err != nil {
		return hook.Page[hook.Endpoint]{}, fmt.Errorf("list endpoints: %w", err)
	}
	var w where
	w.add("id > $?", after)
	if f.TenantID != "" {
		w.add("tenant_id = $?", f.TenantID)
	}
	limit := f.PageLimit()
	es, err := queryList(ctx, db.pool, db.scanEndpoint,
		"SELECT "+endpointColumns+" FROM endpoints"+w.String()+" ORDER BY id"+w.limit(), append(w.args, limit+1)...)
	if err != nil {
		return hook.Page[hook.Endpoint]{}, fmt.Errorf("list endpoints: %w", err)
	}
	return hook.NewPage(es, limit, listEndpoints, func(e hook.Endpoint) string { return e.ID }), nil
}
