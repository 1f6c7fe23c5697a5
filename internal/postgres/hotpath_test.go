package postgres_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/postgres"
)

var hotT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mustTenant(t *testing.T, db *postgres.DB, id string) {
	t.Helper()
	if err := db.CreateTenant(t.Context(), hook.Tenant{ID: id, Name: id, CreatedAt: hotT0}); err != nil {
		t.Fatalf("CreateTenant(%s): %v", id, err)
	}
}

func mustEndpoint(t *testing.T, db *postgres.DB, tenant string, maxInFlight int) hook.Endpoint {
	t.Helper()
	ep := hook.Endpoint{
		ID: hook.NewID(hook.PrefixEndpoint), TenantID: tenant, URL: "https://example.com/hooks",
		Events: []string{"*"}, Secrets: []hook.Secret{{Key: "whsec_" + hook.NewID("s")}},
		SignatureScheme: hook.SchemeStandard, MaxInFlight: maxInFlight, Timeout: hook.DefaultTimeout,
		Status: hook.EndpointActive, CreatedAt: hotT0, UpdatedAt: hotT0,
	}
	if err := db.CreateEndpoint(t.Context(), ep); err != nil {
		t.Fatalf("CreateEndpoint: %v", err)
	}
	return ep
}

func event(tenant string) hook.Event {
	return hook.Event{ID: hook.NewID(hook.PrefixEvent), TenantID: tenant, Type: "a.b", Data: []byte(`{}`), CreatedAt: hotT0}
}

// TestIngestBatchTenants checks how a batch answers events whose tenant
// does not exist: a duplicate when their id is stored (also when its
// tenant was deleted since), ErrNotFound otherwise, even when a later event
// of the batch stores their id for a tenant that exists.
func TestIngestBatchTenants(t *testing.T) {
	t.Parallel()
	db := openTest(t, pgtest.URL(t))
	ctx := t.Context()
	mustTenant(t, db, "gone")
	mustTenant(t, db, "acme")
	mustEndpoint(t, db, "acme", 10)
	old := event("gone")
	if _, err := db.Ingest(ctx, old); err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	if err := db.DeleteTenant(ctx, "gone", hotT0); err != nil {
		t.Fatalf("DeleteTenant: %v", err)
	}
	x := event("nobody")
	later := x
	later.TenantID = "acme"
	again := later
	again.Data = []byte(`{"again":true}`)
	items, err := db.IngestBatch(ctx, []hook.Event{old, x, later, again, event("gone")})
	if err != nil {
		t.Fatalf("IngestBatch: %v", err)
	}
	if r := items[0].Result; items[0].Err != nil || !r.Duplicate || r.Event.TenantID != "gone" {
		t.Errorf("item 0 (stored, tenant deleted since) = %+v, %v; want a duplicate", r, items[0].Err)
	}
	if !errors.Is(items[1].Err, hook.ErrNotFound) {
		t.Errorf("item 1 (no tenant; a later item stores its id) err = %v, want ErrNotFound", items[1].Err)
	}
	if r := items[2].Result; items[2].Err != nil || r.Duplicate || len(r.Deliveries) != 1 {
		t.Errorf("item 2 = %+v, %v; want a new event with one delivery", r, items[2].Err)
	}
	if r := items[3].Result; items[3].Err != nil || !r.Duplicate || string(r.Event.Data) != "{}" {
		t.Errorf("item 3 = %+v, %v; want a duplicate of item 2", r, items[3].Err)
	}
	if !errors.Is(items[4].Err, hook.ErrNotFound) {
		t.Errorf("item 4 (deleted tenant) err = %v, want ErrNotFound", items[4].Err)
	}
	got, err := db.Event(ctx, x.ID)
	if err != nil || got.TenantID != "acme" {
		t.Errorf("Event(%s) = %+v, %v; want acme's", x.ID, got, err)
	}
}

