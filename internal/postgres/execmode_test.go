package postgres_test

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/pgtest"
)

// TestIngestExecModes ingests a batch with the database opened in each of
// pgx's query exec modes, which a URL may choose with
// default_query_exec_mode (simple_protocol and exec are what PgBouncer in
// transaction mode needs). Every mode passed before 752db61; since, exec and
// simple_protocol fail: pgx finds no type for textArray and friends (OID 0)
// because they are not registered in the connection's type map.
func TestIngestExecModes(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"cache_statement", "cache_describe", "describe_exec", "exec", "simple_protocol"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			url := pgtest.URL(t)
			openTest(t, url) // migrate with the default mode
			sep := "?"
			if strings.Contains(url, "?") {
				sep = "&"
			}
			db := openTest(t, url+sep+"default_query_exec_mode="+mode)
			mustTenant(t, db, "acme")
			mustEndpoint(t, db, "acme", 10)
			evs := []hook.Event{event("acme"), event("acme")}
			items, err := db.IngestBatch(t.Context(), evs)
			if err != nil {
				t.Fatalf("IngestBatch: %v", err)
			}
			for i, it := range items {
				if it.Err != nil || len(it.Result.Deliveries) != 1 {
					t.Errorf("item %d = %+v, %v; want one delivery", i, it.Result, it.Err)
				}
			}
		})
	}
}
