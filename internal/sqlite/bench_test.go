package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/sqlite"
)

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
