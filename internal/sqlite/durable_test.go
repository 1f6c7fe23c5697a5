package sqlite_test

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/sqlite"
)

// TestDurable writes from many goroutines at once, closes, reopens, and
// finds every acknowledged write.
func TestDurable(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	db := openTest(t, path)
	ctx := t.Context()
	if err := db.CreateTenant(ctx, hook.Tenant{ID: "acme", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	ep := hook.Endpoint{ID: hook.NewID(hook.PrefixEndpoint), TenantID: "acme", Events: []string{"*"}, Secrets: []hook.Secret{{Key: "k"}}, Status: hook.EndpointActive, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	const n = 500
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked []hook.IngestResult
	)
	for i := range n {
		wg.Go(func() {
			ev := hook.Event{ID: fmt.Sprintf("evt_%d", i), TenantID: "acme", Type: "order.paid", Data: []byte(`{"i":` + fmt.Sprint(i) + `}`), CreatedAt: now}
			res, err := db.Ingest(ctx, ev)
			if err != nil {
				t.Errorf("Ingest: %v", err)
				return
			}
			mu.Lock()
			acked = append(acked, res)
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openTest(t, path)
	if len(acked) != n {
		t.Fatalf("%d of %d ingests acknowledged", len(acked), n)
	}
	for _, res := range acked {
		got, err := db.Event(ctx, res.Event.ID)
		if err != nil || !got.SameContent(res.Event) {
			t.Errorf("Event(%s) after reopen = %+v, %v", res.Event.ID, got, err)
		}
		if len(res.Deliveries) != 1 {
			t.Fatalf("Ingest made %d deliveries, want 1", len(res.Deliveries))
		}
		if _, err := db.Delivery(ctx, res.Deliveries[0].ID); err != nil {
			t.Errorf("Delivery after reopen: %v", err)
		}
	}
}

// TestBatchIsolation runs conflicting and valid writes concurrently, so that
// they share batches: each conflict fails alone and every other write
// commits.
func TestBatchIsolation(t *testing.T) {
	t.Parallel()
	db := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	ctx := t.Context()
	for i := range 50 {
		if err := db.CreateTenant(ctx, hook.Tenant{ID: fmt.Sprintf("taken%d", i), CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			err := db.CreateTenant(ctx, hook.Tenant{ID: fmt.Sprintf("taken%d", i), Name: "again", CreatedAt: now})
			if !errors.Is(err, hook.ErrConflict) {
				t.Errorf("CreateTenant of a taken id: %v, want ErrConflict", err)
			}
		})
		wg.Go(func() {
			if err := db.CreateTenant(ctx, hook.Tenant{ID: fmt.Sprintf("new%d", i), CreatedAt: now}); err != nil {
				t.Errorf("CreateTenant: %v", err)
			}
		})
	}
	wg.Wait()
	for i := range 50 {
		got, err := db.Tenant(ctx, fmt.Sprintf("taken%d", i))
		if err != nil || got.Name != "" {
			t.Errorf("taken tenant = %+v, %v; want the first write", got, err)
		}
		if _, err := db.Tenant(ctx, fmt.Sprintf("new%d", i)); err != nil {
			t.Errorf("new tenant: %v", err)
		}
	}
}

// TestClose checks that Close commits the writes already queued and that
// later calls fail with ErrClosed.
func TestClose(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	db := openTest(t, path)
	ctx := t.Context()
	const n = 100
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs <- db.CreateTenant(ctx, hook.Tenant{ID: fmt.Sprintf("t%d", i), CreatedAt: now})
		})
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	close(errs)
	committed := 0
	for err := range errs {
		switch {
		case err == nil:
			committed++
		case !errors.Is(err, sqlite.ErrClosed):
			t.Errorf("CreateTenant during Close: %v, want nil or ErrClosed", err)
		}
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := db.Ping(ctx); !errors.Is(err, sqlite.ErrClosed) {
		t.Errorf("Ping after Close: %v, want ErrClosed", err)
	}
	if err := db.CreateTenant(ctx, hook.Tenant{ID: "late", CreatedAt: now}); !errors.Is(err, sqlite.ErrClosed) {
		t.Errorf("CreateTenant after Close: %v, want ErrClosed", err)
	}

	db = openTest(t, path)
	p, err := db.ListTenants(ctx, hook.ListParams{Limit: hook.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(p.Items) - 1; got != committed { // less the operational tenant
		t.Errorf("%d tenants after reopen, want the %d acknowledged", got, committed)
	}
}

// TestMigrateNewer refuses a database migrated by a newer Herald.
func TestMigrateNewer(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	db := openTest(t, path)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	db, err = sqlite.Open(t.Context(), path, sqlite.Options{Secrets: newBox(t, testKey)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(t.Context()); err == nil || !strings.Contains(err.Error(), "9999") {
		t.Errorf("Migrate of a newer database: %v, want an error naming migration 9999", err)
	}
}
