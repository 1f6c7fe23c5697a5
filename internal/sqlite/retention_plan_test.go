package sqlite

import (
	"strings"
	"testing"
)

// TestExpirePlan pins the plans of a retention batch: events are reached
// through their created_at index and deliveries through their event's, never
// by a scan, whose cost would grow with the history on the one writer.
func TestExpirePlan(t *testing.T) {
	t.Parallel()
	db := planDB(t)
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
