package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// CreateTenant stores a new tenant; hook.ErrConflict when the id is taken,
// now or by a deleted tenant.
func (db *DB) CreateTenant(ctx context.Context, t hook.Tenant) error {
	meta, err := jsonText(t.Metadata)
	if err != nil {
		return fmt.Errorf("create tenant: %w", err)
	}
	err = db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		var deleted int
		err := tx.QueryRowContext(ctx, "SELECT count(*) FROM deleted_tenants WHERE id = ?", t.ID).Scan(&deleted)
		if err != nil {
			return err
		}
		if deleted > 0 {
			return hook.ErrConflict
		}
		_, err = tx.ExecContext(ctx,
			"INSERT INTO tenants (id, name, metadata, created_at) VALUES (?, ?, ?, ?)",
			t.ID, t.Name, meta, micros(t.CreatedAt))
		return translate(err)
	})
	if err != nil {
		return fmt.Errorf("create tenant: %w", err)
	}
	return nil
}

const tenantColumns = "id, name, metadata, created_at"

func scanTenant(s scanner) (hook.Tenant, error) {
	var (
		t       hook.Tenant
		meta    string
		created int64
	)
	if err := s.Scan(&t.ID, &t.Name, &meta, &created); err != nil {
		return hook.Tenant{}, translate(err)
	}
	if err := json.Unmarshal([]byte(meta), &t.Metadata); err != nil {
		return hook.Tenant{}, fmt.Errorf("tenant %s metadata: %w", t.ID, err)
	}
	t.CreatedAt = fromMicros(created)
	return t, nil
}

// Tenant returns the tenant id.
func (db *DB) Tenant(ctx context.Context, id string) (hook.Tenant, error) {
	t, err := scanTenant(db.read.QueryRowContext(ctx,
		"SELECT "+tenantColumns+" FROM tenants WHERE id = ?", id))
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
	ts, err := queryList(ctx, db.read, scanTenant,
		"SELECT "+tenantColumns+" FROM tenants WHERE id > ? ORDER BY id LIMIT ?", after, limit+1)
	if err != nil {
		return hook.Page[hook.Tenant]{}, fmt.Errorf("list tenants: %w", err)
	}
	return hook.NewPage(ts, limit, listTenants, func(t hook.Tenant) string { return t.ID }), nil
}

// DeleteTenant removes a tenant, its endpoints and its API keys (by
// cascade), and cancels the pending deliveries of those endpoints, in one
// transaction. Events and deliveries stay.
func (db *DB) DeleteTenant(ctx context.Context, id string, now time.Time) error {
	err := db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		// "+status" keeps the planner off the status index, which would
		// visit every pending delivery of every tenant. Ending the leases
		// fences out attempts in flight (see DeleteEndpoint).
		_, err := tx.ExecContext(ctx, `UPDATE deliveries
			SET status = ?, next_attempt_at = NULL, updated_at = ?, claim_token = NULL, lease_until = NULL
			WHERE endpoint_id IN (SELECT id FROM endpoints WHERE tenant_id = ?) AND +status = ?`,
			hook.DeliveryCanceled, micros(now), id, hook.DeliveryPending)
		if err != nil {
			return err
		}
		if err := deleteOne(ctx, tx, "DELETE FROM tenants WHERE id = ?", id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT OR REPLACE INTO deleted_tenants (id, deleted_at) VALUES (?, ?)", id, micros(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("delete tenant: %w", err)
	}
	return nil
}

// deleteOne runs a DELETE (or UPDATE) that must affect a row; else the
// object did not exist.
func deleteOne(ctx context.Context, tx *wtx, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return translate(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return hook.ErrNotFound
	}
	return nil
}

// queryList runs a query and scans every row.
func queryList[T any](ctx context.Context, q queryer, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
