package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/seal"
)

// TestClaimPlan pins the plan of the claim query: it must reach deliveries
// through each endpoint's pending index and by rowid, never by a scan, whose
// cost would grow with the backlog on the one writer.
func TestClaimPlan(t *testing.T) {
	t.Parallel()
	box, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "herald.db"), Options{Secrets: box})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, err := db.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+claimQuery, 1, hook.EndpointActive, "{}", 10, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(plan, "\n")
	for _, want := range []string{
		"MATERIALIZE room",
		"SEARCH d USING INTEGER PRIMARY KEY (rowid=?)",
		"SEARCH deliveries USING INDEX deliveries_pending (endpoint_id=? AND next_attempt_at<?)",
		"USING COVERING INDEX deliveries_leased (endpoint_id=? AND lease_until>?)",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("claim plan lacks %q:\n%s", want, all)
		}
	}
	for _, line := range plan {
		if line == "SCAN d" || strings.HasPrefix(line, "SCAN d ") || strings.HasPrefix(line, "SCAN deliveries") {
			t.Errorf("claim plan scans deliveries: %q\n%s", line, all)
		}
	}
}

// TestLeasePlan pins the plan of the lease update: deliveries by rowid,
// never a scan.
func TestLeasePlan(t *testing.T) {
	t.Parallel()
	box, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "herald.db"), Options{Secrets: box})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, err := db.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+leaseQuery, "[1,2]", 1, hook.EndpointActive, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(plan, "\n")
	if !strings.Contains(all, "SEARCH deliveries USING INTEGER PRIMARY KEY (rowid=?)") {
		t.Errorf("lease plan does not reach deliveries by rowid:\n%s", all)
	}
	for _, line := range plan {
		if strings.HasPrefix(line, "SCAN deliveries") {
			t.Errorf("lease plan scans deliveries: %q\n%s", line, all)
		}
	}
}
