package sqlite

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// nullTenant stores an admin key's empty tenant as NULL, which the foreign
// key to tenants lets through.
func nullTenant(id string) any {
	if id == "" {
		return nil
	}
	return id
}

// CreateAPIKey stores a key; hook.ErrConflict when its id or hash exists,
// hook.ErrNotFound when its tenant does not.
func (db *DB) CreateAPIKey(ctx context.Context, k hook.APIKey) error {
	err := db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		return insertAPIKey(ctx, tx, k)
	})
	if err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	return nil
}

func insertAPIKey(ctx context.Context, tx *wtx, k hook.APIKey) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO api_keys
		(id, tenant_id, prefix, hash, created_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, nullTenant(k.TenantID), k.Prefix, k.Hash, micros(k.CreatedAt), nullMicros(k.LastUsedAt))
	return translate(err)
}

// CreateFirstAdminKey stores k only when no admin key exists. The check and
// the insert run in one write, and all writes are serialized by the one
// writer (and one process, by the file lock), so exactly one of several
// concurrent callers stores its key.
func (db *DB) CreateFirstAdminKey(ctx context.Context, k hook.APIKey) (bool, error) {
	if !k.Admin() {
		return false, fmt.Errorf("create first admin key: key %s belongs to tenant %s", k.ID, k.TenantID)
	}
	var created bool
	err := db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		created = false
		var exists bool
		err := tx.QueryRowContext(ctx,
			"SELECT EXISTS (SELECT 1 FROM api_keys WHERE tenant_id IS NULL)").Scan(&exists)
		if err != nil || exists {
			return err
		}
		if err := insertAPIKey(ctx, tx, k); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("create first admin key: %w", err)
	}
	return created, nil
}

const apiKeyColumns = "id, tenant_id, prefix, hash, created_at, last_used_at"

func scanAPIKey(s scanner) (hook.APIKey, error) {
	var (
		k       hook.APIKey
		tenant  sql.NullString
		created int64
		used    sql.NullInt64
	)
	if err := s.Scan(&k.ID, &tenant, &k.Prefix, &k.Hash, &created, &used); err != nil {
		return hook.APIKey{}, translate(err)
	}
	k.TenantID = tenant.String
	k.CreatedAt = fromMicros(created)
	k.LastUsedAt = fromNullMicros(used)
	return k, nil
}

// APIKeyByHash finds the key whose token hashes to hash. The lookup goes
// through the unique index; the hash found is then compared in constant
// time, so that no comparison of secret material depends on its content.
func (db *DB) APIKeyByHash(ctx context.Context, hash []byte) (hook.APIKey, error) {
	// Every authenticated request runs this: prepared once.
	k, err := scanAPIKey(db.hot.QueryRowContext(ctx,
		"SELECT "+apiKeyColumns+" FROM api_keys WHERE hash = ?", hash))
	if err == nil && subtle.ConstantTimeCompare(k.Hash, hash) != 1 {
		err = hook.ErrNotFound
	}
	if err != nil {
		return hook.APIKey{}, fmt.Errorf("get api key: %w", err)
	}
	return k, nil
}

// ListAPIKeys lists a tenant's keys ordered by id; an empty tenantID lists
// the admin keys.
func (db *DB) ListAPIKeys(ctx context.Context, tenantID string, p hook.ListParams) (hook.Page[hook.APIKey], error) {
	after, err := hook.DecodeCursor(listAPIKeys, p.Cursor)
	if err != nil {
		return hook.Page[hook.APIKey]{}, fmt.Errorf("list api keys: %w", err)
	}
	limit := p.PageLimit()
	ks, err := queryList(ctx, db.read, scanAPIKey,
		"SELECT "+apiKeyColumns+" FROM api_keys WHERE tenant_id IS ? AND id > ? ORDER BY id LIMIT ?",
		nullTenant(tenantID), after, limit+1)
	if err != nil {
		return hook.Page[hook.APIKey]{}, fmt.Errorf("list api keys: %w", err)
	}
	return hook.NewPage(ks, limit, listAPIKeys, func(k hook.APIKey) string { return k.ID }), nil
}

// DeleteAPIKey removes a tenant's key (an admin key when tenantID is
// empty); hook.ErrNotFound when that tenant has no such key.
func (db *DB) DeleteAPIKey(ctx context.Context, tenantID, id string) error {
	err := db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		return deleteOne(ctx, tx, "DELETE FROM api_keys WHERE id = ? AND tenant_id IS ?", id, nullTenant(tenantID))
	})
	if err != nil {
		return fmt.Errorf("delete api key: %w", err)
	}
	return nil
}

// TouchAPIKey sets a key's LastUsedAt; hook.ErrNotFound when it does not
// exist.
func (db *DB) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	err := db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		return deleteOne(ctx, tx, "UPDATE api_keys SET last_used_at = ? WHERE id = ?", micros(at), id)
	})
	if err != nil {
		return fmt.Errorf("touch api key: %w", err)
	}
	return nil
}