// TestCompleteAttemptConcurrent completes many attempts of one endpoint at
// once, each a single statement: every failure counts toward the streak,
// and of the attempts that each would disable the endpoint, exactly one
// reports that it did.
func TestCompleteAttemptConcurrent(t *testing.T) {
	t.Parallel()
	db := openTest(t, pgtest.URL(t))
	ctx := t.Context()
	mustTenant(t, db, "acme")
	ep := mustEndpoint(t, db, "acme", 100)
	const n = 40
	evs := make([]hook.Event, n)
	for i := range evs {
		evs[i] = event("acme")
	}
	if _, err := db.IngestBatch(ctx, evs); err != nil {
		t.Fatalf("IngestBatch: %v", err)
	}
	claims, err := db.ClaimDeliveries(ctx, hook.ClaimParams{Now: hotT0.Add(time.Minute), Limit: n})
	if err != nil || len(claims) != n {
		t.Fatalf("ClaimDeliveries = %d claims, %v; want %d", len(claims), err, n)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		disabled []string
	)
	fail := func(i int, c hook.Claim) {
		a := hook.Attempt{
			ID: hook.NewID(hook.PrefixAttempt), DeliveryID: c.Delivery.ID, EndpointID: c.Endpoint.ID,
			TenantID: c.Delivery.TenantID, Number: 1, StartedAt: hotT0.Add(time.Duration(i) * time.Hour),
			Duration: time.Millisecond, RequestHeader: http.Header{}, ResponseHeader: http.Header{},
			StatusCode: 500, Error: "http_status", NextRetryAt: hotT0.Add(48 * time.Hour),
		}
		o := hook.Outcome{Attempt: a, Status: hook.DeliveryPending, DisableAfter: 9 * time.Hour}
		reason, err := db.CompleteAttempt(context.Background(), c.Token, o)
		if err != nil {
			t.Errorf("CompleteAttempt: %v", err)
		}
		if reason != "" {
			mu.Lock()
			disabled = append(disabled, reason)
			mu.Unlock()
		}
	}
	// The first failure, at hotT0, begins the streak; every other began at
	// least ten hours later, so each would disable the endpoint.
	fail(0, claims[0])
	for i, c := range claims[1:] {
		wg.Go(func() { fail(i+10, c) })
	}
	wg.Wait()
	got, err := db.Endpoint(ctx, ep.ID)
	if err != nil {
		t.Fatalf("Endpoint: %v", err)
	}
	if got.ConsecutiveFailures != n {
		t.Errorf("ConsecutiveFailures = %d, want %d", got.ConsecutiveFailures, n)
	}
	if got.Status != hook.EndpointDisabled {
		t.Errorf("Status = %s, want disabled", got.Status)
	}
	if len(disabled) != 1 || disabled[0] != got.DisabledReason {
		t.Errorf("CompleteAttempt reported disabling %q; want exactly the endpoint's reason %q", disabled, got.DisabledReason)
	}
}

// TestCompleteAttemptBatchFailure completes attempts at once, one of which
// reuses the id of an attempt recorded before: that one fails with
// ErrConflict, whatever batch it was in, and the others are recorded.
func TestCompleteAttemptBatchFailure(t *testing.T) {
	t.Parallel()
	db := openTest(t, pgtest.URL(t))
	ctx := t.Context()
	mustTenant(t, db, "acme")
	mustEndpoint(t, db, "acme", 100)
	const n = 30
	evs := make([]hook.Event, n)
	for i := range evs {
		evs[i] = event("acme")
	}
	if _, err := db.IngestBatch(ctx, evs); err != nil {
		t.Fatalf("IngestBatch: %v", err)
	}
	claims, err := db.ClaimDeliveries(ctx, hook.ClaimParams{Now: hotT0.Add(time.Minute), Limit: n})
	if err != nil || len(claims) != n {
		t.Fatalf("ClaimDeliveries = %d claims, %v; want %d", len(claims), err, n)
	}
	attempt := func(c hook.Claim, id string) hook.Outcome {
		return hook.Outcome{Status: hook.DeliverySucceeded, Attempt: hook.Attempt{
			ID: id, DeliveryID: c.Delivery.ID, EndpointID: c.Endpoint.ID, TenantID: c.Delivery.TenantID,
			Number: 1, StartedAt: hotT0, RequestHeader: http.Header{}, ResponseHeader: http.Header{}, StatusCode: 200,
		}}
	}
	taken := hook.NewID(hook.PrefixAttempt)
	if _, err := db.CompleteAttempt(ctx, claims[0].Token, attempt(claims[0], taken)); err != nil {
		t.Fatalf("CompleteAttempt: %v", err)
	}
	const bad = n / 2
	var wg sync.WaitGroup
	for i, c := range claims[1:] {
		wg.Go(func() {
			id := hook.NewID(hook.PrefixAttempt)
			if i+1 == bad {
				id = taken
			}
			_, err := db.CompleteAttempt(context.Background(), c.Token, attempt(c, id))
			switch {
			case i+1 == bad && !errors.Is(err, hook.ErrConflict):
				t.Errorf("CompleteAttempt with a taken attempt id: %v, want ErrConflict", err)
			case i+1 != bad && err != nil:
				t.Errorf("CompleteAttempt %d: %v", i+1, err)
			}
		})
	}
	wg.Wait()
	for i, c := range claims {
		d, err := db.Delivery(ctx, c.Delivery.ID)
		if err != nil {
			t.Fatalf("Delivery: %v", err)
		}
		if want := map[bool]hook.DeliveryStatus{true: hook.DeliveryPending, false: hook.DeliverySucceeded}[i == bad]; d.Status != want {
			t.Errorf("delivery %d: status %s, want %s", i, d.Status, want)
		}
	}
}

