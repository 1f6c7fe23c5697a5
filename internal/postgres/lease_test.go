package postgres_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/pgtest"
)

// TestLeasePlanFindsPicksByKey checks that leaseQuery finds each pick by
// its key, with a backlog of due deliveries that it must not read: a plan
// that reads the due deliveries (the deliveries_pending index) costs a
// claim time in proportion to the backlog.
func TestLeasePlanFindsPicksByKey(t *testing.T) {
	t.Parallel()
	db := openTest(t, pgtest.URL(t))
	ctx := t.Context()
	mustTenant(t, db, "acme")
	mustEndpoint(t, db, "acme", 10)
	var evs []hook.Event
	for range 300 {
		evs = append(evs, event("acme"))
	}
	if _, err := db.IngestBatch(ctx, evs); err != nil {
		t.Fatalf("IngestBatch: %v", err)
	}
	var seqs []int64
	rows, err := db.Pool().Query(ctx, "SELECT seq FROM deliveries ORDER BY seq LIMIT 5")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, s)
	}
	if err := rows.Err(); err != nil || len(seqs) != 5 {
		t.Fatalf("seqs = %v, %v; want 5", seqs, err)
	}
	// The plan made for these arguments, and the generic plan that the
	// statement cache may switch to. Each must find both the pick (the
	// lateral subquery) and the row it updates by the primary key, and read
	// no other way.
	for _, generic := range []bool{false, true} {
		plan, err := db.ExplainLease(ctx, seqs, time.Now(), generic)
		if err != nil {
			t.Fatalf("explain leaseQuery (generic %v): %v", generic, err)
		}
		if strings.Contains(plan, "deliveries_pending") || strings.Contains(plan, "Seq Scan on deliveries") ||
			strings.Count(plan, "deliveries_pkey") < 2 {
			t.Fatalf("plan of leaseQuery (generic %v) reads the due deliveries, or not by key:\n%s", generic, plan)
		}
	}
}

// TestLeaseRows checks that the leases table holds exactly the leases of
// the deliveries, with their lease ends, through claims, a success, a
// failure to retry, a release, claims of expired leases, and the deletion
// of an endpoint and of its tenant; and that the live leases it counts
// keep each endpoint within its MaxInFlight.
func TestLeaseRows(t *testing.T) {
	t.Parallel()
	db := openTest(t, pgtest.URL(t))
	ctx := t.Context()
	mustTenant(t, db, "acme")
	eps := []hook.Endpoint{mustEndpoint(t, db, "acme", 4), mustEndpoint(t, db, "acme", 4), mustEndpoint(t, db, "acme", 4)}
	var evs []hook.Event
	for range 20 {
		evs = append(evs, event("acme"))
	}
	if _, err := db.IngestBatch(ctx, evs); err != nil {
		t.Fatalf("IngestBatch: %v", err)
	}
	check := func(step string) { t.Helper(); checkLeaseRows(t, db, step) }
	claim := func(step string, now time.Time, want int) []hook.Claim {
		t.Helper()
		cs, err := db.ClaimDeliveries(ctx, hook.ClaimParams{Now: now, Limit: 100})
		if err != nil {
			t.Fatalf("%s: ClaimDeliveries: %v", step, err)
		}
		if len(cs) != want {
			t.Fatalf("%s: claimed %d, want %d", step, len(cs), want)
		}
		check(step)
		return cs
	}
	now := hotT0.Add(time.Second)
	cs := claim("first claim", now, 12) // 4 of each endpoint's 20
	claim("claim at MaxInFlight", now, 0)

	outcome := func(c hook.Claim, status hook.DeliveryStatus, code int) hook.Outcome {
		a := hook.Attempt{ID: hook.NewID(hook.PrefixAttempt), DeliveryID: c.Delivery.ID, EndpointID: c.Endpoint.ID,
			TenantID: c.Delivery.TenantID, Number: 1, StartedAt: now, StatusCode: code}
		if status == hook.DeliveryPending {
			a.NextRetryAt = now.Add(time.Millisecond)
		}
		return hook.Outcome{Attempt: a, Status: status}
	}
	if _, err := db.CompleteAttempt(ctx, cs[0].Token, outcome(cs[0], hook.DeliverySucceeded, 200)); err != nil {
		t.Fatalf("CompleteAttempt success: %v", err)
	}
	if _, err := db.CompleteAttempt(ctx, cs[1].Token, outcome(cs[1], hook.DeliveryPending, 500)); err != nil {
		t.Fatalf("CompleteAttempt failure: %v", err)
	}
	if err := db.ReleaseClaim(ctx, cs[2].Delivery.ID, cs[2].Token, now); err != nil {
		t.Fatalf("ReleaseClaim: %v", err)
	}
	check("after a success, a failure and a release")
	claim("claim of the room freed", now, 3)

	// Every lease has expired an hour later: they are all claimed again,
	// each row in leases taken over, not added to.
	later := now.Add(time.Hour)
	cs = claim("claim of expired leases", later, 12)
	var rows int
	if err := db.Pool().QueryRow(ctx, "SELECT count(*) FROM leases").Scan(&rows); err != nil || rows != 12 {
		t.Fatalf("leases has %d rows (%v), want 12", rows, err)
	}
	if _, err := db.CompleteAttempt(ctx, cs[0].Token, outcome(cs[0], hook.DeliverySucceeded, 200)); err != nil {
		t.Fatalf("CompleteAttempt after the claim of expired leases: %v", err)
	}
	check("after a completion of a lease taken over")

	if err := db.DeleteEndpoint(ctx, eps[0].ID, later); err != nil {
		t.Fatalf("DeleteEndpoint: %v", err)
	}
	check("after DeleteEndpoint")
	if err := db.DeleteTenant(ctx, "acme", later); err != nil {
		t.Fatalf("DeleteTenant: %v", err)
	}
	check("after DeleteTenant")
	if err := db.Pool().QueryRow(ctx, "SELECT count(*) FROM leases").Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("leases has %d rows (%v) after its tenant was deleted, want 0", rows, err)
	}
}

