package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/seal"
)

func leaseDB(t *testing.T, opts Options) *DB {
	t.Helper()
	box, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	opts.Secrets = box
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "herald.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func leaseSetup(t *testing.T, db *DB, maxInFlight int) (hook.Endpoint, hook.Claim, time.Time) {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 5, 8, 10, 15, 0, 0, time.UTC)
	if err := db.CreateTenant(ctx, hook.Tenant{ID: "acme", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	ep := hook.Endpoint{
		ID: hook.NewID(hook.PrefixEndpoint), TenantID: "acme", URL: "https://example.com/hook",
		Events: []string{"*"}, Secrets: []hook.Secret{{Key: "whsec_x"}}, SignatureScheme: hook.SchemeStandard,
		MaxInFlight: maxInFlight, Timeout: time.Second, Status: hook.EndpointActive, CreatedAt: now, UpdatedAt: now,
	}
	if err := db.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Ingest(ctx, hook.Event{ID: "evt_1", TenantID: "acme", Type: "a.b", Data: []byte(`{}`), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	cs, err := db.ClaimDeliveries(ctx, hook.ClaimParams{Now: now, Limit: 10, LeaseMargin: 10 * time.Second})
	if err != nil || len(cs) != 1 {
		t.Fatalf("first claim: %d, %v", len(cs), err)
	}
	return ep, cs[0], now
}

// TestLeaseOutlivesCancelInSameBatch: DeleteEndpoint and the in-flight
// attempt's CompleteAttempt land in one writer batch, in that order. The
// completion finds the delivery canceled and notPending ends the lease at
// once, before the batch (and the cancel) commits. A claim that runs in that
// window reads the committed file, where the delivery is still pending and
// the endpoint active, and leases the delivery a second time.
func TestLeaseOutlivesCancelInSameBatch(t *testing.T) {
	t.Parallel()
	db := leaseDB(t, Options{BatchWindow: 2 * time.Second, MaxBatch: 16})
	ep, c, now := leaseSetup(t, db, 1)
	ctx := context.Background()

	errs := make(chan error, 3)
	go func() { errs <- db.DeleteEndpoint(ctx, ep.ID, now) }()
	time.Sleep(200 * time.Millisecond) // the ops join one batch (the window is 2s) in this order
	go func() {
		a := hook.Attempt{ID: hook.NewID(hook.PrefixAttempt), DeliveryID: c.Delivery.ID, EndpointID: ep.ID,
			TenantID: "acme", Number: 1, StartedAt: now, Duration: time.Millisecond, StatusCode: 200}
		_, err := db.CompleteAttempt(ctx, c.Token, hook.Outcome{Attempt: a, Status: hook.DeliverySucceeded})
		errs <- err
	}()
	time.Sleep(200 * time.Millisecond) // the ops join one batch (the window is 2s) in this order
	reached, claimed := make(chan struct{}), make(chan struct{})
	go func() {
		// A third op of the same batch: it stands for the moment between the
		// completion op and the batch's commit.
		errs <- db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
			close(reached)
			<-claimed
			return nil
		})
	}()
	<-reached
	cs, err := db.ClaimDeliveries(ctx, hook.ClaimParams{Now: now.Add(time.Second), Limit: 10, LeaseMargin: 10 * time.Second})
	close(claimed)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		t.Logf("op: %v", <-errs)
	}
	if len(cs) != 0 {
		t.Errorf("delivery %s claimed again (token %s) while its cancel and its completion were committing: the lease ended before the write that ended it committed", cs[0].Delivery.ID, cs[0].Token)
	}
}

// TestLeaseSettlingAfterExpiry: holder A overran its lease. Its
// CompleteAttempt (a failure, retry in an hour) passes checkLease in the
// writer; before that batch commits, a claim sees A's lease expired, reads
// the committed file (delivery still pending and due) and leases it to B.
// After the commit the delivery is pending, not due for an hour, yet leased
// to B, who was handed a delivery that is not due; B's completion then
// collides with A's attempt number.
func TestLeaseSettlingAfterExpiry(t *testing.T) {
	t.Parallel()
	db := leaseDB(t, Options{BatchWindow: 2 * time.Second, MaxBatch: 16})
	ep, c, now := leaseSetup(t, db, 1)
	ctx := context.Background()
	late := c.LeaseUntil.Add(time.Second) // A's lease has expired

	errs := make(chan error, 2)
	go func() {
		a := hook.Attempt{ID: hook.NewID(hook.PrefixAttempt), DeliveryID: c.Delivery.ID, EndpointID: ep.ID,
			TenantID: "acme", Number: 1, StartedAt: now, Duration: time.Millisecond, StatusCode: 500,
			Error: "http_status", NextRetryAt: late.Add(time.Hour)}
		_, err := db.CompleteAttempt(ctx, c.Token, hook.Outcome{Attempt: a, Status: hook.DeliveryPending})
		errs <- err
	}()
	time.Sleep(200 * time.Millisecond) // the ops join one batch (the window is 2s) in this order
	reached, claimed := make(chan struct{}), make(chan struct{})
	go func() {
		errs <- db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
			close(reached)
			<-claimed
			return nil
		})
	}()
	<-reached
	db.leases.mu.Lock()
	settling := db.leases.byID[c.Delivery.ID].settling
	db.leases.mu.Unlock()
	if !settling {
		close(claimed)
		t.Fatal("the completion did not run before the blocking op: the test's ordering failed, not the store")
	}
	cs, err := db.ClaimDeliveries(ctx, hook.ClaimParams{Now: late, Limit: 10, LeaseMargin: 10 * time.Second})
	close(claimed)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("A's completion or the blocking op: %v", err)
		}
	}
	d, err := db.Delivery(ctx, c.Delivery.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after commit: status %s next %v attempts %d; claims in the window: %d", d.Status, d.NextAttemptAt, d.AttemptCount, len(cs))
	if len(cs) == 0 {
		return
	}
	b := cs[0]
	t.Errorf("A's completion was accepted AND the delivery was leased to B (AttemptCount %d) in the same window; it is not due until %v", b.Delivery.AttemptCount, d.NextAttemptAt)
	a := hook.Attempt{ID: hook.NewID(hook.PrefixAttempt), DeliveryID: b.Delivery.ID, EndpointID: ep.ID,
		TenantID: "acme", Number: b.Delivery.AttemptCount + 1, StartedAt: late, Duration: time.Millisecond, StatusCode: 200}
	_, err = db.CompleteAttempt(ctx, b.Token, hook.Outcome{Attempt: a, Status: hook.DeliverySucceeded})
	t.Logf("B's completion: %v", err)
	if cs2, _ := db.ClaimDeliveries(ctx, hook.ClaimParams{Now: late.Add(2 * time.Hour), Limit: 10, LeaseMargin: 10 * time.Second}); len(cs2) == 0 {
		t.Logf("and 2h later the delivery is still not claimable (B's lease kept)")
	}
}

