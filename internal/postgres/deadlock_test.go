package postgres

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/seal"
)

// TestDeleteEndpointRetriesDeadlock: one endpoint, deliveries d1 < d2 < d3
// by id but due d3, d1, d2 (retries). A batch of completions [d1, d2, d3]
// holds d1 and the endpoint row and waits for d2, which another
// transaction holds; DeleteEndpoint's cancel, in the order of due times,
// takes d3 and waits for d1. When d2 is let go, PostgreSQL breaks the
// deadlock by aborting one of them; either way DeleteEndpoint succeeds (a
// deadlocked transaction is run again) and the batch's completions are
// recorded or handed back to their callers.
func TestDeleteEndpointRetriesDeadlock(t *testing.T) {
	db := deadlockDB(t)
	ctx := t.Context()
	if err := db.CreateTenant(ctx, hook.Tenant{ID: "acme", Name: "acme", CreatedAt: deadlockT0}); err != nil {
		t.Fatal(err)
	}
	e := deadlockEndpoint(t, db, "acme")
	var ds []hook.Delivery
	for i := 0; i < 3; i++ {
		r, err := db.Ingest(ctx, hook.Event{ID: hook.NewID(hook.PrefixEvent), TenantID: "acme", Type: "a.b", Data: []byte(`{}`), CreatedAt: deadlockT0})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, r.Deliveries...)
	}
	if !(ds[0].ID < ds[1].ID && ds[1].ID < ds[2].ID) {
		t.Fatal("ids not ascending")
	}
	p := db.pool
	must := func(sql string, args ...any) {
		if _, err := p.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	lease := deadlockT0.Add(time.Hour)
	must("UPDATE deliveries SET next_attempt_at = $2, claim_token = 'tok1', lease_until = $3 WHERE id = $1", ds[0].ID, deadlockT0.Add(20*time.Second), lease)
	must("UPDATE deliveries SET next_attempt_at = $2, claim_token = 'tokm', lease_until = $3 WHERE id = $1", ds[1].ID, deadlockT0.Add(30*time.Second), lease)
	must("UPDATE deliveries SET next_attempt_at = $2, claim_token = 'tok2', lease_until = $3 WHERE id = $1", ds[2].ID, deadlockT0.Add(10*time.Second), lease)
	xtx, err := p.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := xtx.Exec(ctx, "SELECT 1 FROM deliveries WHERE id = $1 FOR UPDATE", ds[1].ID); err != nil {
		t.Fatal(err)
	}
	att := func(d hook.Delivery) hook.Attempt {
		return hook.Attempt{ID: hook.NewID(hook.PrefixAttempt), DeliveryID: d.ID, EndpointID: d.EndpointID, TenantID: "acme",
			Number: 1, StartedAt: deadlockT0, RequestHeader: http.Header{}, ResponseHeader: http.Header{}, StatusCode: 200}
	}
	c1, cm, c2 := deadlockCompletion(att(ds[0]), "tok1"), deadlockCompletion(att(ds[1]), "tokm"), deadlockCompletion(att(ds[2]), "tok2")
	bDone := make(chan struct{})
	go func() { db.flush([]*completion{c2, cm, c1}); close(bDone) }()
	time.Sleep(300 * time.Millisecond)
	deErr := make(chan error, 1)
	go func() { deErr <- db.DeleteEndpoint(context.Background(), e.ID, deadlockT0) }()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	xtx.Commit(ctx)
	err = <-deErr
	<-bDone
	t.Logf("after X commit %v: DeleteEndpoint err=%v; batch: d1 alone=%v found=%v, d2 alone=%v found=%v",
		time.Since(start), err, c1.alone, c1.found, c2.alone, c2.found)
	if err != nil {
		t.Errorf("DeleteEndpoint while a batch of completions held its deliveries: %v", err)
	}
}

var deadlockT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func deadlockDB(t *testing.T) *DB {
	box, err := seal.New(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(context.Background(), pgtest.URL(t), Options{Secrets: box, MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func deadlockEndpoint(t *testing.T, db *DB, tenant string) hook.Endpoint {
	ep := hook.Endpoint{
		ID: hook.NewID(hook.PrefixEndpoint), TenantID: tenant, URL: "https://example.com/hooks",
		Events: []string{"*"}, Secrets: []hook.Secret{{Key: "whsec_" + hook.NewID("s")}},
		SignatureScheme: hook.SchemeStandard, MaxInFlight: 100, Timeout: hook.DefaultTimeout,
		Status: hook.EndpointActive, CreatedAt: deadlockT0, UpdatedAt: deadlockT0,
	}
	if err := db.CreateEndpoint(t.Context(), ep); err != nil {
		t.Fatal(err)
	}
	return ep
}

func deadlockCompletion(a hook.Attempt, token string) *completion {
	rh, _ := jsonText(a.RequestHeader)
	sh, _ := jsonText(a.ResponseHeader)
	t := hook.Timestamp(a.StartedAt)
	end := hook.Timestamp(a.StartedAt.Add(a.Duration))
	return &completion{
		args: []any{a.DeliveryID, token, a.Number, string(hook.DeliverySucceeded), end, false, nil,
			a.ID, a.EndpointID, a.TenantID, t, a.Duration.Microseconds(), rh, a.StatusCode,
			sh, []byte(nil), text(a.Error), text(a.ErrorMessage), nullTS(a.NextRetryAt), a.Succeeded()},
		endpoint: a.EndpointID, delivery: a.DeliveryID, done: make(chan struct{}),
	}
}
