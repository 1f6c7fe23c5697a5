package storetest

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// margin is the LeaseMargin of the suite's claims; with hook.DefaultTimeout
// a lease lasts 25s.
const margin = 10 * time.Second

// claim claims up to limit deliveries at at.
func claim(t testing.TB, s hook.Store, at time.Time, limit int) []hook.Claim {
	t.Helper()
	return claimWith(t, s, hook.ClaimParams{Now: at, Limit: limit, LeaseMargin: margin})
}

func claimWith(t testing.TB, s hook.Store, p hook.ClaimParams) []hook.Claim {
	t.Helper()
	cs, err := s.ClaimDeliveries(context.Background(), p)
	if err != nil {
		t.Fatalf("ClaimDeliveries: %v", err)
	}
	return cs
}

// claimOne claims at at and fails unless it gets exactly one claim.
func claimOne(t testing.TB, s hook.Store, at time.Time) hook.Claim {
	t.Helper()
	cs := claim(t, s, at, 10)
	if len(cs) != 1 {
		t.Fatalf("claim at %s: %d claims, want 1", at, len(cs))
	}
	return cs[0]
}

// attemptOf returns the next attempt of c, started at at, that got code (0
// for no answer), with every field set.
func attemptOf(c hook.Claim, at time.Time, code int) hook.Attempt {
	a := hook.Attempt{
		ID:             hook.NewID(hook.PrefixAttempt),
		DeliveryID:     c.Delivery.ID,
		EndpointID:     c.Endpoint.ID,
		TenantID:       c.Delivery.TenantID,
		Number:         c.Delivery.AttemptCount + 1,
		StartedAt:      at,
		Duration:       1234567 * time.Microsecond,
		RequestHeader:  http.Header{"Webhook-Id": {c.Event.ID}, "Authorization": {"[redacted]"}},
		StatusCode:     code,
		ResponseHeader: http.Header{"Content-Type": {"text/plain"}, "Vary": {"A", "B"}},
		ResponseBody:   []byte("answer \x00\xff ü"),
	}
	if !a.Succeeded() {
		a.Error = "http_status"
		a.ErrorMessage = fmt.Sprintf("the endpoint answered %d", code)
	}
	return a
}

func complete(t testing.TB, s hook.Store, c hook.Claim, o hook.Outcome) {
	t.Helper()
	if _, err := s.CompleteAttempt(context.Background(), c.Token, o); err != nil {
		t.Fatalf("CompleteAttempt(%s #%d): %v", o.Attempt.DeliveryID, o.Attempt.Number, err)
	}
}

// fail records a failed attempt of c at at, due again at next.
func fail(t testing.TB, s hook.Store, c hook.Claim, at, next time.Time) hook.Attempt {
	t.Helper()
	a := attemptOf(c, at, http.StatusServiceUnavailable)
	a.NextRetryAt = next
	complete(t, s, c, hook.Outcome{Attempt: a, Status: hook.DeliveryPending})
	return a
}

func getDelivery(t testing.TB, s hook.Store, id string) hook.Delivery {
	t.Helper()
	d, err := s.Delivery(context.Background(), id)
	if err != nil {
		t.Fatalf("Delivery(%s): %v", id, err)
	}
	return d
}

func getEndpoint(t testing.TB, s hook.Store, id string) hook.Endpoint {
	t.Helper()
	e, err := s.Endpoint(context.Background(), id)
	if err != nil {
		t.Fatalf("Endpoint(%s): %v", id, err)
	}
	return e
}

func listAttempts(t testing.TB, s hook.Store, deliveryID string) []hook.Attempt {
	t.Helper()
	return collect(t, 0, func(p hook.ListParams) (hook.Page[hook.Attempt], error) {
		return s.ListAttempts(context.Background(), hook.AttemptFilter{ListParams: p, DeliveryID: deliveryID})
	})
}

