package sqlite

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

func TestHotQueueTake(t *testing.T) {
	t.Parallel()
	q := newHotQueue(5, 5)
	for i := range 4 {
		q.push("a", hotEntry{seq: int64(i)})
	}
	q.push("b", hotEntry{seq: 10})
	q.push("b", hotEntry{seq: 11}) // past the bound: left to the claim query
	if q.n != 5 {
		t.Fatalf("held %d, want 5", q.n)
	}
	all := func(hotEntry) bool { return true }

	// Fair order: one of each endpoint per round, within the limit.
	got, n := q.take(map[string]int{"a": 3, "b": 3}, 2, all)
	if n != 2 || len(got["a"]) != 1 || len(got["b"]) != 1 || got["a"][0].seq != 0 || got["b"][0].seq != 10 {
		t.Fatalf("take 2: %v (%d)", got, n)
	}
	if eps := q.endpoints(); !slices.Equal(eps, []string{"a"}) {
		t.Fatalf("endpoints left: %v", eps)
	}
	// Room bounds each endpoint; an endpoint without room keeps its entries.
	got, n = q.take(map[string]int{"a": 1}, 10, all)
	if n != 1 || got["a"][0].seq != 1 {
		t.Fatalf("take with room 1: %v", got)
	}
	got, n = q.take(map[string]int{}, 10, all)
	if n != 0 || q.n != 2 {
		t.Fatalf("take without room: %v, %d held", got, q.n)
	}
	// A refused entry is dropped and does not use the room.
	got, n = q.take(map[string]int{"a": 1}, 10, func(e hotEntry) bool { return e.seq != 2 })
	if n != 1 || got["a"][0].seq != 3 || q.n != 0 {
		t.Fatalf("take refusing seq 2: %v, %d held", got, q.n)
	}
	q.push("c", hotEntry{seq: 20})
	q.drop("c")
	if q.n != 0 || len(q.endpoints()) != 0 {
		t.Fatalf("after drop: %d held, endpoints %v", q.n, q.endpoints())
	}
}

// hotSetup makes a tenant with n endpoints, each subscribed to every type,
// and runs a first claim, so that the claim query has just run: the next
// claims take from memory first.
func hotSetup(t *testing.T, opts Options, n, maxInFlight int) (*DB, []hook.Endpoint, time.Time) {
	t.Helper()
	if opts.ClaimScanInterval == 0 {
		opts.ClaimScanInterval = time.Hour
	}
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
	if cs := hotClaim(t, db, now, 10); len(cs) != 0 {
		t.Fatalf("first claim: %d", len(cs))
	}
	return db, eps, now
}

