package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/seal"
)

// matchReviewDB opens and migrates a database with the tenant acme and,
// unless noEndpoint, its endpoint ep_a subscribed to t.1. It returns the
// database and the path of its file.
func matchReviewDB(t *testing.T, noEndpoint bool) (*DB, string) {
	t.Helper()
	ctx := context.Background()
	box, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "herald.db")
	db, err := Open(ctx, path, Options{Secrets: box})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 8, 10, 15, 0, 0, time.UTC)
	if err := db.CreateTenant(ctx, hook.Tenant{ID: "acme", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if !noEndpoint {
		err := db.CreateEndpoint(ctx, hook.Endpoint{
			ID: "ep_a", TenantID: "acme", URL: "https://example.com/hook", Events: []string{"t.1"},
			Secrets: []hook.Secret{{Key: "whsec_x"}}, SignatureScheme: hook.SchemeStandard,
			MaxInFlight: 4, Timeout: time.Second, Status: hook.EndpointActive, CreatedAt: now, UpdatedAt: now,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return db, path
}

// shellExec runs query on a connection of its own, as an operator's sqlite3
// shell would (foreign keys off, SQLite's default).
func shellExec(t *testing.T, path, query string) {
	t.Helper()
	shell, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer shell.Close()
	if _, err := shell.ExecContext(context.Background(), query); err != nil {
		t.Fatal(err)
	}
}

func ingestType(t *testing.T, db *DB, tenant, typ string) (hook.IngestResult, error) {
	t.Helper()
	return db.Ingest(context.Background(), hook.Event{ID: hook.NewID(hook.PrefixEvent), TenantID: tenant, Type: typ,
		Data: []byte(`{}`), CreatedAt: time.Date(2026, 5, 8, 10, 15, 0, 0, time.UTC)})
}

// TestMatchCacheSeesEndpointRenamed: 0007_match.sql promises that every
// change that alters a match moves match_version, whoever makes it, a
// sqlite3 shell included. An endpoint's id is part of the match (it is the
// endpoint_id of the deliveries made), but endpoints_update_match fires
// only on status, events and tenant_id: after an operator renames an
// endpoint, ingest keeps making deliveries for the old id, which no
// endpoint has, so no claim ever takes them (they stay pending).
func TestMatchCacheSeesEndpointRenamed(t *testing.T) {
	db, path := matchReviewDB(t, false)
	if res, err := ingestType(t, db, "acme", "t.1"); err != nil || len(res.Deliveries) != 1 {
		t.Fatalf("first ingest: %+v, %v", res.Deliveries, err)
	}
	shellExec(t, path, `UPDATE endpoints SET id = 'ep_b' WHERE id = 'ep_a'`)
	res, err := ingestType(t, db, "acme", "t.1")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deliveries) != 1 || res.Deliveries[0].EndpointID != "ep_b" {
		var ids []string
		for _, d := range res.Deliveries {
			ids = append(ids, d.EndpointID)
		}
		t.Fatalf("after ep_a was renamed ep_b, the event went to %v, want [ep_b]", ids)
	}
}

// TestMatchCacheSeesTenantRenamed: as above for a tenant's id, on which no
// trigger fires at all. After an operator renames a tenant, ingest still
// accepts events for the old id (a tenant that no longer exists, which
// ingest promises to refuse) and refuses the new one.
func TestMatchCacheSeesTenantRenamed(t *testing.T) {
	db, path := matchReviewDB(t, true)
	if _, err := ingestType(t, db, "acme", "t.1"); err != nil {
		t.Fatalf("ingest for acme: %v", err)
	}
	if _, err := ingestType(t, db, "acme2", "t.1"); !errors.Is(err, hook.ErrNotFound) {
		t.Fatalf("ingest for acme2, not yet a tenant: %v, want not found", err)
	}
	shellExec(t, path, `UPDATE tenants SET id = 'acme2' WHERE id = 'acme'`)
	if _, err := ingestType(t, db, "acme", "t.1"); !errors.Is(err, hook.ErrNotFound) {
		t.Errorf("ingest for acme after it was renamed acme2: %v, want not found", err)
	}
	if _, err := ingestType(t, db, "acme2", "t.1"); err != nil {
		t.Errorf("ingest for acme2 after acme was renamed to it: %v", err)
	}
}

// TestMatchCacheKeepsNoRefusedTenants: the cache is bounded in tenants
// (versionedLimit), not in bytes, and it kept an entry for every
// tenant id an ingest was refused for. An event's tenantId is not checked
// against hook.ValidID (an admin key names any), so refused ingests alone
// could make the writer hold up to versionedLimit ids of up to the
// request's body limit each (256 KiB: over 2 GiB).
func TestMatchCacheKeepsNoRefusedTenants(t *testing.T) {
	db, _ := matchReviewDB(t, false)
	const n, size = 8, 64 << 10
	for i := range n {
		tenant := strings.Repeat(string(rune('a'+i)), size)
		if _, err := ingestType(t, db, tenant, "t.1"); !errors.Is(err, hook.ErrNotFound) {
			t.Fatalf("ingest for a tenant that does not exist: %v, want not found", err)
		}
	}
	db.w.match.mu.Lock()
	defer db.w.match.mu.Unlock()
	held := 0
	for id, te := range db.w.match.m {
		if !te.exists {
			held += len(id)
		}
	}
	if held > 0 {
		t.Errorf("after %d refused ingests the match cache holds %d bytes of ids of tenants that do not exist", n, held)
	}
}
