package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/postgres"
)

var t0 = time.Date(2026, 5, 8, 10, 15, 0, 0, time.UTC)

func setup(t *testing.T, db *postgres.DB, maxInFlight, n int) hook.Endpoint {
	t.Helper()
	ctx := t.Context()
	if err := db.CreateTenant(ctx, hook.Tenant{ID: "acme", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	ep := hook.Endpoint{
		ID: hook.NewID(hook.PrefixEndpoint), TenantID: "acme", URL: "https://example.com/hook",
		Events: []string{"*"}, Secrets: []hook.Secret{{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
		SignatureScheme: hook.SchemeStandard, MaxInFlight: maxInFlight, Timeout: time.Second,
		Status: hook.EndpointActive, CreatedAt: t0, UpdatedAt: t0,
		Headers: map[string]string{"Authorization": "Bearer header-credential-7f3a9c"},
	}
	if err := db.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	for range n {
		ev := hook.Event{ID: hook.NewID(hook.PrefixEvent), TenantID: "acme", Type: "a.b", Data: json.RawMessage(`{}`), CreatedAt: t0}
		if _, err := db.Ingest(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	return ep
}

// TestClaimCapAcrossNodes runs two "nodes", each with a pool of its own,
// that claim from one endpoint with MaxInFlight 3 at the same moment, round
// after round: together they never hold more than 3 leases, and every
// delivery is sent once.
func TestClaimCapAcrossNodes(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	nodes := []*postgres.DB{openTest(t, url), openNoMigrate(t, url)}
	const maxInFlight, total = 3, 50
	setup(t, nodes[0], maxInFlight, total)

	done := map[string]bool{}
	for round := 0; len(done) < total; round++ {
		if round > 10*total {
			t.Fatalf("%d of %d deliveries done after %d rounds", len(done), total, round)
		}
		var (
			wg     sync.WaitGroup
			start  = make(chan struct{})
			claims [2][]hook.Claim
		)
		for i, db := range nodes {
			wg.Go(func() {
				<-start
				cs, err := db.ClaimDeliveries(context.Background(), hook.ClaimParams{Now: t0, Limit: 10, LeaseMargin: time.Minute})
				if err != nil {
					t.Errorf("node %d: ClaimDeliveries: %v", i, err)
				}
				claims[i] = cs
			})
		}
		close(start)
		wg.Wait()
		// Nothing completed since the claims: every claim is a live lease.
		if n := len(claims[0]) + len(claims[1]); n > maxInFlight {
			t.Fatalf("round %d: nodes hold %d and %d leases, %d together; want at most %d",
				round, len(claims[0]), len(claims[1]), n, maxInFlight)
		}
		for i, cs := range claims {
			for _, c := range cs {
				if done[c.Delivery.ID] {
					t.Fatalf("delivery %s claimed again after it succeeded", c.Delivery.ID)
				}
				done[c.Delivery.ID] = true
				a := hook.Attempt{ID: hook.NewID(hook.PrefixAttempt), DeliveryID: c.Delivery.ID, EndpointID: c.Endpoint.ID,
					TenantID: c.Delivery.TenantID, Number: 1, StartedAt: t0, StatusCode: http.StatusOK}
				if _, err := nodes[1-i].CompleteAttempt(t.Context(), c.Token, hook.Outcome{Attempt: a, Status: hook.DeliverySucceeded}); err != nil {
					t.Fatalf("CompleteAttempt: %v", err)
				}
			}
		}
	}
}

// TestClaimCapStress has two nodes claim and complete as fast as they can,
// each checking after every claim, in the database, that the endpoint's
// live leases are within its cap.
func TestClaimCapStress(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	nodes := []*postgres.DB{openTest(t, url), openNoMigrate(t, url)}
	const maxInFlight, total = 3, 50
	ep := setup(t, nodes[0], maxInFlight, total)
	var (
		wg        sync.WaitGroup
		completed atomic.Int64
		most      atomic.Int64
	)
	for i, db := range nodes {
		wg.Go(func() {
			for completed.Load() < total && !t.Failed() {
				cs, err := db.ClaimDeliveries(context.Background(), hook.ClaimParams{Now: t0, Limit: 10, LeaseMargin: time.Minute})
				if err != nil {
					t.Errorf("node %d: ClaimDeliveries: %v", i, err)
					return
				}
				var live int64
				err = db.Pool().QueryRow(context.Background(),
					"SELECT count(*) FROM deliveries WHERE endpoint_id = $1 AND lease_until > $2", ep.ID, t0).Scan(&live)
				if err != nil {
					t.Errorf("count leases: %v", err)
					return
				}
				for m := most.Load(); live > m && !most.CompareAndSwap(m, live); m = most.Load() {
				}
				for _, c := range cs {
					a := hook.Attempt{ID: hook.NewID(hook.PrefixAttempt), DeliveryID: c.Delivery.ID, EndpointID: c.Endpoint.ID,
						TenantID: c.Delivery.TenantID, Number: 1, StartedAt: t0, StatusCode: http.StatusOK}
					if _, err := db.CompleteAttempt(context.Background(), c.Token, hook.Outcome{Attempt: a, Status: hook.DeliverySucceeded}); err != nil {
						t.Errorf("CompleteAttempt: %v", err)
						return
					}
					completed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := completed.Load(); got != total {
		t.Errorf("completed %d deliveries, want %d", got, total)
	}
	if m := most.Load(); m > maxInFlight {
		t.Errorf("up to %d live leases seen, want at most %d", m, maxInFlight)
	}
}

// TestDeleteDuringIngest deletes an endpoint and a tenant while events for
// them are ingested and their deliveries completed: no pending delivery of
// a deleted endpoint is left behind, and nothing deadlocks.
func TestDeleteDuringIngest(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	nodes := []*postgres.DB{openTest(t, url), openNoMigrate(t, url)}
	ep := setup(t, nodes[0], 5, 0)
	ctx := t.Context()
	var (
		wg       sync.WaitGroup
		stop     = make(chan struct{})
		ingested atomic.Int64
		reached  = map[int64]chan struct{}{50: make(chan struct{}), 100: make(chan struct{})}
	)
	for i, db := range nodes {
		wg.Go(func() { // ingest until the tenant is gone
			for {
				if c, ok := reached[ingested.Add(1)]; ok {
					close(c)
				}
				ev := hook.Event{ID: hook.NewID(hook.PrefixEvent), TenantID: "acme", Type: "a.b", Data: json.RawMessage(`{}`), CreatedAt: t0}
				_, err := db.Ingest(ctx, ev)
				if errors.Is(err, hook.ErrNotFound) {
					return
				}
				if err != nil {
					t.Errorf("node %d: Ingest: %v", i, err)
					return
				}
			}
		})
		wg.Go(func() { // claim and complete until stopped
			for {
				select {
				case <-stop:
					return
				default:
				}
				cs, err := db.ClaimDeliveries(ctx, hook.ClaimParams{Now: t0, Limit: 5, LeaseMargin: time.Minute})
				if err != nil {
					t.Errorf("node %d: ClaimDeliveries: %v", i, err)
					return
				}
				for _, c := range cs {
					a := hook.Attempt{ID: hook.NewID(hook.PrefixAttempt), DeliveryID: c.Delivery.ID, EndpointID: c.Endpoint.ID,
						TenantID: c.Delivery.TenantID, Number: 1, StartedAt: t0, StatusCode: http.StatusOK}
					_, err := db.CompleteAttempt(ctx, c.Token, hook.Outcome{Attempt: a, Status: hook.DeliverySucceeded})
					if err != nil && !errors.Is(err, hook.ErrConflict) {
						t.Errorf("node %d: CompleteAttempt: %v", i, err)
						return
					}
				}
			}
		})
	}
	<-reached[50] // the deletes must race ingests and claims
	if err := nodes[0].DeleteEndpoint(ctx, ep.ID, t0); err != nil {
		t.Errorf("DeleteEndpoint: %v", err)
	}
	other := setupEndpoint(t, nodes[1])
	<-reached[100]
	if err := nodes[1].DeleteTenant(ctx, "acme", t0); err != nil {
		t.Errorf("DeleteTenant: %v", err)
	}
	close(stop)
	wg.Wait()
	var pending int
	err := nodes[0].Pool().QueryRow(ctx, "SELECT count(*) FROM deliveries WHERE endpoint_id = ANY($1) AND status = 'pending'",
		[]string{ep.ID, other.ID}).Scan(&pending)
	if err != nil {
		t.Fatal(err)
	}
	if pending != 0 {
		t.Errorf("%d pending deliveries of deleted endpoints, want 0", pending)
	}
}

// setupEndpoint adds an endpoint of acme for every event.
func setupEndpoint(t *testing.T, db *postgres.DB) hook.Endpoint {
	t.Helper()
	ep := hook.Endpoint{
		ID: hook.NewID(hook.PrefixEndpoint), TenantID: "acme", URL: "https://example.com/other",
		Events: []string{"*"}, Secrets: []hook.Secret{{Key: "whsec_other"}}, SignatureScheme: hook.SchemeStandard,
		MaxInFlight: 5, Timeout: time.Second, Status: hook.EndpointActive, CreatedAt: t0, UpdatedAt: t0,
	}
	if err := db.CreateEndpoint(t.Context(), ep); err != nil {
		t.Fatal(err)
	}
	return ep
}

// TestMigrateConcurrent migrates one new database from several pools at
// once: each succeeds, and the schema is there once.
func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	const n = 4
	var (
		wg  sync.WaitGroup
		dbs [n]*postgres.DB
	)
	for i := range n {
		dbs[i] = openNoMigrate(t, url)
	}
	for i := range n {
		wg.Go(func() {
			if err := dbs[i].Migrate(t.Context()); err != nil {
				t.Errorf("Migrate %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	var versions, tenants, tables int
	err := dbs[0].Pool().QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM schema_migrations),
		(SELECT count(*) FROM tenants WHERE id = 'herald'),
		(SELECT count(*) FROM pg_tables WHERE schemaname = 'public')`).Scan(&versions, &tenants, &tables)
	if err != nil {
		t.Fatal(err)
	}
	files, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	if versions != len(files) || tenants != 1 || tables != 11 { // 11 with jobs (0003_replay) and leases (0005_leases)
		t.Errorf("after concurrent Migrate: %d migrations, %d operational tenants, %d tables; want %d, 1, 11",
			versions, tenants, tables, len(files))
	}
	if err := dbs[1].Migrate(t.Context()); err != nil {
		t.Errorf("Migrate again: %v", err)
	}
}

// TestMigrateNewer refuses a database migrated further than this Herald
// knows.
func TestMigrateNewer(t *testing.T) {
	t.Parallel()
	db := openTest(t, pgtest.URL(t))
	if _, err := db.Pool().Exec(t.Context(), "INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')"); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(t.Context()); err == nil || !strings.Contains(err.Error(), "9999") {
		t.Errorf("Migrate of a newer database = %v, want an error naming migration 9999", err)
	}
}

// TestNoSecretsInClear reads the stored rows and finds neither an endpoint
// secret, a header value nor an API key token in them.
func TestNoSecretsInClear(t *testing.T) {
	t.Parallel()
	db := openTest(t, pgtest.URL(t))
	setup(t, db, 1, 1)
	key, token := hook.NewAPIKey("acme", t0)
	if err := db.CreateAPIKey(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	var dump string
	err := db.Pool().QueryRow(t.Context(), `SELECT
		(SELECT string_agg(e::text, ' ') FROM endpoints e) || (SELECT string_agg(k::text, ' ') FROM api_keys k)`).Scan(&dump)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{
		"endpoint secret": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"header value":    "header-credential-7f3a9c",
		"tenant key":      strings.TrimPrefix(token, hook.TenantKeyPrefix)[10:],
	} {
		if strings.Contains(dump, s) {
			t.Errorf("the %s is in the database in clear", name)
		}
	}
	if !strings.Contains(dump, "https://example.com/hook") {
		t.Error("the endpoint URL is not in the dump; is this the data?")
	}
}

// TestSkipWithoutServer runs this package's tests without
// HERALD_TEST_POSTGRES_URL and checks that they skip, saying why.
func TestSkipWithoutServer(t *testing.T) {
	if os.Getenv(pgtest.EnvURL) == "" || os.Getenv("HERALD_SKIP_CHILD") != "" || testing.Short() {
		t.Skip("runs only as the parent, with a server configured")
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStore$", "-test.v")
	cmd.Env = append(os.Environ(), pgtest.EnvURL+"=", pgtest.EnvRequireServices+"=", "HERALD_SKIP_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tests without a server: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SKIP") || !strings.Contains(string(out), pgtest.EnvURL) {
		t.Errorf("tests without a server did not skip with a message:\n%s", out)
	}
}
