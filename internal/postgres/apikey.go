package postgres

import (
	"context"
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

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

// tenantCond selects the keys of tenantID, the admin keys when it is empty,
// in a form that uses the index on tenant_id. The empty string, its
// argument then, is compared with nothing that matters.
func tenantCond(tenantID string) string {
	if tenantID == "" {
		return "tenant_id IS NULL AND $? = ''"
	}
	return "tenant_id = $?"
}

// CreateAPIKey stores a key; hook.ErrConflict when its id or hash exists,
// hook.ErrNotFound when its tenant does not.
func (db *DB) CreateAPIKey(ctx context.Context, k hook.APIKey) error {
	if err := insertAPIKey(ctx, db.pool, k); err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	return nil
}

func insertAPIKey(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, k hook.APIKey) error {
	_, err := q.Exec(ctx, `INSERT INTO api_keys
		(id, tenant_id, prefix, hash, created_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, nullTenant(k.TenantID), k.Prefix, k.Hash, ts(k.CreatedAt), nullTS(k.LastUsedAt))
	return translate(err)
}

// CreateFirstAdminKey stores k only when no admin key exists. The check and
// the insert run in one transaction under an advisory lock taken before the
// check, so of several processes starting together exactly one stores its
// key: the others wait for its commit, and their check, a later statement
// under READ COMMITTED, sees its key.
func (db *DB) CreateFirstAdminKey(ctx context.Context, k hook.APIKey) (bool, error) {
	if !k.Admin() {
		return false, fmt.Errorf("create first admin key: key %s belongs to tenant %s", k.ID, k.TenantID)
	}
	var created bool
	err := db.tx(ctx, func(tx pgx.Tx) error {
		created = false
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", lockClass, lockFirstAdmin); err != nil {
			return err
		}
		var exists bool
		err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM api_keys WHERE tenant_id IS NULL)").Scan(&exists)
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
		k      hook.APIKey
		tenant *string
		used   pgtype.Timestamptz
	)
	if err := s.Scan(&k.ID, &tenant, &k.Prefix, &k.Hash, &k.CreatedAt, &used); err != nil {
		return hook.APIKey{}, translate(err)
	}
	if tenant != nil {
		k.TenantID = *tenant
	}
	k.CreatedAt = k.CreatedAt.UTC()
	k.LastUsedAt = fromNullTS(used)
	return k, nil
}

// APIKeyByHash finds the key whose token hashes to hash. The lookup goes
// through the unique index; the hash found is then compared in constant
// time, so that no comparison of secret material depends on its content.
func (db *DB) APIKeyByHash(ctx context.Context, hash []byte) (hook.APIKey, error) {
	if hash == nil {
		hash = []byte{} // nil would be NULL, which matches nothing either
	}
	k, err := scanAPIKey(db.pool.QueryRow(ctx, "SELECT "+apiKeyColumns+" FROM api_keys WHERE hash = $1", hash))
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
	var w where
	w.add(tenantCond(tenantID), tenantID)
	w.add("id > $?", after)
	ks, err := queryList(ctx, db.pool, scanAPIKey,
		"SELECT "+apiKeyColumns+" FROM api_keys"+w.String()+" ORDER BY id"+w.limit(), append(w.args, limit+1)...)
	if err != nil {
		return hook.Page[hook.APIKey]{}, fmt.Errorf("list api keys: %w", err)
	}
	return hook.NewPage(ks, limit, listAPIKeys, func(k hook.APIKey) string { return k.ID }), nil
}

// DeleteAPIKey removes a tenant's key (an admin key when tenantID is
// empty); hook.ErrNotFound when that tenant has no such key.
func (db *DB) DeleteAPIKey(ctx context.Context, tenantID, id string) error {
	var w where
	w.add("id = $?", id)
	w.add(tenantCond(tenantID), tenantID)
	err := execOne(ctx, db.pool, "DELETE FROM api_keys"+w.String(), w.args...)
	if err != nil {
		return fmt.Errorf("delete api key: %w", err)
	}
	return nil
}

// TouchAPIKey sets a key's LastUsedAt; hook.ErrNotFound when it does not
// exist.
func (db *DB) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	if err := execOne(ctx, db.pool, "UPDATE api_keys SET last_used_at = $1 WHERE id = $2", ts(at), id); err != nil {
		return fmt.Errorf("touch api key: %w", err)
	}
	return nil
}