// TestClaimShareSkipsLeasedOnly: endpoints whose only due deliveries are
// leased (in flight) still count in the fair-share denominator, so a claim
// returns far fewer than Limit while the busy endpoint has due deliveries,
// room and free workers; the dispatcher reads "fewer than free" as "nothing
// more due" and waits for a wake or the poll tick.
func TestClaimShareSkipsLeasedOnly(t *testing.T) {
	t.Parallel()
	db := leaseDB(t, Options{})
	ctx := context.Background()
	now := time.Date(2026, 5, 8, 10, 15, 0, 0, time.UTC)
	mk := func(tenant string, maxInFlight int) hook.Endpoint {
		if err := db.CreateTenant(ctx, hook.Tenant{ID: tenant, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		ep := hook.Endpoint{
			ID: hook.NewID(hook.PrefixEndpoint), TenantID: tenant, URL: "https://example.com/hook",
			Events: []string{"*"}, Secrets: []hook.Secret{{Key: "whsec_x"}}, SignatureScheme: hook.SchemeStandard,
			MaxInFlight: maxInFlight, Timeout: time.Second, Status: hook.EndpointActive, CreatedAt: now, UpdatedAt: now,
		}
		if err := db.CreateEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
		return ep
	}
	// Nine slow endpoints, one delivery each, claimed and in flight.
	for i := range 9 {
		mk(fmt.Sprintf("slow%d", i), 8)
		if _, err := db.Ingest(ctx, hook.Event{ID: fmt.Sprintf("evt_s%d", i), TenantID: fmt.Sprintf("slow%d", i), Type: "a.b", Data: []byte(`{}`), CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := db.ClaimDeliveries(ctx, hook.ClaimParams{Now: now, Limit: 100, LeaseMargin: 10 * time.Second})
	if err != nil || len(cs) != 9 {
		t.Fatalf("slow claims: %d %v", len(cs), err)
	}
	// One busy endpoint with 20 due deliveries and room for 20.
	mk("busy", 20)
	for i := range 20 {
		if _, err := db.Ingest(ctx, hook.Event{ID: fmt.Sprintf("evt_b%d", i), TenantID: "busy", Type: "a.b", Data: []byte(`{}`), CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	cs, err = db.ClaimDeliveries(ctx, hook.ClaimParams{Now: now.Add(time.Millisecond), Limit: 20, LeaseMargin: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := db.QueueStats(ctx, now.Add(time.Millisecond))
	t.Logf("claimed %d of Limit 20; queue after: %+v", len(cs), st)
	if len(cs) < 20 {
		t.Errorf("claim returned %d with Limit 20, 20 due on one endpoint with room 20: the leased-only endpoints shrink the share", len(cs))
	}
}
