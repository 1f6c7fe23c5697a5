package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// claimSetup makes a tenant with n endpoints, endpoint i subscribed to the
// type t.<i>.
func claimSetup(t *testing.T, opts Options, n, maxInFlight int) (*DB, []hook.Endpoint, time.Time) {
	t.Helper()
	db := leaseDB(t, opts)
	ctx := context.Background()
	now := time.Date(2026, 5, 8, 10, 15, 0, 0, time.UTC)
	if err := db.CreateTenant(ctx, hook.Tenant{ID: "acme", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	var eps []hook.Endpoint
	for i := range n {
		ep := hook.Endpoint{
			ID: fmt.Sprintf("ep_%d", i), TenantID: "acme", URL: "https://example.com/hook",
			Events: []string{fmt.Sprintf("t.%d", i)}, Secrets: []hook.Secret{{Key: "whsec_x"}}, SignatureScheme: hook.SchemeStandard,
			MaxInFlight: maxInFlight, Timeout: time.Second, Status: hook.EndpointActive, CreatedAt: now, UpdatedAt: now,
		}
		if err := db.CreateEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
		eps = append(eps, ep)
	}
	return db, eps, now
}

// ingestTo ingests count events for endpoint i, created at at.
func ingestTo(t *testing.T, db *DB, i, count int, at time.Time) {
	t.Helper()
	evs := make([]hook.Event, count)
	for j := range evs {
		evs[j] = hook.Event{ID: hook.NewID(hook.PrefixEvent), TenantID: "acme", Type: fmt.Sprintf("t.%d", i),
			Data: []byte(`{"n":1}`), CreatedAt: at}
	}
	if _, err := db.IngestBatch(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}

func claimAt(t *testing.T, db *DB, now time.Time, limit int) []hook.Claim {
	t.Helper()
	cs, err := db.ClaimDeliveries(context.Background(), hook.ClaimParams{Now: now, Limit: limit, LeaseMargin: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// complete records a successful attempt of c, or with status pending a
// failed one to be retried at next.
func complete(t *testing.T, db *DB, c hook.Claim, at time.Time, status hook.DeliveryStatus, next time.Time) {
	t.Helper()
	a := hook.Attempt{ID: hook.NewID(hook.PrefixAttempt), DeliveryID: c.Delivery.ID, EndpointID: c.Endpoint.ID,
		TenantID: "acme", Number: c.Delivery.AttemptCount + 1, StartedAt: at, Duration: time.Millisecond, StatusCode: 200}
	if status == hook.DeliveryPending {
		a.StatusCode, a.Error, a.NextRetryAt = 500, "status", next
	}
	if _, err := db.CompleteAttempt(context.Background(), c.Token, hook.Outcome{Attempt: a, Status: status}); err != nil {
		t.Fatal(err)
	}
}

// TestClaimFairToRetries: an endpoint's due retry comes before another
// endpoint's second delivery, however recently that one was ingested
// (hook.Store's fairness). A shortcut that served claims from the
// deliveries just ingested, kept in memory, failed this: between runs of
// the claim query it skipped due work that only the file held.
func TestClaimFairToRetries(t *testing.T) {
	t.Parallel()
	db, _, now := claimSetup(t, Options{}, 2, 10)
	ingestTo(t, db, 1, 1, now)
	cs := claimAt(t, db, now, 10)
	if len(cs) != 1 {
		t.Fatalf("ep_1's first claim: %d", len(cs))
	}
	retry := cs[0]
	complete(t, db, retry, now, hook.DeliveryPending, now) // failed; the retry is due at once
	ingestTo(t, db, 0, 5, now)
	cs = claimAt(t, db, now, 2)
	var ids []string
	found := false
	for _, c := range cs {
		ids = append(ids, c.Endpoint.ID)
		found = found || c.Delivery.ID == retry.Delivery.ID
	}
	if !found {
		t.Errorf("claim of 2 took %v: ep_0's second before ep_1's earliest due delivery (its retry)", ids)
	}
}

// TestDuplicateIngest: an event id ingested again, in the same batch, in a
// later batch, and once the statements are prepared, is a duplicate with
// no deliveries (the insert without RETURNING tells by the rows it
// changed).
func TestDuplicateIngest(t *testing.T) {
	t.Parallel()
	db, _, now := claimSetup(t, Options{}, 2, 100)
	ctx := context.Background()
	ev := func(id string) hook.Event {
		return hook.Event{ID: id, TenantID: "acme", Type: "t.0", Data: []byte(`{"n":1}`), CreatedAt: now}
	}
	for round := range 5 {
		items, err := db.IngestBatch(ctx, []hook.Event{ev("evt_a"), ev("evt_a"), ev("evt_b")})
		if err != nil {
			t.Fatal(err)
		}
		for i, it := range items {
			wantDup := round > 0 || i == 1
			if it.Err != nil || it.Result.Duplicate != wantDup || (len(it.Result.Deliveries) == 0) != wantDup {
				t.Fatalf("round %d item %d: dup %v, %d deliveries, %v", round, i, it.Result.Duplicate, len(it.Result.Deliveries), it.Err)
			}
		}
		res, err := db.Ingest(ctx, ev("evt_b"))
		if err != nil || !res.Duplicate || len(res.Deliveries) != 0 {
			t.Fatalf("round %d single: %+v %v", round, res, err)
		}
	}
	cs := claimAt(t, db, now, 10)
	if len(cs) != 2 {
		t.Fatalf("claimed %d, want 2", len(cs))
	}
	for _, c := range cs {
		if c.Delivery.EventID != c.Event.ID {
			t.Fatalf("claim of %s has event %s", c.Delivery.EventID, c.Event.ID)
		}
	}
}
