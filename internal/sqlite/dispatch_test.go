package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/sqlite"
)

// claimAll claims every delivery due at now with a 10s lease margin.
func claimAll(t *testing.T, db *sqlite.DB) []hook.Claim {
	t.Helper()
	cs, err := db.ClaimDeliveries(t.Context(), hook.ClaimParams{Now: now, Limit: 10, LeaseMargin: 10 * time.Second})
	if err != nil {
		t.Fatalf("ClaimDeliveries: %v", err)
	}
	return cs
}

// TestLeasesAfterRestart: the leases of a process that stopped end when the
// database is next opened, without waiting for them to expire; a repeated
// Migrate does not end the leases of the process that runs it.
func TestLeasesAfterRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	db := openTest(t, path)
	ctx := t.Context()
	if err := db.CreateTenant(ctx, hook.Tenant{ID: "acme", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	ep := hook.Endpoint{
		ID: hook.NewID(hook.PrefixEndpoint), TenantID: "acme", URL: "https://example.com/hook",
		Events: []string{"*"}, Secrets: []hook.Secret{{Key: "whsec_x"}}, SignatureScheme: hook.SchemeStandard,
		MaxInFlight: 1, Timeout: time.Second, Status: hook.EndpointActive, CreatedAt: now, UpdatedAt: now,
	}
	if err := db.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Ingest(ctx, hook.Event{ID: "evt_1", TenantID: "acme", Type: "a.b", Data: []byte(`{}`), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	first := claimAll(t, db)
	if len(first) != 1 {
		t.Fatalf("first claim: %d claims, want 1", len(first))
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if cs := claimAll(t, db); len(cs) != 0 {
		t.Fatalf("claim after a repeated Migrate: %d claims, want 0 (still leased)", len(cs))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openTest(t, path)
	again := claimAll(t, db)
	if len(again) != 1 || again[0].Token == first[0].Token {
		t.Fatalf("claim after reopening: %d claims; want the delivery, with a new token", len(again))
	}
	err := db.ReleaseClaim(ctx, first[0].Delivery.ID, first[0].Token, now)
	if err == nil {
		t.Error("ReleaseClaim with the token of the stopped process succeeded")
	}
}