// TestClaimUneven claims across endpoints with uneven backlogs: the first
// read, capped at an even share per endpoint, comes back short, and the
// claim still fills its limit from the deeper backlogs, fairly.
func TestClaimUneven(t *testing.T) {
	t.Parallel()
	db := openTest(t, pgtest.URL(t))
	ctx := t.Context()
	mustTenant(t, db, "one")
	mustTenant(t, db, "many")
	one := mustEndpoint(t, db, "one", 100)
	many := mustEndpoint(t, db, "many", 100)
	evs := []hook.Event{event("one")}
	for range 10 {
		evs = append(evs, event("many"))
	}
	if _, err := db.IngestBatch(ctx, evs); err != nil {
		t.Fatalf("IngestBatch: %v", err)
	}
	claims, err := db.ClaimDeliveries(ctx, hook.ClaimParams{Now: hotT0.Add(time.Minute), Limit: 8})
	if err != nil {
		t.Fatalf("ClaimDeliveries: %v", err)
	}
	n := map[string]int{}
	for _, c := range claims {
		n[c.Endpoint.ID]++
	}
	if len(claims) != 8 || n[one.ID] != 1 || n[many.ID] != 7 {
		t.Errorf("claimed %d: %d of the endpoint with one due, %d of the one with ten; want 8: 1 and 7", len(claims), n[one.ID], n[many.ID])
	}
	if claims[0].Endpoint.ID != one.ID && claims[1].Endpoint.ID != one.ID {
		t.Errorf("the endpoint with one due is not among the first two claims")
	}
}

// TestPoolSize checks the pool's default size and that the URL's
// pool_max_conns and Options.MaxConns win over it.
func TestPoolSize(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	open := func(url string, n int32) int32 {
		t.Helper()
		db, err := postgres.Open(t.Context(), url, postgres.Options{Secrets: newBox(t), MaxConns: n})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer db.Close()
		return db.Pool().Stat().MaxConns()
	}
	if got := open(url, 0); got < 8 {
		t.Errorf("default pool size = %d, want at least 8", got)
	}
	if got := open(url+"&pool_max_conns=3", 0); got != 3 {
		t.Errorf("pool size with pool_max_conns=3 = %d, want 3", got)
	}
	if got := open(url, 5); got != 5 {
		t.Errorf("pool size with MaxConns 5 = %d, want 5", got)
	}
}

