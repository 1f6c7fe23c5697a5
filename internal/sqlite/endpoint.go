package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// sealedSecret is the stored form of a hook.Secret, inside the sealed blob.
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
			ss[i].ExpiresAt = micros(s.ExpiresAt)
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
			out[i].ExpiresAt = fromMicros(s.ExpiresAt)
		}
	}
	return out, nil
}

// endpointArgs are the stored values of every column but id, tenant_id and
// created_at, in the order of endpointSet.
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
	// endpoint expects), so they are sealed like the secrets.
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
		string(e.Status), e.DisabledReason, micros(e.UpdatedAt),
		nullMicros(e.LastSuccessAt), nullMicros(e.LastFailureAt), e.ConsecutiveFailures,
		nullMicros(e.FailingSince),
	}, nil
}

// endpointConfigSet assigns the configured fields: endpointArgs' first
// eleven values, then updated_at.
const endpointConfigSet = `url = ?, description = ?, events = ?, secrets = coalesce(?, secrets), signature_scheme = ?, headers = ?,
	rate_limit = ?, max_in_flight = ?, timeout_ns = ?, retry_schedule = ?, metadata = ?, updated_at = ?`

const endpointSet = `url = ?, description = ?, events = ?, secrets = ?, signature_scheme = ?, headers = ?,
	rate_limit = ?, max_in_flight = ?, timeout_ns = ?, retry_schedule = ?, metadata = ?,
	status = ?, disabled_reason = ?, updated_at = ?,
	last_success_at = ?, last_failure_at = ?, consecutive_failures = ?, failing_since = ?`

// CreateEndpoint stores a new endpoint with its secrets sealed;
// hook.ErrNotFound when its tenant does not exist, hook.ErrConflict when its
// id is taken.
func (db *DB) CreateEndpoint(ctx context.Context, e hook.Endpoint) error {
	args, err := db.endpointArgs(e)
	if err != nil {
		return fmt.Errorf("create endpoint: %w", err)
	}
	args = append([]any{e.ID, e.TenantID, micros(e.CreatedAt)}, args...)
	err = db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO endpoints (id, tenant_id, created_at,
			url, description, events, secrets, signature_scheme, headers,
			rate_limit, max_in_flight, timeout_ns, retry_schedule, metadata,
			status, disabled_reason, updated_at,
			last_success_at, last_failure_at, consecutive_failures, failing_since)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
		return translate(err)
	})
	if err != nil {
		return fmt.Errorf("create endpoint: %w", err)
	}
	return nil
}

// UpdateEndpoint replaces every field of the endpoint but its id, tenant and
// CreatedAt; hook.ErrNotFound when it does not exist.
func (db *DB) UpdateEndpoint(ctx context.Context, e hook.Endpoint) error {
	args, err := db.endpointArgs(e)
	if err != nil {
		return fmt.Errorf("update endpoint: %w", err)
	}
	err = db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		// Only the configuration: status and health belong to the delivery
		// engine, and a PATCH that read the endpoint earlier must not undo
		// what the engine wrote since.
		cfg := append(args[:11:11], args[13], e.ID)
		if e.Secrets == nil {
			cfg[3] = nil // keep the stored secrets: see hook.Store
		}
		return deleteOne(ctx, tx, "UPDATE endpoints SET "+endpointConfigSet+" WHERE id = ?", cfg...)
	})
	if err != nil {
		return fmt.Errorf("update endpoint: %w", err)
	}
	return nil
}

// DeleteEndpoint removes an endpoint and cancels its pending deliveries in
// one transaction; its delivery log stays.
func (db *DB) DeleteEndpoint(ctx context.Context, id string, now time.Time) error {
	err := db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		if err := deleteOne(ctx, tx, "DELETE FROM endpoints WHERE id = ?", id); err != nil {
			return err
		}
		// "+status": see DeleteTenant. Ending the lease fences out an
		// attempt in flight: its CompleteAttempt finds no lease.
		_, err := tx.ExecContext(ctx, `UPDATE deliveries
			SET status = ?, next_attempt_at = NULL, updated_at = ?, claim_token = NULL, lease_until = NULL
			WHERE endpoint_id = ? AND +status = ?`,
			hook.DeliveryCanceled, micros(now), id, hook.DeliveryPending)
		return err
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
		sched                   sql.NullString
		created, updated        int64
		lastSuccess, lastFailed sql.NullInt64
		failingSince            sql.NullInt64
	)
	err := s.Scan(&e.ID, &e.TenantID, &e.URL, &e.Description, &events, &secrets, &scheme, &headers,
		&e.RateLimit, &e.MaxInFlight, &timeout, &sched, &meta, &status, &e.DisabledReason,
		&created, &updated, &lastSuccess, &lastFailed, &e.ConsecutiveFailures, &failingSince)
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
	e.CreatedAt = fromMicros(created)
	e.UpdatedAt = fromMicros(updated)
	e.LastSuccessAt = fromNullMicros(lastSuccess)
	e.LastFailureAt = fromNullMicros(lastFailed)
	e.FailingSince = fromNullMicros(failingSince)
	return e, nil
}

// Endpoint returns the endpoint id with its secrets opened.
func (db *DB) Endpoint(ctx context.Context, id string) (hook.Endpoint, error) {
	e, err := db.scanEndpoint(db.read.QueryRowContext(ctx,
		"SELECT "+endpointColumns+" FROM endpoints WHERE id = ?", id))
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
	w.add("id > ?", after)
	if f.TenantID != "" {
		w.add("tenant_id = ?", f.TenantID)
	}
	limit := f.PageLimit()
	es, err := queryList(ctx, db.read, db.scanEndpoint,
		"SELECT "+endpointColumns+" FROM endpoints"+w.String()+" ORDER BY id LIMIT ?", append(w.args, limit+1)...)
	if err != nil {
		return hook.Page[hook.Endpoint]{}, fmt.Errorf("list endpoints: %w", err)
	}
	return hook.NewPage(es, limit, listEndpoints, func(e hook.Endpoint) string { return e.ID }), nil
}
