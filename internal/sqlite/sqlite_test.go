package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/seal"
	"github.com/heraldhq/herald/internal/sqlite"
	"github.com/heraldhq/herald/internal/storetest"
)

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) hook.Store { return openTest(t, filepath.Join(t.TempDir(), "herald.db")) })
}

// testKey is the key every test database is sealed with.
var testKey = bytes.Repeat([]byte{7}, seal.KeySize)

func newBox(t testing.TB, key []byte) *seal.Box {
	t.Helper()
	box, err := seal.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// openTest opens and migrates the database at path, closed when the test
// ends.
func openTest(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{Secrets: newBox(t, testKey)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

var now = time.Date(2026, 5, 8, 10, 15, 0, 0, time.UTC)

func TestOpenTwice(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	db := openTest(t, path)
	_, err := sqlite.Open(t.Context(), path, sqlite.Options{Secrets: newBox(t, testKey)})
	if !errors.Is(err, sqlite.ErrInUse) {
		t.Fatalf("second Open: err = %v, want ErrInUse", err)
	}
	if want := "database " + path + " is in use by another process"; err.Error() != want {
		t.Errorf("second Open: %q, want %q", err, want)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	again, err := sqlite.Open(t.Context(), path, sqlite.Options{Secrets: newBox(t, testKey)})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestOpenOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := sqlite.Open(t.Context(), filepath.Join(dir, "a.db"), sqlite.Options{}); err == nil {
		t.Error("Open without Secrets succeeded")
	}
	for _, path := range []string{"", ":memory:", "file:x.db?mode=memory"} {
		if _, err := sqlite.Open(t.Context(), path, sqlite.Options{Secrets: newBox(t, testKey)}); err == nil {
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
	// Characters that mean something in a URI are part of the file name.
	odd := filepath.Join(dir, "a?b#c %41.db")
	db := openTest(t, odd)
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := os.Stat(odd); err != nil {
		t.Errorf("database file: %v", err)
	}
}

// TestNoSecretsInClear reads the raw database files and finds neither an
// endpoint secret nor an API key token in them, before and after the WAL is
// checkpointed into the main file.
func TestNoSecretsInClear(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	db := openTest(t, path)
	ctx := t.Context()
	if err := db.CreateTenant(ctx, hook.Tenant{ID: "acme", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	ep := hook.Endpoint{
		ID: hook.NewID(hook.PrefixEndpoint), TenantID: "acme", URL: "https://example.com/hook",
		Events: []string{"*"}, Secrets: []hook.Secret{{Key: secret}}, SignatureScheme: hook.SchemeStandard,
		MaxInFlight: 1, Timeout: time.Second, Status: hook.EndpointActive, CreatedAt: now, UpdatedAt: now,
	}
	if err := db.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	key, token := hook.NewAPIKey("acme", now)
	if err := db.CreateAPIKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	admin, adminToken := hook.NewAPIKey("", now)
	if err := db.CreateAPIKey(ctx, admin); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Endpoint(ctx, ep.ID); err != nil || got.Secret() != secret {
		t.Fatalf("Endpoint = secret %q, %v; want %q", got.Secret(), err, secret)
	}

	check := func(when string) {
		t.Helper()
		var all []byte
		for _, suffix := range []string{"", "-wal", "-shm"} {
			b, err := os.ReadFile(path + suffix)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		if len(all) == 0 {
			t.Fatalf("%s: no database bytes read", when)
		}
		// The secret without its prefix, and the random part of the
		// tokens: whatever encoding a leak took, these would show.
		for name, s := range map[string]string{
			"endpoint secret": strings.TrimPrefix(secret, "whsec_"),
			"tenant key":      strings.TrimPrefix(token, hook.TenantKeyPrefix)[10:],
			"admin key":       strings.TrimPrefix(adminToken, hook.AdminKeyPrefix)[10:],
		} {
			if bytes.Contains(all, []byte(s)) {
				t.Errorf("%s: the %s is in the database files in clear", when, name)
			}
		}
		if !bytes.Contains(all, []byte(ep.URL)) {
			t.Errorf("%s: the endpoint URL is not in the files; is this the database?", when)
		}
	}
	check("in the WAL")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	check("after Close")
}

// TestWrongKey shows that secrets sealed with one key do not open with
// another: reading the endpoint fails rather than returning garbage.
func TestWrongKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	db := openTest(t, path)
	if err := db.CreateTenant(t.Context(), hook.Tenant{ID: "acme", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	ep := hook.Endpoint{ID: "ep_1", TenantID: "acme", Events: []string{}, Secrets: []hook.Secret{{Key: "whsec_x"}}, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateEndpoint(t.Context(), ep); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	other, err := sqlite.Open(t.Context(), path, sqlite.Options{Secrets: newBox(t, make([]byte, seal.KeySize))})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Endpoint(t.Context(), "ep_1"); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("Endpoint with the wrong key: err = %v, want seal.ErrOpen", err)
	}
}

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

// BenchmarkIngest measures Ingest with one matching endpoint, serially and
// from parallel goroutines; the parallel figure shows group commit, where
// concurrent ingests share one transaction and one fsync.
func BenchmarkIngest(b *testing.B) {
	setup := func(b *testing.B) *sqlite.DB {
		db := openTest(b, filepath.Join(b.TempDir(), "herald.db"))
		if err := db.CreateTenant(b.Context(), hook.Tenant{ID: "acme", CreatedAt: now}); err != nil {
			b.Fatal(err)
		}
		ep := hook.Endpoint{ID: hook.NewID(hook.PrefixEndpoint), TenantID: "acme", Events: []string{"payout.*"}, Secrets: []hook.Secret{{Key: "k"}}, Status: hook.EndpointActive, CreatedAt: now, UpdatedAt: now}
		if err := db.CreateEndpoint(b.Context(), ep); err != nil {
			b.Fatal(err)
		}
		return db
	}
	data := []byte(`{"payoutId":"po_44","amountPaise":250000,"currency":"INR"}`)
	ingest := func(b *testing.B, db *sqlite.DB) {
		res, err := db.Ingest(context.Background(), hook.Event{ID: hook.NewID(hook.PrefixEvent), TenantID: "acme", Type: "payout.paid", Data: data, CreatedAt: now})
		if err != nil || len(res.Deliveries) != 1 {
			b.Errorf("Ingest: %d deliveries, %v", len(res.Deliveries), err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		db := setup(b)
		for b.Loop() {
			ingest(b, db)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		db := setup(b)
		b.SetParallelism(16) // 16 × GOMAXPROCS goroutines, as many HTTP requests would be
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ingest(b, db)
			}
		})
	})
}
