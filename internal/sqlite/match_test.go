package sqlite

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// TestIngestSeesMatchChanges: ingest keeps what it read of a tenant's
// endpoints (the writer's match), and every change that alters a match is seen by
// the next ingest: endpoints created, updated, disabled, enabled and
// deleted, tenants deleted and created, a change made on another
// connection (as a sqlite3 shell would), and a change rolled back after an
// ingest in its own transaction had read it.
func TestIngestSeesMatchChanges(t *testing.T) {
	ctx := context.Background()
	db, path := matchReviewDB(t, true)
	now := time.Date(2026, 5, 8, 10, 15, 0, 0, time.UTC)
	endpoint := func(id string, events ...string) hook.Endpoint {
		return hook.Endpoint{
			ID: id, TenantID: "acme", URL: "https://example.com/hook", Events: events,
			Secrets: []hook.Secret{{Key: "whsec_x"}}, SignatureScheme: hook.SchemeStandard,
			MaxInFlight: 4, Timeout: time.Second, Status: hook.EndpointActive, CreatedAt: now, UpdatedAt: now,
		}
	}
	for _, ep := range []hook.Endpoint{endpoint("ep_0", "t.0"), endpoint("ep_1", "t.1")} {
		if err := db.CreateEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
	}
	matched := func(typ string) []string {
		t.Helper()
		res, err := db.Ingest(ctx, hook.Event{ID: hook.NewID(hook.PrefixEvent), TenantID: "acme", Type: typ,
			Data: []byte(`{}`), CreatedAt: now})
		if err != nil {
			t.Fatalf("ingest %s: %v", typ, err)
		}
		var ids []string
		for _, d := range res.Deliveries {
			ids = append(ids, d.EndpointID)
		}
		slices.Sort(ids)
		return ids
	}
	expect := func(step, typ string, want ...string) {
		t.Helper()
		if got := matched(typ); !slices.Equal(got, want) {
			t.Fatalf("%s: an event of type %s went to %v, want %v", step, typ, got, want)
		}
	}
	cached := func() *tenantEndpoints {
		db.w.match.mu.Lock()
		defer db.w.match.mu.Unlock()
		return db.w.match.m["acme"]
	}

	expect("start", "t.0", "ep_0")
	first := cached()
	expect("again", "t.0", "ep_0")
	if first == nil || cached() != first {
		t.Fatal("the second ingest read the tenant's endpoints again; the cache was not used")
	}

	e0 := endpoint("ep_0", "t.1")
	if err := db.UpdateEndpoint(ctx, e0); err != nil {
		t.Fatal(err)
	}
	expect("patterns updated", "t.0")
	expect("patterns updated", "t.1", "ep_0", "ep_1")

	if _, err := db.DisableEndpoint(ctx, "ep_1", "test", now); err != nil {
		t.Fatal(err)
	}
	expect("disabled", "t.1", "ep_0")
	if _, err := db.EnableEndpoint(ctx, "ep_1", now); err != nil {
		t.Fatal(err)
	}
	expect("enabled", "t.1", "ep_0", "ep_1")

	if err := db.CreateEndpoint(ctx, endpoint("ep_2", "t.1")); err != nil {
		t.Fatal(err)
	}
	expect("created", "t.1", "ep_0", "ep_1", "ep_2")
	if err := db.DeleteEndpoint(ctx, "ep_2", now); err != nil {
		t.Fatal(err)
	}
	expect("deleted", "t.1", "ep_0", "ep_1")

	// Another connection, as an operator's sqlite3 shell.
	shellExec(t, path, `UPDATE endpoints SET events = '["t.9"]' WHERE id = 'ep_1'`)
	expect("changed on another connection", "t.1", "ep_0")
	expect("changed on another connection", "t.9", "ep_1")

	// A change that an ingest in the same transaction read, then rolled
	// back: the cache must not keep what that ingest read.
	rollback := func(events string) {
		t.Helper()
		errUndo := errors.New("undo")
		err := db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE endpoints SET events = ? WHERE id = 'ep_0'`, events); err != nil {
				return err
			}
			te, err := readTenantEndpoints(ctx, tx, "acme")
			if err != nil {
				return err
			}
			if i := slices.IndexFunc(te.eps, func(e hook.Endpoint) bool { return e.ID == "ep_0" }); i < 0 || len(te.eps[i].Events) != 1 {
				t.Errorf("inside the transaction, ep_0 reads %+v; want its uncommitted patterns %s", te.eps, events)
			}
			return errUndo
		})
		if !errors.Is(err, errUndo) {
			t.Fatalf("write: %v", err)
		}
	}
	rollback(`["t.5"]`)
	expect("rolled back", "t.5")
	expect("rolled back", "t.1", "ep_0")
	// Again, with a change right after the rollback and no ingest between:
	// a version that counted up would come back to the value the
	// rolled-back transaction read, and the cache would take what it read.
	rollback(`["t.6"]`)
	e0.Events = []string{"t.7"}
	if err := db.UpdateEndpoint(ctx, e0); err != nil {
		t.Fatal(err)
	}
	expect("changed right after a rollback", "t.7", "ep_0")
	expect("changed right after a rollback", "t.6")

	if err := db.DeleteTenant(ctx, "acme", now); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Ingest(ctx, hook.Event{ID: hook.NewID(hook.PrefixEvent), TenantID: "acme", Type: "t.1",
		Data: []byte(`{}`), CreatedAt: now}); !errors.Is(err, hook.ErrNotFound) {
		t.Fatalf("ingest for a deleted tenant: %v, want not found", err)
	}
	// A tenant unknown to one ingest, created before the next.
	beta := hook.Event{TenantID: "beta", Type: "t.1", Data: []byte(`{}`), CreatedAt: now}
	beta.ID = hook.NewID(hook.PrefixEvent)
	if _, err := db.Ingest(ctx, beta); !errors.Is(err, hook.ErrNotFound) {
		t.Fatalf("ingest for a tenant not yet created: %v, want not found", err)
	}
	if err := db.CreateTenant(ctx, hook.Tenant{ID: "beta", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	beta.ID = hook.NewID(hook.PrefixEvent)
	if _, err := db.Ingest(ctx, beta); err != nil {
		t.Fatalf("ingest for a tenant just created: %v", err)
	}
}

// TestClaimSeesEndpointChanges: claims keep the endpoints they opened
// (db.endpoints), and the next claim returns every change: a secret
// rotated, the configuration updated, health after an attempt, and a
// change made on another connection.
func TestClaimSeesEndpointChanges(t *testing.T) {
	ctx := context.Background()
	db, eps, now := claimSetup(t, Options{}, 2, 4)
	claimOne := func(step string) hook.Endpoint {
		t.Helper()
		ingestTo(t, db, 0, 1, now)
		cs := claimAt(t, db, now.Add(time.Second), 10)
		if len(cs) != 1 {
			t.Fatalf("%s: claimed %d, want 1", step, len(cs))
		}
		complete(t, db, cs[0], now, hook.DeliverySucceeded, time.Time{})
		return cs[0].Endpoint
	}
	first := claimOne("start")
	if first.URL != eps[0].URL || len(first.Secrets) != 1 {
		t.Fatalf("start: claimed endpoint %+v", first)
	}
	db.endpoints.mu.Lock()
	_, kept := db.endpoints.m["ep_0"]
	db.endpoints.mu.Unlock()
	if !kept {
		t.Fatal("the claim did not keep the endpoint it opened")
	}

	// Health: the success just completed is in the next claim.
	if got := claimOne("health"); !got.LastSuccessAt.Equal(now) {
		t.Fatalf("health: LastSuccessAt %v, want %v", got.LastSuccessAt, now)
	}

	if _, err := db.RotateEndpointSecret(ctx, "ep_0", hook.SecretRotation{Key: "whsec_new", ExpireOld: now.Add(time.Hour), Now: now}); err != nil {
		t.Fatal(err)
	}
	if got := claimOne("rotated"); len(got.Secrets) != 2 || got.Secrets[0].Key != "whsec_new" {
		t.Fatalf("rotated: secrets %+v", got.Secrets)
	}

	e := eps[0]
	e.URL = "https://example.com/moved"
	e.Headers = map[string]string{"X-Tenant": "acme"}
	e.Secrets = nil // keep the stored ones
	if err := db.UpdateEndpoint(ctx, e); err != nil {
		t.Fatal(err)
	}
	if got := claimOne("updated"); got.URL != e.URL || got.Headers["X-Tenant"] != "acme" {
		t.Fatalf("updated: URL %q headers %v", got.URL, got.Headers)
	}

	var seq int
	var name, path string
	if err := db.read.QueryRowContext(ctx, "PRAGMA database_list").Scan(&seq, &name, &path); err != nil {
		t.Fatal(err)
	}
	shellExec(t, path, `UPDATE endpoints SET timeout_ns = 7000000000 WHERE id = 'ep_0'`)
	if got := claimOne("another connection"); got.Timeout != 7*time.Second {
		t.Fatalf("another connection: timeout %v, want 7s", got.Timeout)
	}
}

// TestEndpointVersionCoversColumns: every column of endpoints is either in
// the trigger that sets endpoint_version (0008_endpoint_version.sql) or
// one of those attempts change, which claims read every time. A column
// added to endpoints must be put in one or the other, or claims would
// return what they kept of it.
func TestEndpointVersionCoversColumns(t *testing.T) {
	db := planDB(t)
	var trigger string
	if err := db.read.QueryRow(`SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'endpoints_update_version'`).Scan(&trigger); err != nil {
		t.Fatal(err)
	}
	trigger = strings.Join(strings.Fields(trigger), " ")
	start, end := strings.Index(trigger, " OF "), strings.Index(trigger, " ON endpoints")
	if start < 0 || end < start {
		t.Fatalf("trigger: %s", trigger)
	}
	of := trigger[start+4 : end]
	inTrigger := map[string]bool{}
	for c := range strings.SplitSeq(of, ",") {
		inTrigger[strings.TrimSpace(c)] = true
	}
	health := map[string]bool{"last_success_at": true, "last_failure_at": true, "consecutive_failures": true,
		"failing_since": true, "rate_tokens": true, "rate_at": true}
	rows, err := db.read.Query(`SELECT name FROM pragma_table_info('endpoints')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var col string
		if err := rows.Scan(&col); err != nil {
			t.Fatal(err)
		}
		n++
		if inTrigger[col] == health[col] {
			t.Errorf("column %s: in the trigger %v, read by every claim %v; want exactly one", col, inTrigger[col], health[col])
		}
	}
	if n < 20 {
		t.Fatalf("read %d columns of endpoints", n)
	}
}

// TestCacheTriggersPresent: the caches of ingest (match_version) and of
// claims (endpoint_version) are only as good as the triggers that keep
// their versions; a migration that rebuilds tenants or endpoints drops
// them with the table and must create them again.
func TestCacheTriggersPresent(t *testing.T) {
	db := planDB(t)
	rows, err := db.read.Query(`SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var name, table string
		if err := rows.Scan(&name, &table); err != nil {
			t.Fatal(err)
		}
		got[name] = table
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for name, table := range map[string]string{
		"tenants_insert_match": "tenants", "tenants_delete_match": "tenants", "tenants_update_match": "tenants",
		"endpoints_insert_match": "endpoints", "endpoints_delete_match": "endpoints", "endpoints_update_match": "endpoints",
		"endpoints_insert_version": "endpoints", "endpoints_delete_version": "endpoints", "endpoints_update_version": "endpoints",
	} {
		if got[name] != table {
			t.Errorf("trigger %s on %s is missing after the migrations (triggers: %v)", name, table, got)
		}
	}
}
