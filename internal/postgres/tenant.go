package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heraldhq/herald/internal/hook"
)

// CreateTenant stores a new tenant; hook.ErrConflict when the id is taken,
// now or by a deleted tenant.
func (db *DB) CreateTenant(ctx context.Context, t hook.Tenant) error {
	meta, err := jsonText(t.Metadata)
	if err != nil {
		return fmt.Errorf("create tenant: %w", err)
	}
	tag, err := db.pool.Exec(ctx, `INSERT INTO tenants (id, name, metadata, created_at)
		SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM deleted_tenants WHERE id = $1)`,
		t.ID, t.Name, meta, ts(t.CreatedAt))
	if err == nil && tag.RowsAffected() == 0 {
		err = fmt.Errorf("tenant %s was deleted: %w", t.ID, hook.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create tenant: %w", translate(err))
	}
	return nil
}

const tenantColumns = "id, name, metadata, created_at"

func scanTenant(s scanner) (hook.Tenant, error) {
	var (
		t    hook.Tenant
		meta string
	)
	if err := s.Scan(&t.ID, &t.Name, &meta, &t.CreatedAt); err != nil {
		return hook.Tenant{}, translate(err)
	}
	if err := json.Unmarshal([]byte(meta), &t.Metadata); err != nil {
		return hook.Tenant{}, fmt.Errorf("tenant %s metadata: %w", t.ID, err)
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return t, nil
}

// Tenant returns the tenant id.
func (db *DB) Tenant(ctx context.Context, id string) (hook.Tenant, error) {
	t, err := scanTenant(db.pool.QueryRow(ctx, "SELECT "+tenantColumns+" FROM tenants WHERE id = $1", id))
	if err != nil {
		return hook.Tenant{}, fmt.Errorf("get tenant: %w", err)
	}
	return t, nil
}

// ListTenants lists tenants ordered by id.
func (db *DB) ListTenants(ctx context.Context, p hook.ListParams) (hook.Page[hook.Tenant], error) {
	after, err := hook.DecodeCursor(listTenants, p.Cursor)
	if err != nil {
		return hook.Page[hook.Tenant]{}, fmt.Errorf("list tenants: %w", err)
	}
	limit := p.PageLimit()
	tenants, err := queryList(ctx, db.pool, scanTenant,
		"SELECT "+tenantColumns+" FROM tenants WHERE id > $1 ORDER BY id LIMIT $2", after, limit+1)
	if err != nil {
		return hook.Page[hook.Tenant]{}, fmt.Errorf("list tenants: %w", err)
	}
	return hook.NewPage(tenants, limit, listTenants, func(t hook.Tenant) string { return t.ID }), nil
}

// DeleteTenant removes a tenant, its endpoints and its API keys (by
// cascade), and cancels the pending deliveries of those endpoints, in one
// transaction. Events and deliveries stay.
//
// It locks the tenant row first. Ingest holds a key-share lock on it while
// it adds deliveries, so this waits for ingests in flight to commit, and
// the cancel that follows, a statement with a newer snapshot, sees their
// deliveries; ingests that come later find the tenant gone.
func (db *DB) DeleteTenant(ctx context.Context, id string, now time.Time) error {
	err := db.tx(ctx, func(tx pgx.Tx) error {
		if err := lockTenant(ctx, tx, id); err != nil {
			return err
		}
		// Ending the leases fences out attempts in flight (see
		// DeleteEndpoint).
		_, err := tx.Exec(ctx, `UPDATE deliveries
			SET status = 'canceled', next_attempt_at = NULL, updated_at = $1, claim_token = NULL, lease_until = NULL
			WHERE endpoint_id IN (SELECT id FROM endpoints WHERE tenant_id = $2) AND status = 'pending'`,
			ts(now), id)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM leases WHERE endpoint_id IN (SELECT id FROM endpoints WHERE tenant_id = $1)", id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM tenants WHERE id = $1", id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO deleted_tenants (id, deleted_at) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET deleted_at = excluded.deleted_at`, id, ts(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("delete tenant: %w", err)
	}
	return nil
}

// lockTenant locks the tenant row id against ingests (see DeleteTenant);
// hook.ErrNotFound when there is none.
func lockTenant(ctx context.Context, tx pgx.Tx, id string) error {
	var got string
	err := tx.QueryRow(ctx, "SELECT id FROM tenants WHERE id = $1 FOR UPDATE", id).Scan(&got)
	return translate(err)
}

// execOne runs a DELETE or UPDATE that must affect a row; else the object
// did not exist.
func execOne(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, sql string, args ...any) error {
	tag, err := q.Exec(ctx, sql, args...)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return hook.ErrNotFound
	}
	return nil
}
