package sqlite

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/dispatch"
	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/seal"
)

// TestRetentionUnderIngest runs a retention sweep over 3,000 expired events
// while ingest goes on; BenchmarkRetentionUnderIngest does the same at
// 200,000.
func TestRetentionUnderIngest(t *testing.T) {
	t.Parallel()
	retentionUnderIngest(t, 3_000)
}

// BenchmarkRetentionUnderIngest runs a retention sweep over a database
// holding 200,000 expired events, each with a delivery and an attempt
// (600,000 rows), while 8 goroutines ingest, and logs the ingest latency
// before and during the sweep: the worst is how long ingest was held up by a
// batch on the one writer. It takes about a minute, so it is a benchmark:
//
//	go test -run '^$' -bench RetentionUnderIngest -benchtime 1x -v ./internal/sqlite/
func BenchmarkRetentionUnderIngest(b *testing.B) {
	for b.Loop() {
		retentionUnderIngest(b, 200_000)
	}
}

// retentionUnderIngest asserts what a sweep over expired old events deleted
// and kept; the timings are only logged, never asserted.
func retentionUnderIngest(t testing.TB, expired int) {
	const pending = 100 // expired events whose delivery is still pending
	ctx := context.Background()
	box, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, filepath.Join(t.TempDir(), "herald.db"), Options{Secrets: box})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := db.CreateTenant(ctx, hook.Tenant{ID: "acme", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	ep := hook.Endpoint{ID: hook.NewID(hook.PrefixEndpoint), TenantID: "acme", Events: []string{"*"},
		Secrets: []hook.Secret{{Key: "k"}}, Status: hook.EndpointActive, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	old := now.Add(-60 * 24 * time.Hour)
	insertOld(t, db, ep.ID, old, expired, hook.DeliverySucceeded)
	insertOld(t, db, ep.ID, old.Add(time.Hour), pending, hook.DeliveryPending)
	recent := ingestFor(t, db, now, 100)
	t.Logf("setup: %d expired events with a delivery and an attempt each, %d pending, in %s",
		expired, pending, time.Since(start).Round(time.Millisecond))

	// Ingest from 8 goroutines throughout the sweep, timing each call.
	var (
		wg       sync.WaitGroup
		stop     atomic.Bool
		mu       sync.Mutex
		lat      []time.Duration
		ingested []string
		warm     = make(chan struct{}) // closed after 200 ingests
	)
	for range 8 {
		wg.Go(func() {
			for !stop.Load() {
				ev := hook.Event{ID: hook.NewID(hook.PrefixEvent), TenantID: "acme", Type: "order.created", Data: []byte(`{}`), CreatedAt: time.Now()}
				t0 := time.Now()
				if _, err := db.Ingest(ctx, ev); err != nil {
					t.Errorf("Ingest during retention: %v", err)
					return
				}
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				ingested = append(ingested, ev.ID)
				if len(ingested) == 200 {
					close(warm)
				}
				mu.Unlock()
			}
		})
	}
	// Ingest alone first, for comparison.
	<-warm
	mu.Lock()
	base := slices.Clone(lat)
	lat = lat[:0]
	mu.Unlock()
	slices.Sort(base)
	if len(base) > 0 {
		t.Logf("before the sweep: %d ingests: p50 %s, p99 %s, worst %s", len(base),
			base[len(base)/2].Round(time.Microsecond), base[len(base)*99/100].Round(time.Microsecond), base[len(base)-1].Round(time.Microsecond))
	}
	timed := &timedExpirer{db: db}
	r, err := dispatch.NewRetention(dispatch.RetentionConfig{Store: timed, Retention: 30 * 24 * time.Hour}) // batches of 500
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	deleted, err := r.Sweep(ctx)
	took := time.Since(start)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if deleted != expired {
		t.Errorf("Sweep deleted %d events, want %d", deleted, expired)
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		t.Logf("sweep: %d events (%d rows) deleted in %s, batches of 500; %d ingests meanwhile: p50 %s, p99 %s, worst %s",
			deleted, 3*deleted, took.Round(time.Millisecond), len(lat),
			lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	}

	slices.Sort(timed.took)
	if n := len(timed.took); n > 0 {
		t.Logf("%d batches: p50 %s, worst %s", n, timed.took[n/2].Round(time.Microsecond), timed.took[n-1].Round(time.Microsecond))
	}

	count := func(query string, args ...any) int {
		t.Helper()
		var n int
		if err := db.read.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return n
	}
	horizon := micros(now.Add(-30 * 24 * time.Hour))
	for _, c := range []struct {
		what  string
		query string
		want  int
	}{
		{"expired events left", "SELECT count(*) FROM events WHERE created_at < ?", pending},
		{"deliveries of expired events left", "SELECT count(*) FROM deliveries WHERE created_at < ?", pending},
		{"pending deliveries of expired events left", "SELECT count(*) FROM deliveries WHERE created_at < ? AND status = 'pending'", pending},
		{"attempts of expired events left", "SELECT count(*) FROM attempts WHERE started_at < ?", pending},
		{"recent events", "SELECT count(*) FROM events WHERE created_at >= ?", len(recent) + len(ingested)},
	} {
		if got := count(c.query, horizon); got != c.want {
			t.Errorf("%s = %d, want %d", c.what, got, c.want)
		}
	}
}

// insertOld inserts n events of tenant acme created one millisecond apart
// from at, each with one delivery to endpointID in status and one attempt,
// straight in SQL, in writes of 20,000 events: Ingest would take minutes.
func insertOld(t testing.TB, db *DB, endpointID string, at time.Time, n int, status hook.DeliveryStatus) {
	t.Helper()
	const chunk = 20_000
	prefix := hook.NewID("old")
	for from := 0; from < n; from += chunk {
		to := min(n, from+chunk)
		err := db.w.write(context.Background(), func(ctx context.Context, tx *wtx) error {
			const series = `WITH RECURSIVE s(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM s WHERE i + 1 < ?) `
			base := micros(at)
			if _, err := tx.ExecContext(ctx, series+`INSERT INTO events (id, tenant_id, type, data, created_at)
				SELECT ? || '_' || i, 'acme', 'order.created', CAST('{"n":1}' AS BLOB), ? + i * 1000 FROM s`,
				from, to, prefix, base); err != nil {
				return err
			}
			next := any(nil)
			if status == hook.DeliveryPending {
				next = base + 365*24*3600*1e6
			}
			if _, err := tx.ExecContext(ctx, series+`INSERT INTO deliveries (id, event_id, endpoint_id, tenant_id, event_type, status,
					attempt_count, next_attempt_at, created_at, updated_at)
				SELECT 'dlv_' || ? || '_' || i, ? || '_' || i, ?, 'acme', 'order.created', ?, 1, ?, ? + i * 1000, ? + i * 1000 FROM s`,
				from, to, prefix, prefix, endpointID, string(status), next, base, base); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, series+`INSERT INTO attempts (id, delivery_id, endpoint_id, tenant_id, number, started_at,
					duration_us, request_headers, status_code, response_headers, response_body, error, error_message, seq)
				SELECT 'att_' || ? || '_' || i, 'dlv_' || ? || '_' || i, ?, 'acme', 1, ? + i * 1000 + 10,
					1000, 'null', 200, 'null', NULL, '', '', (SELECT last FROM attempt_seq) + 1 + i - ? FROM s`,
				from, to, prefix, prefix, endpointID, base, from); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "UPDATE attempt_seq SET last = last + ?", to-from)
			return err
		})
		if err != nil {
			t.Fatalf("insert old rows: %v", err)
		}
	}
}

// ingestFor ingests n events created at at and returns their ids.
func ingestFor(t testing.TB, db *DB, at time.Time, n int) []string {
	t.Helper()
	var ids []string
	for range n {
		ev := hook.Event{ID: hook.NewID(hook.PrefixEvent), TenantID: "acme", Type: "order.created", Data: []byte(`{}`), CreatedAt: at}
		if _, err := db.Ingest(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

// timedExpirer times each batch.
type timedExpirer struct {
	db   *DB
	took []time.Duration
}

func (e *timedExpirer) DeleteExpired(ctx context.Context, p hook.ExpireParams) (hook.ExpireResult, error) {
	start := time.Now()
	res, err := e.db.DeleteExpired(ctx, p)
	e.took = append(e.took, time.Since(start))
	return res, err
}