// TestCompleteTogether records a batch of completions of several endpoints
// at once, most of them successes (recorded by one statement) and one
// failure: each is recorded as it would be alone, a success twice over or
// under a token not held is refused, and each endpoint's health is that of
// its attempts applied one by one.
func TestCompleteTogether(t *testing.T) {
	t.Parallel()
	db := openTest(t, pgtest.URL(t))
	ctx := t.Context()
	mustTenant(t, db, "acme")
	eps := []hook.Endpoint{mustEndpoint(t, db, "acme", 100), mustEndpoint(t, db, "acme", 100), mustEndpoint(t, db, "acme", 100)}
	evs := make([]hook.Event, 4)
	for i := range evs {
		evs[i] = event("acme")
	}
	if _, err := db.IngestBatch(ctx, evs); err != nil {
		t.Fatalf("IngestBatch: %v", err)
	}
	all, err := db.ClaimDeliveries(ctx, hook.ClaimParams{Now: hotT0.Add(time.Minute), Limit: 12})
	if err != nil || len(all) != 12 {
		t.Fatalf("ClaimDeliveries = %d claims, %v; want 12", len(all), err)
	}
	claims := map[string][]hook.Claim{}
	for _, c := range all {
		claims[c.Endpoint.ID] = append(claims[c.Endpoint.ID], c)
	}
	ep, ep2, ep3 := claims[eps[0].ID], claims[eps[1].ID], claims[eps[2].ID]
	at := func(c hook.Claim, after time.Duration, code int, body string) hook.Outcome {
		a := hook.Attempt{
			ID: hook.NewID(hook.PrefixAttempt), DeliveryID: c.Delivery.ID, EndpointID: c.Endpoint.ID,
			TenantID: c.Delivery.TenantID, Number: 1, StartedAt: hotT0.Add(after), Duration: 5 * time.Millisecond,
			RequestHeader: http.Header{"X-Try": {"1"}}, ResponseHeader: http.Header{}, StatusCode: code,
		}
		if body != "" {
			a.ResponseBody = []byte(body)
		}
		if code >= 300 {
			a.Error, a.NextRetryAt = "http_status", hotT0.Add(48*time.Hour)
			return hook.Outcome{Attempt: a, Status: hook.DeliveryPending}
		}
		return hook.Outcome{Attempt: a, Status: hook.DeliverySucceeded}
	}
	// ep and ep3 are failing since an attempt started an hour in.
	for _, c := range []hook.Claim{ep[0], ep3[0]} {
		if _, err := db.CompleteAttempt(ctx, c.Token, at(c, time.Hour, 500, "")); err != nil {
			t.Fatalf("CompleteAttempt: %v", err)
		}
	}
	twice := at(ep[3], 100*time.Minute, 200, "")
	twice.Attempt.ID = hook.NewID(hook.PrefixAttempt)
	tokens := []string{ep[1].Token, ep[2].Token, ep[3].Token, ep[3].Token, ep2[0].Token, ep2[1].Token, "clm_wrong", ep3[1].Token}
	outcomes := []hook.Outcome{
		at(ep[1], 30*time.Minute, 200, "ok"), // before the failure
		at(ep[2], 2*time.Hour, 204, ""),      // after it: the streak ends
		at(ep[3], 90*time.Minute, 200, ""),
		twice, // the same lease again
		at(ep2[0], time.Hour, 200, ""),
		at(ep2[1], 3*time.Hour, 503, ""), // a failure, in the same batch
		at(ep2[2], time.Hour, 200, ""),   // a token not held
		at(ep3[1], 30*time.Minute, 200, ""),
	}
	errs, err := db.CompleteTogether(ctx, tokens, outcomes)
	if err != nil {
		t.Fatalf("CompleteTogether: %v", err)
	}
	for i, err := range errs {
		refused := i == 6
		if i == 2 || i == 3 {
			refused = errs[5-i] == nil // the same lease: one of the two
		}
		if refused != (err != nil) || err != nil && !errors.Is(err, hook.ErrConflict) {
			t.Errorf("completion %d: %v", i, err)
		}
	}
	wantStatus := map[string]hook.DeliveryStatus{
		ep[1].Delivery.ID: hook.DeliverySucceeded, ep[2].Delivery.ID: hook.DeliverySucceeded,
		ep[3].Delivery.ID: hook.DeliverySucceeded, ep2[0].Delivery.ID: hook.DeliverySucceeded,
		ep2[1].Delivery.ID: hook.DeliveryPending, ep2[2].Delivery.ID: hook.DeliveryPending,
		ep3[1].Delivery.ID: hook.DeliverySucceeded,
	}
	for id, want := range wantStatus {
		d, err := db.Delivery(ctx, id)
		if err != nil {
			t.Fatalf("Delivery: %v", err)
		}
		if d.Status != want || d.AttemptCount != map[bool]int{true: 0, false: 1}[id == ep2[2].Delivery.ID] {
			t.Errorf("delivery %s: %s after %d attempts, want %s", id, d.Status, d.AttemptCount, want)
		}
	}
	for i, c := range []hook.Claim{ep[1], ep[2]} {
		p, err := db.ListAttempts(ctx, hook.AttemptFilter{DeliveryID: c.Delivery.ID})
		if err != nil || len(p.Items) != 1 {
			t.Fatalf("ListAttempts = %d, %v; want one", len(p.Items), err)
		}
		a, want := p.Items[0], outcomes[i].Attempt
		if a.ID != want.ID || a.StatusCode != want.StatusCode || !a.StartedAt.Equal(want.StartedAt) ||
			a.Duration != want.Duration || a.RequestHeader.Get("X-Try") != "1" ||
			(a.ResponseBody == nil) != (want.ResponseBody == nil) || string(a.ResponseBody) != string(want.ResponseBody) {
			t.Errorf("attempt %d = %+v, want %+v", i, a, want)
		}
	}
	health := []struct {
		success, failure, since time.Duration // from hotT0; -1: never
		failures                int
	}{
		{2 * time.Hour, time.Hour, -1, 0},
		{time.Hour, 3 * time.Hour, 3 * time.Hour, 1},
		{30 * time.Minute, time.Hour, time.Hour, 1},
	}
	for i, h := range health {
		got, err := db.Endpoint(ctx, eps[i].ID)
		if err != nil {
			t.Fatalf("Endpoint: %v", err)
		}
		when := func(d time.Duration) time.Time {
			if d < 0 {
				return time.Time{}
			}
			return hotT0.Add(d)
		}
		if !got.LastSuccessAt.Equal(when(h.success)) || !got.LastFailureAt.Equal(when(h.failure)) ||
			!got.FailingSince.Equal(when(h.since)) || got.ConsecutiveFailures != h.failures {
			t.Errorf("endpoint %d: last success %v, last failure %v, failing since %v, %d failures; want %+v",
				i, got.LastSuccessAt, got.LastFailureAt, got.FailingSince, got.ConsecutiveFailures, h)
		}
	}
}
