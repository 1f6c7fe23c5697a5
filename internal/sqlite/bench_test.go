package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

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

// claimBenchDB opens a database with tenant acme and, for each of types,
// an active endpoint subscribed to it.
func claimBenchDB(b *testing.B, types []string) *sqlite.DB {
	ctx := context.Background()
	db := openTest(b, filepath.Join(b.TempDir(), "herald.db"))
	if err := db.CreateTenant(ctx, hook.Tenant{ID: "acme", CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	for _, typ := range types {
		ep := hook.Endpoint{ID: hook.NewID(hook.PrefixEndpoint), TenantID: "acme", Events: []string{typ},
			Secrets: []hook.Secret{{Key: "k"}}, MaxInFlight: 64, Timeout: time.Second,
			Status: hook.EndpointActive, CreatedAt: now, UpdatedAt: now}
		if err := db.CreateEndpoint(ctx, ep); err != nil {
			b.Fatal(err)
		}
	}
	return db
}

// ingestTypes ingests n events of tenant acme, taking the types in turn.
func ingestTypes(b *testing.B, db *sqlite.DB, n int, types []string) {
	var evs []hook.Event
	for i := range n {
		evs = append(evs, hook.Event{ID: hook.NewID(hook.PrefixEvent), TenantID: "acme",
			Type: types[i%len(types)], Data: []byte(`{}`), CreatedAt: now})
	}
	if _, err := db.IngestBatch(context.Background(), evs); err != nil {
		b.Fatal(err)
	}
}

// benchClaims times claims of up to 64 deliveries at at, each released
// untimed, and fails unless each claims want (any number, when want is 0).
func benchClaims(b *testing.B, db *sqlite.DB, at time.Time, want int) {
	ctx := context.Background()
	for b.Loop() {
		cs, err := db.ClaimDeliveries(ctx, hook.ClaimParams{Now: at, Limit: 64, LeaseMargin: time.Minute})
		if err != nil || len(cs) == 0 || want > 0 && len(cs) != want {
			b.Fatalf("claim: %d, %v", len(cs), err)
		}
		b.StopTimer()
		for _, c := range cs {
			if err := db.ReleaseClaim(ctx, c.Delivery.ID, c.Token, at); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
}

// BenchmarkClaimIdleEndpoints measures one claim (of up to 64 deliveries,
// then released) when 50 endpoints have due deliveries and the others,
// active, have none: the claim's cost in the number of endpoints.
func BenchmarkClaimIdleEndpoints(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			types := make([]string, n)
			for i := range types {
				types[i] = "idle"
				if i < 50 {
					types[i] = fmt.Sprintf("busy.%d", i)
				}
			}
			db := claimBenchDB(b, types)
			ingestTypes(b, db, 2000, types[:50])
			benchClaims(b, db, now.Add(time.Second), 0)
		})
	}
}

// BenchmarkClaimBacklog measures one run of the claim query (a claim of up
// to 64, then released) with 100 endpoints, a backlog of 200 due
// deliveries each, and 256 of them leased, as under load.
func BenchmarkClaimBacklog(b *testing.B) {
	types := make([]string, 100)
	for i := range types {
		types[i] = fmt.Sprintf("t.%d", i)
	}
	db := claimBenchDB(b, types)
	for range 40 {
		ingestTypes(b, db, 500, types)
	}
	at := now.Add(time.Second)
	held, err := db.ClaimDeliveries(context.Background(), hook.ClaimParams{Now: at, Limit: 256, LeaseMargin: time.Hour})
	if err != nil || len(held) != 256 {
		b.Fatalf("claim: %d, %v", len(held), err)
	}
	benchClaims(b, db, at, 64)
}
