package storetest

import (
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// health is the part of an endpoint the delivery engine owns.
type health struct {
	Status              hook.EndpointStatus
	LastSuccessAt       time.Time
	LastFailureAt       time.Time
	ConsecutiveFailures int
	FailingSince        time.Time
}

func healthOf(e hook.Endpoint) health {
	return health{e.Status, e.LastSuccessAt, e.LastFailureAt, e.ConsecutiveFailures, e.FailingSince}
}

// testAttempts checks CompleteAttempt: the attempt log, the delivery's state
// and the endpoint's health.
func testAttempts(t *testing.T, open OpenFunc) {
	t0 := hook.Timestamp(now)
	t.Run("Success", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		ep := createEndpoint(t, s, "acme", "*")
		d := ingest(t, s, newEvent("acme", "a.b")).Deliveries[0]
		c := claimOne(t, s, t0)
		a := attemptOf(c, t0.Add(time.Second), http.StatusNoContent)
		complete(t, s, c, hook.Outcome{Attempt: a, Status: hook.DeliverySucceeded})

		want := d
		want.Status, want.AttemptCount, want.NextAttemptAt = hook.DeliverySucceeded, 1, time.Time{}
		got := getDelivery(t, s, d.ID)
		want.UpdatedAt = got.UpdatedAt // the attempt's start or end, as the store keeps it
		diff(t, "delivery", got, want)
		if got.UpdatedAt.Before(a.StartedAt) || got.UpdatedAt.After(a.StartedAt.Add(a.Duration)) {
			t.Errorf("UpdatedAt = %s, want within the attempt, %s + %s", got.UpdatedAt, a.StartedAt, a.Duration)
		}
		diff(t, "attempts", listAttempts(t, s, d.ID), []hook.Attempt{a})

		e := getEndpoint(t, s, ep.ID)
		diff(t, "health", healthOf(e), health{Status: hook.EndpointActive, LastSuccessAt: a.StartedAt})
		if !e.UpdatedAt.Equal(ep.UpdatedAt) {
			t.Errorf("endpoint UpdatedAt = %s, want the configuration's %s", e.UpdatedAt, ep.UpdatedAt)
		}
	})
	t.Run("Failure", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		ep := createEndpoint(t, s, "acme", "*")
		d := ingest(t, s, newEvent("acme", "a.b")).Deliveries[0]

		c := claimOne(t, s, t0)
		a1 := attemptOf(c, t0, 0)
		a1.Error, a1.ErrorMessage = "timeout", "no answer within 15s"
		a1.ResponseHeader, a1.ResponseBody = nil, nil
		a1.NextRetryAt = t0.Add(5 * time.Second)
		complete(t, s, c, hook.Outcome{Attempt: a1, Status: hook.DeliveryPending})
		got := getDelivery(t, s, d.ID)
		if got.Status != hook.DeliveryPending || got.AttemptCount != 1 || !got.NextAttemptAt.Equal(a1.NextRetryAt) {
			t.Errorf("delivery after a failure: %s, %d attempts, next %s; want pending, 1, %s",
				got.Status, got.AttemptCount, got.NextAttemptAt, a1.NextRetryAt)
		}
		diff(t, "health after a failure", healthOf(getEndpoint(t, s, ep.ID)),
			health{Status: hook.EndpointActive, LastFailureAt: t0, ConsecutiveFailures: 1, FailingSince: t0})

		t1 := a1.NextRetryAt
		c = claimOne(t, s, t1)
		a2 := fail(t, s, c, t1, t1.Add(time.Minute))
		diff(t, "health after a second failure", healthOf(getEndpoint(t, s, ep.ID)),
			health{Status: hook.EndpointActive, LastFailureAt: t1, ConsecutiveFailures: 2, FailingSince: t0})

		t2 := a2.NextRetryAt
		c = claimOne(t, s, t2)
		a3 := attemptOf(c, t2, 200)
		a3.ResponseHeader, a3.ResponseBody = http.Header{}, []byte{}
		complete(t, s, c, hook.Outcome{Attempt: a3, Status: hook.DeliverySucceeded})
		diff(t, "health after a success", healthOf(getEndpoint(t, s, ep.ID)),
			health{Status: hook.EndpointActive, LastSuccessAt: t2, LastFailureAt: t1})
		got = getDelivery(t, s, d.ID)
		if got.Status != hook.DeliverySucceeded || got.AttemptCount != 3 || !got.NextAttemptAt.IsZero() {
			t.Errorf("delivery after a success: %s, %d attempts, next %s; want succeeded, 3, zero",
				got.Status, got.AttemptCount, got.NextAttemptAt)
		}
		as := listAttempts(t, s, d.ID)
		if len(as) == 3 && len(as[2].ResponseBody) == 0 {
			as[2].ResponseBody = []byte{} // an empty body may come back nil
		}
		diff(t, "attempts", as, []hook.Attempt{a1, a2, a3})
		if len(as) > 0 && as[0].ResponseHeader != nil {
			t.Errorf("nil ResponseHeader came back as %#v", as[0].ResponseHeader)
		}
	})
	t.Run("OutOfOrder", func(t *testing.T) {
		// Two attempts in flight together complete in the other order: the
		// later one's outcome is the endpoint's health.
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		ep := createEndpoint(t, s, "acme", "*")
		ingestN(t, s, "acme", "a.b", 4)
		cs := claim(t, s, t0, 4)
		if len(cs) != 4 {
			t.Fatalf("%d claims, want 4", len(cs))
		}
		early, late := t0, t0.Add(time.Second)
		// A failure that started later is recorded first; then a success
		// that started earlier: the streak goes on.
		fail(t, s, cs[0], late, late.Add(time.Minute))
		complete(t, s, cs[1], hook.Outcome{Attempt: attemptOf(cs[1], early, 200), Status: hook.DeliverySucceeded})
		diff(t, "health after an earlier success recorded late", healthOf(getEndpoint(t, s, ep.ID)),
			health{Status: hook.EndpointActive, LastSuccessAt: early, LastFailureAt: late, ConsecutiveFailures: 1, FailingSince: late})
		// A success that started later, then a failure that started earlier:
		// no streak.
		later := t0.Add(2 * time.Second)
		complete(t, s, cs[2], hook.Outcome{Attempt: attemptOf(cs[2], later, 200), Status: hook.DeliverySucceeded})
		fail(t, s, cs[3], late, late.Add(time.Minute))
		diff(t, "health after an earlier failure recorded late", healthOf(getEndpoint(t, s, ep.ID)),
			health{Status: hook.EndpointActive, LastSuccessAt: later, LastFailureAt: late})
	})
	t.Run("Exhausted", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		ep := createEndpoint(t, s, "acme", "*")
		d := ingest(t, s, newEvent("acme", "a.b")).Deliveries[0]
		c := claimOne(t, s, t0)
		a := attemptOf(c, t0, 500)
		a.NextRetryAt = t0.Add(time.Hour) // ignored: a failed delivery is not due
		complete(t, s, c, hook.Outcome{Attempt: a, Status: hook.DeliveryFailed})
		got := getDelivery(t, s, d.ID)
		if got.Status != hook.DeliveryFailed || got.AttemptCount != 1 || !got.NextAttemptAt.IsZero() {
			t.Errorf("delivery: %s, %d attempts, next %s; want failed, 1, zero", got.Status, got.AttemptCount, got.NextAttemptAt)
		}
		if e := getEndpoint(t, s, ep.ID); e.Status != hook.EndpointActive || e.ConsecutiveFailures != 1 {
			t.Errorf("endpoint: %s, %d failures; want active, 1", e.Status, e.ConsecutiveFailures)
		}
		if cs := claim(t, s, t0.Add(time.Hour), 10); len(cs) != 0 {
			t.Errorf("claim of a failed delivery: %d claims, want 0", len(cs))
		}
	})
	t.Run("DisableAfter", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		ep := createEndpoint(t, s, "acme", "*")
		ingest(t, s, newEvent("acme", "a.b"))
		const after = time.Hour
		times := []time.Time{t0, t0.Add(after - time.Second), t0.Add(after + time.Second)}
		for i, at := range times {
			c := claimOne(t, s, at)
			a := attemptOf(c, at, 500)
			if i < len(times)-1 {
				a.NextRetryAt = times[i+1]
			}
			complete(t, s, c, hook.Outcome{Attempt: a, Status: hook.DeliveryPending, DisableAfter: after})
			e := getEndpoint(t, s, ep.ID)
			last := i == len(times)-1
			if got := e.Status == hook.EndpointDisabled; got != last {
				t.Errorf("failure %d, %s into the streak: disabled %v, want %v", i+1, at.Sub(t0), got, last)
			}
			if last && e.DisabledReason == "" {
				t.Error("DisabledReason is empty")
			}
		}
		// Its pending delivery stays, unclaimed.
		if cs := claim(t, s, t0.Add(48*time.Hour), 10); len(cs) != 0 {
			t.Errorf("claim for the disabled endpoint: %d claims, want 0", len(cs))
		}
	})
	t.Run("DisableAfterSuccess", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		ep := createEndpoint(t, s, "acme", "*")
		ingestN(t, s, "acme", "a.b", 2)
		cs := claim(t, s, t0, 2)
		fail(t, s, cs[0], t0, t0.Add(time.Hour))
		// A success ends the streak, so a later failure starts a new one.
		complete(t, s, cs[1], hook.Outcome{Attempt: attemptOf(cs[1], t0.Add(time.Minute), 200), Status: hook.DeliverySucceeded, DisableAfter: time.Minute})
		c := claimOne(t, s, t0.Add(time.Hour))
		a := attemptOf(c, t0.Add(time.Hour), 500)
		complete(t, s, c, hook.Outcome{Attempt: a, Status: hook.DeliveryFailed, DisableAfter: time.Minute})
		e := getEndpoint(t, s, ep.ID)
		diff(t, "health", healthOf(e), health{Status: hook.EndpointActive, LastSuccessAt: t0.Add(time.Minute),
			LastFailureAt: t0.Add(time.Hour), ConsecutiveFailures: 1, FailingSince: t0.Add(time.Hour)})
	})
	t.Run("Gone", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		ep := createEndpoint(t, s, "acme", "*")
		d := ingest(t, s, newEvent("acme", "a.b")).Deliveries[0]
		c := claimOne(t, s, t0)
		complete(t, s, c, hook.Outcome{Attempt: attemptOf(c, t0, http.StatusGone), Status: hook.DeliveryFailed, Disable: "gone"})
		e := getEndpoint(t, s, ep.ID)
		if e.Status != hook.EndpointDisabled || e.DisabledReason != "gone" {
			t.Errorf("endpoint: %s %q, want disabled \"gone\"", e.Status, e.DisabledReason)
		}
		if !e.UpdatedAt.Equal(ep.UpdatedAt) {
			t.Errorf("endpoint UpdatedAt = %s, want the configuration's %s", e.UpdatedAt, ep.UpdatedAt)
		}
		got := getDelivery(t, s, d.ID)
		if got.Status != hook.DeliveryFailed || !got.NextAttemptAt.IsZero() {
			t.Errorf("delivery: %s, next %s; want failed, zero", got.Status, got.NextAttemptAt)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		a := hook.Attempt{ID: hook.NewID(hook.PrefixAttempt), DeliveryID: "dlv_nobody", Number: 1, StartedAt: t0}
		_, err := s.CompleteAttempt(t.Context(), "token", hook.Outcome{Attempt: a, Status: hook.DeliverySucceeded})
		wantErr(t, "CompleteAttempt of an unknown delivery", err, hook.ErrNotFound)
		p, err := s.ListAttempts(t.Context(), hook.AttemptFilter{DeliveryID: "dlv_nobody"})
		if err != nil || len(p.Items) != 0 || p.Next != "" {
			t.Errorf("ListAttempts of an unknown delivery = %+v, %v; want an empty page", p, err)
		}
	})
	t.Run("List", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createEndpoint(t, s, "acme", "*")
		ds := ingestN(t, s, "acme", "a.b", 2)
		var want []string
		at := t0
		for range 5 {
			for _, c := range claim(t, s, at, 10) {
				a := fail(t, s, c, at, at.Add(time.Second))
				if c.Delivery.ID == ds[0].ID {
					want = append(want, a.ID)
				}
			}
			at = at.Add(time.Second)
		}
		list := func(p hook.ListParams) (hook.Page[hook.Attempt], error) {
			return s.ListAttempts(t.Context(), hook.AttemptFilter{ListParams: p, DeliveryID: ds[0].ID})
		}
		testPaging(t, want, func(a hook.Attempt) string { return a.ID }, list)
		testBadCursors(t, foreignCursor(t, s), list)
		for i, a := range collect(t, 0, list) {
			if a.Number != i+1 {
				t.Errorf("attempt %d has Number %d", i, a.Number)
			}
		}
	})
}
