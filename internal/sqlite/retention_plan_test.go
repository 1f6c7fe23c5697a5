package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/seal"
)

// TestExpirePlan pins the plans of a retention batch: events are reached
// through their created_at index and deliveries through their event's, never
// by a scan, whose cost would grow with the history on the one writer.
func TestExpirePlan(t *testing.T) {
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
	for _, q := range []struct {
		query string
		args  []any
		want  []string
	}{
		{expireBoundQuery, []any{10, 0, 0, 499}, []string{"SEARCH events USING COVERING INDEX events_created (created_at>? AND created_at<?)"}},
		{expireDeleteQuery, []any{10, 0, 0, 5, 5}, []string{
			"SEARCH events USING INDEX events_created (created_at>? AND created_at<?)",
			"SEARCH d USING INDEX sqlite_autoindex_deliveries_2 (event_id=?)",
		}},
	} {
		plan := explain(t, db, q.query, q.args...)
		for _, want := range q.want {
			if !strings.Contains(plan, want) {
				t.Errorf("plan lacks %q:\n%s", want, plan)
			}
		}
		if strings.Contains(plan, "SCAN") {
			t.Errorf("plan scans a table:\n%s", plan)
		}
	}
}

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