// createEndpointWith creates an endpoint of tenant for every event after
// change has adjusted it.
func createEndpointWith(t testing.TB, s hook.Store, tenant string, change func(*hook.Endpoint)) hook.Endpoint {
	t.Helper()
	e := newEndpoint(tenant, "*")
	change(&e)
	if err := s.CreateEndpoint(context.Background(), e); err != nil {
		t.Fatalf("CreateEndpoint: %v", err)
	}
	return e
}

// ingestN ingests n events of typ and returns their deliveries, oldest
// first.
func ingestN(t testing.TB, s hook.Store, tenant, typ string, n int) []hook.Delivery {
	t.Helper()
	var ds []hook.Delivery
	for range n {
		ds = append(ds, ingest(t, s, newEvent(tenant, typ)).Deliveries...)
	}
	return ds
}

func claimedIDs(cs []hook.Claim) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.Delivery.ID
	}
	return ids
}

func testDispatch(t *testing.T, open OpenFunc) {
	t0 := hook.Timestamp(now)
	t.Run("Claim", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		ep := fullEndpoint("acme")
		ep.Status, ep.DisabledReason = hook.EndpointActive, ""
		if err := s.CreateEndpoint(t.Context(), ep); err != nil {
			t.Fatalf("CreateEndpoint: %v", err)
		}
		res := ingest(t, s, newEvent("acme", "payout.paid"))

		first := claimOne(t, s, t0)
		diff(t, "claimed Delivery", first.Delivery, res.Deliveries[0])
		diff(t, "claimed Event", first.Event, res.Event)
		diff(t, "claimed Endpoint", first.Endpoint, getEndpoint(t, s, ep.ID))
		if first.Token == "" {
			t.Error("claim Token is empty")
		}
		if want := t0.Add(ep.Timeout + margin); !first.LeaseUntil.Equal(want) {
			t.Errorf("LeaseUntil = %s, want now + timeout + margin = %s", first.LeaseUntil, want)
		}
		// Leased: not claimable until the lease ends, then with a new token.
		if cs := claim(t, s, t0, 10); len(cs) != 0 {
			t.Errorf("claim while leased: %d claims, want 0", len(cs))
		}
		if cs := claim(t, s, first.LeaseUntil.Add(-time.Microsecond), 10); len(cs) != 0 {
			t.Errorf("claim just before the lease ends: %d claims, want 0", len(cs))
		}
		second := claimOne(t, s, first.LeaseUntil)
		if second.Token == first.Token {
			t.Errorf("second claim has the first's token %q", first.Token)
		}
		diff(t, "reclaimed Delivery", second.Delivery, res.Deliveries[0])

		// The stale token is fenced out and writes nothing.
		stale := attemptOf(first, t0, 200)
		_, err := s.CompleteAttempt(t.Context(), first.Token, hook.Outcome{Attempt: stale, Status: hook.DeliverySucceeded})
		wantErr(t, "CompleteAttempt with the stale token", err, hook.ErrConflict)
		diff(t, "delivery after a stale completion", getDelivery(t, s, first.Delivery.ID), res.Deliveries[0])
		if as := listAttempts(t, s, first.Delivery.ID); len(as) != 0 {
			t.Errorf("attempts after a stale completion: %d, want 0", len(as))
		}
		if e := getEndpoint(t, s, ep.ID); !e.LastSuccessAt.Equal(ep.LastSuccessAt) {
			t.Errorf("LastSuccessAt after a stale completion = %s, want unchanged %s", e.LastSuccessAt, ep.LastSuccessAt)
		}

		a := attemptOf(second, first.LeaseUntil, 200)
		complete(t, s, second, hook.Outcome{Attempt: a, Status: hook.DeliverySucceeded})
		if got := getDelivery(t, s, first.Delivery.ID).Status; got != hook.DeliverySucceeded {
			t.Errorf("Status = %s, want succeeded", got)
		}
		_, err = s.CompleteAttempt(t.Context(), second.Token, hook.Outcome{Attempt: attemptOf(second, t0, 200), Status: hook.DeliverySucceeded})
		wantErr(t, "CompleteAttempt twice", err, hook.ErrConflict)
		if cs := claim(t, s, t0.Add(time.Hour), 10); len(cs) != 0 {
			t.Errorf("claim after success: %d claims, want 0", len(cs))
		}
	})
	t.Run("ZeroLimit", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createEndpoint(t, s, "acme", "*")
		ingest(t, s, newEvent("acme", "a.b"))
		for _, limit := range []int{0, -1} {
			if cs := claim(t, s, t0, limit); len(cs) != 0 {
				t.Errorf("claim with Limit %d: %d claims, want 0", limit, len(cs))
			}
		}
		claimOne(t, s, t0)
	})
	t.Run("NotDue", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createEndpoint(t, s, "acme", "*")
		ingest(t, s, newEvent("acme", "a.b"))
		if cs := claim(t, s, t0.Add(-time.Microsecond), 10); len(cs) != 0 {
			t.Errorf("claim before the delivery is due: %d claims, want 0", len(cs))
		}
		c := claimOne(t, s, t0)
		next := t0.Add(time.Minute)
		fail(t, s, c, t0, next)
		if cs := claim(t, s, next.Add(-time.Microsecond), 10); len(cs) != 0 {
			t.Errorf("claim before the retry is due: %d claims, want 0", len(cs))
		}
		again := claimOne(t, s, next)
		if again.Delivery.AttemptCount != 1 || !again.Delivery.NextAttemptAt.Equal(next) {
			t.Errorf("retried delivery: AttemptCount %d, NextAttemptAt %s; want 1, %s",
				again.Delivery.AttemptCount, again.Delivery.NextAttemptAt, next)
		}
	})
	t.Run("DisabledEndpoint", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		ep := createEndpoint(t, s, "acme", "*")
		ds := ingestN(t, s, "acme", "a.b", 2)
		c := claim(t, s, t0, 1)[0]
		a := attemptOf(c, t0, http.StatusGone)
		complete(t, s, c, hook.Outcome{Attempt: a, Status: hook.DeliveryFailed, Disable: "gone"})
		if e := getEndpoint(t, s, ep.ID); e.Status != hook.EndpointDisabled {
			t.Fatalf("endpoint status = %s, want disabled", e.Status)
		}
		if cs := claim(t, s, t0.Add(time.Hour), 10); len(cs) != 0 {
			t.Errorf("claim for a disabled endpoint: %d claims, want 0", len(cs))
		}
		if got := getDelivery(t, s, ds[1].ID); got.Status != hook.DeliveryPending {
			t.Errorf("the other delivery's status = %s, want pending", got.Status)
		}
	})
	t.Run("MaxInFlight", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createEndpointWith(t, s, "acme", func(e *hook.Endpoint) { e.MaxInFlight = 2 })
		ingestN(t, s, "acme", "a.b", 5)
		cs := claim(t, s, t0, 10)
		if len(cs) != 2 {
			t.Fatalf("claim with MaxInFlight 2: %d claims, want 2", len(cs))
		}
		complete(t, s, cs[0], hook.Outcome{Attempt: attemptOf(cs[0], t0, 200), Status: hook.DeliverySucceeded})
		if got := claim(t, s, t0, 10); len(got) != 1 {
			t.Errorf("claim after one completed: %d claims, want 1", len(got))
		}
		if got := claim(t, s, t0, 10); len(got) != 0 {
			t.Errorf("claim at the cap: %d claims, want 0", len(got))
		}
		// Expired leases no longer count.
		if got := claim(t, s, cs[1].LeaseUntil, 10); len(got) != 2 {
			t.Errorf("claim once the leases expired: %d claims, want 2", len(got))
		}
	})
	t.Run("EndpointLimits", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		limited := createEndpoint(t, s, "acme", "a.*")
		free := createEndpoint(t, s, "acme", "b.*")
		ingestN(t, s, "acme", "a.x", 3)
		ingestN(t, s, "acme", "b.x", 1)
		count := func(cs []hook.Claim, ep string) int {
			n := 0
			for _, c := range cs {
				if c.Delivery.EndpointID == ep {
					n++
				}
			}
			return n
		}
		p := hook.ClaimParams{Now: t0, Limit: 10, LeaseMargin: margin, EndpointLimits: map[string]int{limited.ID: 0}}
		cs := claimWith(t, s, p)
		if count(cs, limited.ID) != 0 || count(cs, free.ID) != 1 {
			t.Errorf("limit 0: %d claims of the limited endpoint, %d of the other; want 0 and 1",
				count(cs, limited.ID), count(cs, free.ID))
		}
		// The limit bounds each claim's new leases.
		p.EndpointLimits[limited.ID] = 1
		for i := range 2 {
			if cs := claimWith(t, s, p); len(cs) != 1 || count(cs, limited.ID) != 1 {
				t.Errorf("limit 1, claim %d: %d claims, want 1 of the limited endpoint", i, len(cs))
			}
		}
	})
	t.Run("Fair", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createEndpoint(t, s, "acme", "a.*")
		createEndpoint(t, s, "acme", "b.*")
		as := ingestN(t, s, "acme", "a.x", 50)
		bs := ingestN(t, s, "acme", "b.x", 1)
		got := claimedIDs(claim(t, s, t0, 3))
		diff(t, "claimed deliveries", got, []string{as[0].ID, bs[0].ID, as[1].ID})
	})
	t.Run("Release", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createEndpoint(t, s, "acme", "*")
		ingest(t, s, newEvent("acme", "a.b"))
		c := claimOne(t, s, t0)
		fail(t, s, c, t0, t0)
		c = claimOne(t, s, t0)
		next := t0.Add(2 * time.Minute)
		if err := s.ReleaseClaim(t.Context(), c.Delivery.ID, c.Token, next); err != nil {
			t.Fatalf("ReleaseClaim: %v", err)
		}
		want := c.Delivery
		want.NextAttemptAt = next
		diff(t, "released delivery", getDelivery(t, s, c.Delivery.ID), want)
		wantErr(t, "ReleaseClaim twice", s.ReleaseClaim(t.Context(), c.Delivery.ID, c.Token, t0), hook.ErrConflict)
		_, err := s.CompleteAttempt(t.Context(), c.Token, hook.Outcome{Attempt: attemptOf(c, t0, 200), Status: hook.DeliverySucceeded})
		wantErr(t, "CompleteAttempt after ReleaseClaim", err, hook.ErrConflict)
		if cs := claim(t, s, next.Add(-time.Microsecond), 10); len(cs) != 0 {
			t.Errorf("claim before the released delivery is due: %d claims, want 0", len(cs))
		}
		again := claimOne(t, s, next)
		if again.Delivery.AttemptCount != 1 {
			t.Errorf("AttemptCount after release = %d, want 1", again.Delivery.AttemptCount)
		}
		wantErr(t, "ReleaseClaim of the earlier claim", s.ReleaseClaim(t.Context(), c.Delivery.ID, c.Token, t0), hook.ErrConflict)
		wantErr(t, "ReleaseClaim of an unknown delivery", s.ReleaseClaim(t.Context(), "dlv_nobody", c.Token, t0), hook.ErrNotFound)
	})
	t.Run("QueueStats", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createEndpoint(t, s, "acme", "*")
		ingestN(t, s, "acme", "a.b", 5)
		stats := func(at time.Time, want hook.QueueStats) {
			t.Helper()
			got, err := s.QueueStats(t.Context(), at)
			if err != nil {
				t.Fatalf("QueueStats: %v", err)
			}
			diff(t, fmt.Sprintf("QueueStats at %s", at), got, want)
		}
		stats(t0.Add(-time.Second), hook.QueueStats{Pending: 5})
		stats(t0, hook.QueueStats{Pending: 5, Due: 5})
		cs := claim(t, s, t0, 3)
		complete(t, s, cs[0], hook.Outcome{Attempt: attemptOf(cs[0], t0, 200), Status: hook.DeliverySucceeded})
		fail(t, s, cs[1], t0, t0.Add(time.Hour))
		// cs[2] is leased, two are due, one waits for its retry.
		stats(t0, hook.QueueStats{Pending: 4, Due: 2, Leased: 1})
		stats(cs[2].LeaseUntil, hook.QueueStats{Pending: 4, Due: 3})
		stats(t0.Add(time.Hour), hook.QueueStats{Pending: 4, Due: 4})
	})
	t.Run("DeleteEndpoint", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createTenant(t, s, "globex")
		ep := createEndpoint(t, s, "acme", "*")
		createEndpoint(t, s, "globex", "*")
		ingest(t, s, newEvent("acme", "a.b"))
		ingest(t, s, newEvent("globex", "a.b"))
		cs := claim(t, s, t0, 10)
		if len(cs) != 2 {
			t.Fatalf("claim: %d claims, want 2", len(cs))
		}
		if err := s.DeleteEndpoint(t.Context(), ep.ID, t0.Add(time.Second)); err != nil {
			t.Fatalf("DeleteEndpoint: %v", err)
		}
		if err := s.DeleteTenant(t.Context(), "globex", t0.Add(time.Second)); err != nil {
			t.Fatalf("DeleteTenant: %v", err)
		}
		for _, c := range cs {
			_, err := s.CompleteAttempt(t.Context(), c.Token, hook.Outcome{Attempt: attemptOf(c, t0, 200), Status: hook.DeliverySucceeded})
			wantErr(t, "CompleteAttempt after the endpoint was deleted", err, hook.ErrConflict)
			wantErr(t, "ReleaseClaim after the endpoint was deleted",
				s.ReleaseClaim(t.Context(), c.Delivery.ID, c.Token, t0), hook.ErrConflict)
			d := getDelivery(t, s, c.Delivery.ID)
			if d.Status != hook.DeliveryCanceled || d.AttemptCount != 0 || !d.NextAttemptAt.IsZero() {
				t.Errorf("delivery after delete: %s, %d attempts, next %s; want canceled, 0, zero",
					d.Status, d.AttemptCount, d.NextAttemptAt)
			}
			if as := listAttempts(t, s, c.Delivery.ID); len(as) != 0 {
				t.Errorf("attempts of a canceled delivery: %d, want 0", len(as))
			}
		}
		if st, err := s.QueueStats(t.Context(), t0); err != nil || st != (hook.QueueStats{}) {
			t.Errorf("QueueStats after delete = %+v, %v; want zero", st, err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createEndpointWith(t, s, "acme", func(e *hook.Endpoint) { e.Events, e.MaxInFlight = []string{"a.*"}, 1000 })
		capped := createEndpointWith(t, s, "acme", func(e *hook.Endpoint) { e.Events, e.MaxInFlight = []string{"b.*"}, 5 })
		ingestN(t, s, "acme", "a.x", 80)
		ingestN(t, s, "acme", "b.x", 20)
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			claimed = map[string]int{}
			capN    int
		)
		for range 2 {
			wg.Go(func() {
				for {
					cs, err := s.ClaimDeliveries(context.Background(), hook.ClaimParams{Now: t0, Limit: 7, LeaseMargin: margin})
					if err != nil {
						t.Errorf("ClaimDeliveries: %v", err)
						return
					}
					if len(cs) == 0 {
						return
					}
					mu.Lock()
					for _, c := range cs {
						claimed[c.Delivery.ID]++
						if c.Endpoint.ID == capped.ID {
							capN++
						}
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for id, n := range claimed {
			if n != 1 {
				t.Errorf("delivery %s claimed %d times while leased", id, n)
			}
		}
		if len(claimed) != 85 || capN != 5 {
			t.Errorf("claimed %d deliveries, %d of the endpoint capped at 5; want 85 and 5", len(claimed), capN)
		}
	})
	testAttempts(t, open)
}
