package sqlite

import (
	"strings"
	"testing"
)

// TestStatsPlan pins the plans of EndpointStats: each reads the endpoint's
// week through an index, never by a scan of the table, and the percentile
// and delivery counts from the index alone.
func TestStatsPlan(t *testing.T) {
	t.Parallel()
	db := planDB(t)
	for _, tc := range []struct {
		name, query string
		args        []any
		want        string
	}{
		{"deliveries", statsDeliveriesQuery, []any{3, 2, 1, "ep"},
			"SEARCH deliveries USING COVERING INDEX deliveries_endpoint_created (endpoint_id=? AND created_at>?)"},
		{"attempts", statsAttemptsQuery, []any{3, 2, 1, "ep"},
			"SEARCH attempts USING INDEX attempts_endpoint_started (endpoint_id=? AND started_at>?)"},
		{"percentile", percentileQuery, []any{"ep", 1, 5},
			"SEARCH attempts USING COVERING INDEX attempts_endpoint_started (endpoint_id=? AND started_at>?)"},
	} {
		rows, err := db.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tc.query, tc.args...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if all := strings.Join(plan, "\n"); !strings.Contains(all, tc.want) {
			t.Errorf("%s plan lacks %q:\n%s", tc.name, tc.want, all)
		}
	}
}