// hotIngest ingests count events for endpoint i, created at at.
func hotIngest(t *testing.T, db *DB, i, count int, at time.Time) {
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

func hotClaim(t *testing.T, db *DB, now time.Time, limit int) []hook.Claim {
	t.Helper()
	cs, err := db.ClaimDeliveries(context.Background(), hook.ClaimParams{Now: now, Limit: limit, LeaseMargin: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

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

// TestHotClaimsFromMemory: deliveries just ingested are claimed from
// memory, with their events, in the fair order, and within each
// endpoint's room; those without room wait in memory for the next claim.
func TestHotClaimsFromMemory(t *testing.T) {
	t.Parallel()
	db, _, now := hotSetup(t, Options{}, 2, 2)
	hotIngest(t, db, 0, 3, now)
	hotIngest(t, db, 1, 1, now)
	cs := hotClaim(t, db, now, 10)
	per := map[string]int{}
	for _, c := range cs {
		per[c.Endpoint.ID]++
		if c.Event.ID != c.Delivery.EventID || string(c.Event.Data) != `{"n":1}` || c.Endpoint.URL == "" {
			t.Errorf("claim %s: event %+v, endpoint %s", c.Delivery.ID, c.Event, c.Endpoint.URL)
		}
	}
	if len(cs) != 3 || per["ep_0"] != 2 || per["ep_1"] != 1 {
		t.Fatalf("claimed %v, want ep_0 2 (its room) and ep_1 1", per)
	}
	if db.hotq.n != 1 {
		t.Fatalf("%d left in memory, want the third of ep_0", db.hotq.n)
	}
	var c0 []hook.Claim
	for _, c := range cs {
		if c.Endpoint.ID == "ep_0" {
			c0 = append(c0, c)
		}
	}
	complete(t, db, c0[0], now, hook.DeliverySucceeded, time.Time{})
	next := hotClaim(t, db, now, 10)
	if len(next) != 1 || next[0].Endpoint.ID != "ep_0" || db.hotq.n != 0 {
		t.Fatalf("next claim: %d, %d left", len(next), db.hotq.n)
	}
	// One claim never takes a delivery twice, from the file and memory.
	seen := map[string]bool{}
	for _, c := range append(cs, next...) {
		if seen[c.Delivery.ID] {
			t.Fatalf("delivery %s claimed twice", c.Delivery.ID)
		}
		seen[c.Delivery.ID] = true
	}
}

// TestHotClaimChecksTheFile: what memory holds is checked against the
// file. A delivery whose endpoint was disabled, or that is not due yet, is
// not claimed from memory, and is not lost: the claim query finds it
// once it may go.
func TestHotClaimChecksTheFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, eps, now := hotSetup(t, Options{}, 2, 8)
	hotIngest(t, db, 0, 1, now)
	hotIngest(t, db, 1, 1, now.Add(time.Hour)) // due in an hour
	if _, err := db.DisableEndpoint(ctx, eps[0].ID, "test", now); err != nil {
		t.Fatal(err)
	}
	if cs := hotClaim(t, db, now, 10); len(cs) != 0 {
		t.Fatalf("claimed %d: a disabled endpoint's, or one not due", len(cs))
	}
	if db.hotq.n != 0 {
		t.Fatalf("%d still in memory", db.hotq.n)
	}
	if _, err := db.EnableEndpoint(ctx, eps[0].ID, now); err != nil {
		t.Fatal(err)
	}
	cs := hotClaim(t, db, now, 10)
	if len(cs) != 1 || cs[0].Endpoint.ID != "ep_0" {
		t.Fatalf("after enable: %d claimed", len(cs))
	}
	complete(t, db, cs[0], now, hook.DeliverySucceeded, time.Time{})
	if cs := hotClaim(t, db, now.Add(time.Hour), 10); len(cs) != 1 || cs[0].Endpoint.ID != "ep_1" {
		t.Fatalf("when due: %d claimed", len(cs))
	}
}

// TestHotClaimAfterRetry: a delivery still in memory that the claim query
// took, and whose attempt failed, is not claimed from memory before its
// retry is due.
func TestHotClaimAfterRetry(t *testing.T) {
	t.Parallel()
	db, _, now := hotSetup(t, Options{ClaimScanInterval: time.Nanosecond}, 1, 1)
	hotIngest(t, db, 0, 2, now)
	// The claim query runs first (every claim, at this interval) and takes
	// the first (the room is 1); memory still holds both.
	cs := hotClaim(t, db, now, 10)
	if len(cs) != 1 || db.hotq.n != 2 {
		t.Fatalf("claimed %d, %d in memory", len(cs), db.hotq.n)
	}
	complete(t, db, cs[0], now, hook.DeliveryPending, now.Add(time.Minute))
	db.scanEvery = time.Hour // from memory first from now on
	cs2 := hotClaim(t, db, now, 10)
	if len(cs2) != 1 || cs2[0].Delivery.ID == cs[0].Delivery.ID {
		t.Fatalf("claimed %d: the retry before it is due?", len(cs2))
	}
	complete(t, db, cs2[0], now, hook.DeliverySucceeded, time.Time{})
	if cs3 := hotClaim(t, db, now, 10); len(cs3) != 0 {
		t.Fatalf("claimed %d: the retry before it is due", len(cs3))
	}
	if cs4 := hotClaim(t, db, now.Add(time.Minute), 10); len(cs4) != 1 || cs4[0].Delivery.ID != cs[0].Delivery.ID {
		t.Fatalf("when due: %d claimed", len(cs4))
	}
}

// TestHotQueueBound: deliveries beyond what memory holds are claimed
// through the claim query, each once.
func TestHotQueueBound(t *testing.T) {
	t.Parallel()
	db, _, now := hotSetup(t, Options{HotDeliveries: 2}, 1, 100)
	hotIngest(t, db, 0, 5, now)
	first := hotClaim(t, db, now, 10)
	if len(first) != 2 {
		t.Fatalf("first claim: %d, want the 2 in memory", len(first))
	}
	rest := hotClaim(t, db, now, 10) // memory is empty: the claim query runs
	seen := map[string]bool{}
	for _, c := range append(first, rest...) {
		if seen[c.Delivery.ID] {
			t.Fatalf("delivery %s claimed twice", c.Delivery.ID)
		}
		seen[c.Delivery.ID] = true
	}
	if len(seen) != 5 {
		t.Fatalf("claimed %d of 5", len(seen))
	}
}

// TestHotClaimLimits: the claim's limits hold for what memory holds, also
// after the claim query took part of the room in the same claim.
func TestHotClaimLimits(t *testing.T) {
	t.Parallel()
	db, _, now := hotSetup(t, Options{}, 2, 100)
	hotIngest(t, db, 0, 4, now)
	hotIngest(t, db, 1, 4, now)
	cs, err := db.ClaimDeliveries(context.Background(), hook.ClaimParams{Now: now, Limit: 10, LeaseMargin: time.Second,
		MaxPerEndpoint: 3, EndpointLimits: map[string]int{"ep_1": 1}})
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, c := range cs {
		per[c.Endpoint.ID]++
	}
	if per["ep_0"] != 3 || per["ep_1"] != 1 {
		t.Fatalf("claimed %v, want ep_0 3 (MaxPerEndpoint) and ep_1 1 (its limit)", per)
	}
}

// TestHotClaimSkipsLeased: deliveries still in memory that the claim query
// leased (in the same claim, or an earlier one) are not claimed again.
func TestHotClaimSkipsLeased(t *testing.T) {
	t.Parallel()
	db, _, now := hotSetup(t, Options{ClaimScanInterval: time.Nanosecond}, 1, 8)
	hotIngest(t, db, 0, 3, now)
	cs := hotClaim(t, db, now, 2) // the claim query takes two
	db.scanEvery = time.Hour
	cs = append(cs, hotClaim(t, db, now, 10)...) // memory has the third
	cs = append(cs, hotClaim(t, db, now, 10)...)
	seen := map[string]bool{}
	for _, c := range cs {
		if seen[c.Delivery.ID] {
			t.Fatalf("delivery %s claimed twice", c.Delivery.ID)
		}
		seen[c.Delivery.ID] = true
	}
	if len(seen) != 3 {
		t.Fatalf("claimed %d of 3", len(seen))
	}
}

// TestHotQueueWithoutEvents: past HotEvents, memory keeps deliveries
// without their events, and their claims read the events from the file.
func TestHotQueueWithoutEvents(t *testing.T) {
	t.Parallel()
	db, _, now := hotSetup(t, Options{HotEvents: 1}, 1, 100)
	hotIngest(t, db, 0, 3, now)
	if db.hotq.n != 3 || db.hotq.nEvents != 1 {
		t.Fatalf("%d in memory, %d with events; want 3 and 1", db.hotq.n, db.hotq.nEvents)
	}
	cs := hotClaim(t, db, now, 10)
	if len(cs) != 3 {
		t.Fatalf("claimed %d of 3", len(cs))
	}
	for _, c := range cs {
		if c.Event.ID != c.Delivery.EventID || string(c.Event.Data) != `{"n":1}` || c.Event.CreatedAt.IsZero() {
			t.Errorf("claim %s: event %+v", c.Delivery.ID, c.Event)
		}
	}
	if db.hotq.n != 0 || db.hotq.nEvents != 0 {
		t.Fatalf("after the claim: %d in memory, %d with events", db.hotq.n, db.hotq.nEvents)
	}
}