// TestLeaseChangesNoIndexedColumn checks what lets PostgreSQL write a lease
// as a heap-only tuple, touching none of the eight indexes of deliveries:
// no index of deliveries reads the columns a lease sets (in its key, its
// INCLUDE columns, an expression or its predicate), and the table leaves
// room on its pages for the lease's new version of a row.
func TestLeaseChangesNoIndexedColumn(t *testing.T) {
	t.Parallel()
	db := openTest(t, pgtest.URL(t))
	rows, err := db.Pool().Query(t.Context(), "SELECT indexdef FROM pg_indexes WHERE tablename = 'deliveries'")
	if err != nil {
		t.Fatal(err)
	}
	defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(defs) < 5 {
		t.Fatalf("indexes of deliveries: %v, %v", defs, err)
	}
	for _, d := range defs {
		if strings.Contains(d, "claim_token") || strings.Contains(d, "lease_until") {
			t.Errorf("an index of deliveries reads a column that leases set, so no lease is a HOT update: %s", d)
		}
	}
	var opts []string
	if err := db.Pool().QueryRow(t.Context(), "SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = 'deliveries'::regclass").Scan(&opts); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(opts, "fillfactor=50") {
		t.Errorf("deliveries has options %v, want fillfactor=50", opts)
	}
}

// TestLiveLeasesPlan checks that claims count an endpoint's live leases
// with a plain index scan of leases, in the plan made for the arguments
// and in the generic plan: a bitmap scan visits the row of every index
// entry, dead ones included (each completion leaves one), on every claim,
// where a plain index scan marks the dead entries it meets so that the
// next claims skip them.
func TestLiveLeasesPlan(t *testing.T) {
	t.Parallel()
	db := openTest(t, pgtest.URL(t))
	ctx := t.Context()
	mustTenant(t, db, "acme")
	var ids []string
	for range 3 {
		ids = append(ids, mustEndpoint(t, db, "acme", 8).ID)
	}
	for _, generic := range []bool{false, true} {
		plans, err := db.ExplainClaim(ctx, ids, time.Now(), generic)
		if err != nil {
			t.Fatalf("explain the claim (generic %v): %v", generic, err)
		}
		for i, plan := range plans {
			if strings.Contains(plan, "Bitmap Heap Scan on leases") || !strings.Contains(plan, "Index Scan using leases_pkey on leases") {
				t.Errorf("plan %d of the claim (generic %v) does not count live leases with a plain index scan:\n%s", i, generic, plan)
			}
		}
	}
}
