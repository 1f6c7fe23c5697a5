package sqlite

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/seal"
)

// planDB opens and migrates an empty database for the plan tests.
func planDB(t *testing.T) *DB {
	t.Helper()
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
	return db
}

// explain returns the query plan of query, one line a step.
func explain(t *testing.T, db *DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
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
	return strings.Join(plan, "\n")
}

// TestClaimPlan pins the plan of the claim query: it must reach deliveries
// through each endpoint's pending index and by rowid, never by a scan, whose
// cost would grow with the backlog.
func TestClaimPlan(t *testing.T) {
	t.Parallel()
	all := explain(t, planDB(t), claimQuery, 1, hook.EndpointActive, "{}", 10, 10, "{}", "[]", false)
	for _, want := range []string{
		"MATERIALIZE room",
		"SEARCH e USING INDEX endpoints_active (status=?)",
		"SEARCH d USING INTEGER PRIMARY KEY (rowid=?)",
		"SEARCH deliveries USING COVERING INDEX deliveries_pending (endpoint_id=? AND next_attempt_at<?)",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("claim plan lacks %q:\n%s", want, all)
		}
	}
	for line := range strings.SplitSeq(all, "\n") {
		if line == "SCAN d" || strings.HasPrefix(line, "SCAN d ") || strings.HasPrefix(line, "SCAN deliveries") {
			t.Errorf("claim plan scans deliveries: %q\n%s", line, all)
		}
	}
}

// TestClaimedPlan pins the plan of the read of claimed deliveries:
// deliveries by rowid, never a scan.
func TestClaimedPlan(t *testing.T) {
	t.Parallel()
	all := explain(t, planDB(t), claimedQuery, "[1,2]", hook.EndpointActive, 1)
	if !strings.Contains(all, "SEARCH deliveries USING INTEGER PRIMARY KEY (rowid=?)") {
		t.Errorf("claimed plan does not reach deliveries by rowid:\n%s", all)
	}
	for line := range strings.SplitSeq(all, "\n") {
		if strings.HasPrefix(line, "SCAN deliveries") {
			t.Errorf("claimed plan scans deliveries: %q\n%s", line, all)
		}
	}
}

// TestQueueStatsPlan pins the plan of QueueStats: the partial index of
// pending deliveries alone, never the table.
func TestQueueStatsPlan(t *testing.T) {
	t.Parallel()
	all := explain(t, planDB(t), queueStatsQuery, 1, "[]")
	if !strings.Contains(all, "USING COVERING INDEX deliveries_pending") {
		t.Errorf("queue stats plan does not read deliveries_pending alone:\n%s", all)
	}
	for line := range strings.SplitSeq(all, "\n") {
		if strings.HasPrefix(line, "SCAN deliveries") && !strings.Contains(line, "COVERING INDEX deliveries_pending") {
			t.Errorf("queue stats plan scans deliveries: %q\n%s", line, all)
		}
	}
}

// hotLimitParam finds a LIMIT or OFFSET that is a bare parameter.
var hotLimitParam = regexp.MustCompile(`(?i)\b(LIMIT|OFFSET)\s+\?\d*\s*($|[^\s+\-*/\d])`)

// TestHotStatementsKeepTheirPlan: SQLite's planner reads the value of a
// LIMIT or OFFSET that is a bare parameter, and a statement whose plan read
// a parameter is compiled again each time that parameter is bound. A
// statement that runs on every claim must not pay that: its limit is an
// expression (?4 + 0), which the planner leaves alone. (database/sql shows
// no count of recompilations, so this test reads the statements instead.)
func TestHotStatementsKeepTheirPlan(t *testing.T) {
	if !hotLimitParam.MatchString("SELECT 1 LIMIT ?4") || !hotLimitParam.MatchString("SELECT 1 LIMIT ?") {
		t.Fatal("the check misses a bare LIMIT parameter")
	}
	for name, q := range map[string]string{"claimQuery": claimQuery, "claimedQuery": claimedQuery} {
		if m := hotLimitParam.FindString(q); m != "" {
			t.Errorf("%s has a bare parameter as its limit: %q", name, m)
		}
	}
}
