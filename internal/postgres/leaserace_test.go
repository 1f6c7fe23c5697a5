package postgres_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/postgres"
)

// checkLeaseRows fails the test unless leases holds exactly one row per
// leased delivery, with its lease end, and no other row.
func checkLeaseRows(t *testing.T, db *postgres.DB, step string) {
	t.Helper()
	var missing, extra int
	err := db.Pool().QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM deliveries d WHERE d.claim_token IS NOT NULL AND NOT EXISTS (SELECT 1 FROM leases l
			WHERE l.endpoint_id = d.endpoint_id AND l.delivery_seq = d.seq AND l.lease_until = d.lease_until)),
		(SELECT count(*) FROM leases l WHERE NOT EXISTS (SELECT 1 FROM deliveries d
			WHERE l.endpoint_id = d.endpoint_id AND l.delivery_seq = d.seq AND d.claim_token IS NOT NULL))`).
		Scan(&missing, &extra)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	if missing != 0 || extra != 0 {
		t.Fatalf("%s: %d leases of deliveries without their row in leases, %d rows in leases of no lease", step, missing, extra)
	}
}

func leaseOutcome(c hook.Claim, at time.Time, status hook.DeliveryStatus, code int) hook.Outcome {
	a := hook.Attempt{ID: hook.NewID(hook.PrefixAttempt), DeliveryID: c.Delivery.ID, EndpointID: c.Endpoint.ID,
		TenantID: c.Delivery.TenantID, Number: 1, StartedAt: at, StatusCode: code}
	if status == hook.DeliveryPending {
		a.Error, a.NextRetryAt = "http_status", at.Add(time.Hour)
	}
	return hook.Outcome{Attempt: a, Status: status}
}

// TestLeaseRowsBatched is TestLeaseRows for completions recorded in
// one batch (successesQuery for the successes, completeQuery in the same
// transaction for a failure), with two successes of one endpoint and two
// completions of one delivery: TestLeaseRows completes one at a time, so
// it never runs successesQuery's endLeases.
func TestLeaseRowsBatched(t *testing.T) {
	t.Parallel()
	db := openTest(t, pgtest.URL(t))
	ctx := t.Context()
	mustTenant(t, db, "acme")
	eps := []hook.Endpoint{mustEndpoint(t, db, "acme", 3), mustEndpoint(t, db, "acme", 3)}
	var evs []hook.Event
	for range 6 {
		evs = append(evs, event("acme"))
	}
	if _, err := db.IngestBatch(ctx, evs); err != nil {
		t.Fatalf("IngestBatch: %v", err)
	}
	now := hotT0.Add(time.Second)
	all, err := db.ClaimDeliveries(ctx, hook.ClaimParams{Now: now, Limit: 100})
	if err != nil || len(all) != 6 {
		t.Fatalf("ClaimDeliveries = %d, %v; want 6", len(all), err)
	}
	checkLeaseRows(t, db, "first claim")
	by := map[string][]hook.Claim{}
	for _, c := range all {
		by[c.Endpoint.ID] = append(by[c.Endpoint.ID], c)
	}
	e1, e2 := by[eps[0].ID], by[eps[1].ID]
	twice := leaseOutcome(e2[0], now, hook.DeliverySucceeded, 200)
	tokens := []string{e1[0].Token, e1[1].Token, e2[0].Token, e2[0].Token, e2[1].Token}
	outcomes := []hook.Outcome{
		leaseOutcome(e1[0], now, hook.DeliverySucceeded, 200),
		leaseOutcome(e1[1], now, hook.DeliverySucceeded, 204),
		leaseOutcome(e2[0], now, hook.DeliverySucceeded, 200),
		twice,
		leaseOutcome(e2[1], now, hook.DeliveryPending, 500),
	}
	errs, err := db.CompleteTogether(ctx, tokens, outcomes)
	if err != nil {
		t.Fatal(err)
	}
	recorded := 0
	for i, e := range errs {
		switch {
		case e == nil:
			recorded++
		case !errors.Is(e, hook.ErrConflict):
			t.Fatalf("completion %d: %v", i, e)
		}
	}
	if recorded != 4 {
		t.Fatalf("%d completions recorded (%v), want 4: one of the two of one delivery is refused", recorded, errs)
	}
	checkLeaseRows(t, db, "after a batch of completions")
	// e1 has 1 live lease left of 3, e2 1: room for 2 each.
	again, err := db.ClaimDeliveries(ctx, hook.ClaimParams{Now: now, Limit: 100})
	if err != nil || len(again) != 4 {
		t.Fatalf("ClaimDeliveries after the batch = %d, %v; want 4 (2 per endpoint)", len(again), err)
	}
	checkLeaseRows(t, db, "claim after the batch")
}

// downgradeLeases takes a database migrated by this Herald back to the
// schema of the Herald before 0005_leases, keeping its data: what a
// running node of the previous version sees.
func downgradeLeases(t *testing.T, db *postgres.DB) {
	t.Helper()
	_, err := db.Pool().Exec(t.Context(), `DROP TABLE leases;
		ALTER TABLE deliveries RESET (fillfactor);
		CREATE INDEX deliveries_leased ON deliveries (endpoint_id, lease_until) WHERE lease_until IS NOT NULL;
		DELETE FROM schema_migrations WHERE version = 5`)
	if err != nil {
		t.Fatal(err)
	}
}

// oldLeaseQuery is leaseQuery as the Herald before 0005_leases ran it (main
// at 32cf3f5): a lease is only its delivery's columns.
const oldLeaseQuery = `UPDATE deliveries d SET claim_token = l.token, lease_until = l.lease_until
	FROM unnest($1::bigint[], $2::text[], $3::timestamptz[]) AS l (seq, token, lease_until)
		CROSS JOIN LATERAL (SELECT c.seq FROM deliveries c
			WHERE c.seq = l.seq AND c.status = 'pending' AND c.next_attempt_at <= $4
				AND (c.lease_until IS NULL OR c.lease_until <= $4)
			LIMIT 1
			FOR UPDATE SKIP LOCKED) c
	WHERE d.seq = c.seq
	RETURNING d.seq`

// TestMigrationCopiesLeaseInFlight checks that 0005_leases copies a lease
// that a node of the previous Herald has made and not yet committed when
// the migration starts: the migration waits for it (LOCK TABLE) before
// its copy. Copied with a snapshot taken before that claim committed, the
// lease would be in deliveries and not in leases: uncounted, so that the
// endpoint's MaxInFlight is exceeded.
func TestMigrationCopiesLeaseInFlight(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	db := openTest(t, url)
	ctx := t.Context()
	mustTenant(t, db, "acme")
	ep := mustEndpoint(t, db, "acme", 1)
	if _, err := db.IngestBatch(ctx, []hook.Event{event("acme"), event("acme")}); err != nil {
		t.Fatalf("IngestBatch: %v", err)
	}
	downgradeLeases(t, db)
	now := hotT0.Add(time.Second)

	// An old node's claim, not yet committed.
	old, err := db.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Rollback(context.Background())
	var seq int64
	if err := old.QueryRow(ctx, "SELECT min(seq) FROM deliveries WHERE endpoint_id = $1", ep.ID).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	var leased int64
	err = old.QueryRow(ctx, oldLeaseQuery, []int64{seq}, []string{"clm_old"}, []time.Time{now.Add(time.Hour)}, now).Scan(&leased)
	if err != nil {
		t.Fatalf("old lease: %v", err)
	}

	done := make(chan error, 1)
	go func() { done <- db.Migrate(ctx) }()
	// Wait until the migration waits for a lock on deliveries (its DROP
	// INDEX), past its INSERT ... SELECT.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var waiting int
		err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_locks
			WHERE NOT granted AND relation = 'deliveries'::regclass
				AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Migrate returned (%v) while an old claim held its lock", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the migration never waited for the old claim")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := old.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Migrate: %v", err)
	}

	var missing int
	err = db.Pool().QueryRow(ctx, `SELECT count(*) FROM deliveries d WHERE d.lease_until > $1
		AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.endpoint_id = d.endpoint_id AND l.delivery_seq = d.seq)`, now).Scan(&missing)
	if err != nil {
		t.Fatal(err)
	}
	if missing != 0 {
		t.Errorf("after the migration, %d live lease(s) in deliveries have no row in leases", missing)
	}
	cs, err := db.ClaimDeliveries(ctx, hook.ClaimParams{Now: now, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 0 {
		t.Errorf("claimed %d more of an endpoint with MaxInFlight 1 and one live lease, want 0", len(cs))
	}
}

// TestLeaseStress runs two nodes (pools of their own) that claim on
// a clock that moves on, complete concurrently (so that the completer
// batches), fail, release and abandon their claims (abandoned leases
// expire, are taken over, and their stale tokens are refused later), while
// a third goroutine retries, disables, enables and finally deletes an
// endpoint. A monitor checks that no endpoint ever holds more live leases
// (in deliveries, the truth) than its MaxInFlight; at the end leases must
// match deliveries, and the deadlocks PostgreSQL detected are logged.
func TestLeaseStress(t *testing.T) {
	if testing.Short() {
		t.Skip("stress")
	}
	t.Parallel()
	url := pgtest.URL(t)
	nodes := []*postgres.DB{openTest(t, url), openNoMigrate(t, url)}
	ctx := t.Context()
	db := nodes[0]
	mustTenant(t, db, "acme")
	const maxInFlight = 3
	var eps []hook.Endpoint
	for range 4 {
		ep := mustEndpoint(t, db, "acme", maxInFlight)
		ep.Timeout = time.Second
		if err := db.UpdateEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
		eps = append(eps, ep)
	}
	for range 10 {
		var evs []hook.Event
		for range 50 {
			evs = append(evs, event("acme"))
		}
		if _, err := db.IngestBatch(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	var deadlocksBefore int64
	if err := db.Pool().QueryRow(ctx, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").Scan(&deadlocksBefore); err != nil {
		t.Fatal(err)
	}

	var clock atomic.Int64 // ms after hotT0
	clock.Store(1000)
	at := func(ms int64) time.Time { return hotT0.Add(time.Duration(ms) * time.Millisecond) }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var unexpected atomic.Int64
	fail := func(format string, args ...any) {
		if unexpected.Add(1) <= 10 {
			t.Errorf(format, args...)
		}
	}
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	for i, node := range nodes {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 7))
			var stale []hook.Claim
			for !stopped() {
				now := at(clock.Add(20))
				cs, err := node.ClaimDeliveries(ctx, hook.ClaimParams{Now: now, Limit: 8})
				if err != nil {
					fail("node %d: ClaimDeliveries: %v", i, err)
					return
				}
				var cw sync.WaitGroup
				for _, c := range cs {
					k := r.IntN(10)
					cw.Go(func() {
						var err error
						switch {
						case k < 6:
							_, err = node.CompleteAttempt(ctx, c.Token, leaseOutcome(c, now, hook.DeliverySucceeded, 200))
						case k < 8:
							o := leaseOutcome(c, now, hook.DeliveryPending, 500)
							o.Attempt.NextRetryAt = now.Add(50 * time.Millisecond)
							_, err = node.CompleteAttempt(ctx, c.Token, o)
						case k < 9:
							err = node.ReleaseClaim(ctx, c.Delivery.ID, c.Token, now)
						}
						if err != nil && !errors.Is(err, hook.ErrConflict) {
							fail("node %d: completion: %v", i, err)
						}
					})
					if k == 9 {
						stale = append(stale, c)
					}
				}
				cw.Wait()
				if len(stale) > 20 {
					for _, c := range stale {
						_, err := node.CompleteAttempt(ctx, c.Token, leaseOutcome(c, now, hook.DeliverySucceeded, 200))
						if err != nil && !errors.Is(err, hook.ErrConflict) {
							fail("node %d: late completion: %v", i, err)
						}
					}
					stale = stale[:0]
				}
				if len(cs) == 0 {
					time.Sleep(2 * time.Millisecond)
				}
			}
		})
	}
	wg.Go(func() {
		r := rand.New(rand.NewPCG(9, 9))
		for n := 0; !stopped(); n++ {
			time.Sleep(20 * time.Millisecond)
			now := at(clock.Load())
			ep := eps[r.IntN(len(eps)-1)+1]
			var err error
			switch n % 4 {
			case 0:
				var id string
				if db.Pool().QueryRow(ctx, "SELECT id FROM deliveries WHERE status <> 'pending' ORDER BY random() LIMIT 1").Scan(&id) == nil {
					_, err = nodes[1].RetryDelivery(ctx, id, now)
				}
			case 1:
				_, err = db.DisableEndpoint(ctx, ep.ID, "test", now)
			case 2, 3:
				_, err = nodes[1].EnableEndpoint(ctx, ep.ID, now)
			}
			if err != nil && !errors.Is(err, hook.ErrConflict) {
				fail("admin: %v", err)
			}
			if n == 100 {
				if err := db.DeleteEndpoint(ctx, eps[0].ID, now); err != nil {
					fail("DeleteEndpoint: %v", err)
				}
			}
		}
	})
	// The monitor: leases made at or before T (lease_until - 1s <= T,
	// every endpoint's timeout is 1s, margin 0) and live at T.
	var worst atomic.Int64
	wg.Go(func() {
		for !stopped() {
			T := at(clock.Load())
			var most int64
			err := db.Pool().QueryRow(ctx, `SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM deliveries
				WHERE lease_until > $1 AND lease_until - interval '1 second' <= $1 GROUP BY endpoint_id) x`, T).Scan(&most)
			if err != nil {
				fail("monitor: %v", err)
				return
			}
			if most > worst.Load() {
				worst.Store(most)
			}
			time.Sleep(time.Millisecond)
		}
	})
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	if w := worst.Load(); w > maxInFlight {
		t.Errorf("an endpoint held %d live leases, MaxInFlight %d", w, maxInFlight)
	}
	checkLeaseRows(t, db, "after the stress")
	var rows, attempts, pending int64
	db.Pool().QueryRow(ctx, "SELECT (SELECT count(*) FROM leases), (SELECT count(*) FROM attempts), (SELECT count(*) FROM deliveries WHERE status = 'pending')").
		Scan(&rows, &attempts, &pending)
	time.Sleep(1500 * time.Millisecond) // the stats of the backends that deadlocked are flushed
	var deadlocks int64
	if err := db.Pool().QueryRow(ctx, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").Scan(&deadlocks); err != nil {
		t.Fatal(err)
	}
	t.Logf("clock %dms, %d attempts, %d pending, %d rows in leases, worst live leases %d, deadlocks detected %d",
		clock.Load(), attempts, pending, rows, worst.Load(), deadlocks-deadlocksBefore)
}

// TestRetentionLeavesNoLeaseRow checks that retention leaves no row in
// leases behind. DeleteExpired decides with its statement's snapshot that
// an event has no pending delivery, and the cascade deletes its deliveries
// as they are then: a delivery retried and claimed in between (here the
// event's row lock, held by another transaction, widens the window) is
// deleted with its lease, and its row in leases, left, would count as a
// live lease of its endpoint until the lease ended. (That retention
// deletes a delivery just retried is older than the leases table.)
func TestRetentionLeavesNoLeaseRow(t *testing.T) {
	t.Parallel()
	db := openTest(t, pgtest.URL(t))
	ctx := t.Context()
	mustTenant(t, db, "acme")
	mustEndpoint(t, db, "acme", 1)
	ev := event("acme")
	res, err := db.Ingest(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	now := hotT0.Add(time.Second)
	cs, err := db.ClaimDeliveries(ctx, hook.ClaimParams{Now: now, Limit: 1})
	if err != nil || len(cs) != 1 {
		t.Fatalf("ClaimDeliveries = %d, %v", len(cs), err)
	}
	if _, err := db.CompleteAttempt(ctx, cs[0].Token, leaseOutcome(cs[0], now, hook.DeliverySucceeded, 200)); err != nil {
		t.Fatal(err)
	}

	x, err := db.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Rollback(context.Background())
	if _, err := x.Exec(ctx, "SELECT 1 FROM events WHERE id = $1 FOR UPDATE", ev.ID); err != nil {
		t.Fatal(err)
	}
	type expired struct {
		r   hook.ExpireResult
		err error
	}
	done := make(chan expired, 1)
	go func() {
		r, err := db.DeleteExpired(ctx, hook.ExpireParams{Before: hotT0.Add(time.Hour), Limit: 10})
		done <- expired{r, err}
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var waiting int
		if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE NOT granted
			AND pid IN (SELECT pid FROM pg_stat_activity WHERE datname = current_database())`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("DeleteExpired never waited")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := db.RetryDelivery(ctx, res.Deliveries[0].ID, now); err != nil {
		t.Fatalf("RetryDelivery: %v", err)
	}
	if cs, err = db.ClaimDeliveries(ctx, hook.ClaimParams{Now: now, Limit: 1}); err != nil || len(cs) != 1 {
		t.Fatalf("ClaimDeliveries of the retry = %d, %v", len(cs), err)
	}
	x.Rollback(ctx)
	r := <-done
	if r.err != nil {
		t.Fatalf("DeleteExpired: %v", r.err)
	}
	var orphans int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM leases l WHERE l.lease_until > $1
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.seq = l.delivery_seq AND d.claim_token IS NOT NULL)`, now).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	t.Logf("DeleteExpired deleted %d events", r.r.Deleted)
	if orphans != 0 {
		t.Errorf("%d live row(s) in leases of no delivery after retention", orphans)
	}
	if _, err := db.Ingest(ctx, event("acme")); err != nil {
		t.Fatal(err)
	}
	if cs, err = db.ClaimDeliveries(ctx, hook.ClaimParams{Now: now, Limit: 1}); err != nil || len(cs) != 1 {
		t.Errorf("ClaimDeliveries of a new delivery, nothing in flight = %d, %v; want 1", len(cs), err)
	}
}
