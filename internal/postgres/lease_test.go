package postgres_test

import (
	"strings"
	"testing"
	"time"

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
