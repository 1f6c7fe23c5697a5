package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
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

// TestStoreSmallBatches runs the suite with a batch window and tiny
// batches, so that batches fill up and wait.
func TestStoreSmallBatches(t *testing.T) {
	t.Parallel()
	opts := sqlite.Options{BatchWindow: 200 * time.Microsecond, MaxBatch: 2, ReadConns: 1}
	storetest.Run(t, func(t *testing.T) hook.Store {
		return openTestOptions(t, filepath.Join(t.TempDir(), "herald.db"), opts)
	})
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
	return openTestOptions(t, path, sqlite.Options{})
}

func openTestOptions(t testing.TB, path string, opts sqlite.Options) *sqlite.DB {
	t.Helper()
	opts.Secrets = newBox(t, testKey)
	db, err := sqlite.Open(context.Background(), path, opts)
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
		Headers: map[string]string{"Authorization": "Bearer header-credential-7f3a9c"},
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
			"header value":    "header-credential-7f3a9c",
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
