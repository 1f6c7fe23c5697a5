package storetest

import (
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// testDisableReport checks that CompleteAttempt tells the attempt that
// disabled the endpoint, and only that one, so that the disabling can be
// announced once.
func testDisableReport(t *testing.T, open OpenFunc) {
	t0 := hook.Timestamp(now)
	t.Run("Gone", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createEndpoint(t, s, "acme", "*")
		ingestN(t, s, "acme", "a.b", 2)
		cs := claim(t, s, t0, 10)
		if len(cs) != 2 {
			t.Fatalf("%d claims, want 2", len(cs))
		}
		for i, want := range []string{"gone", ""} { // the second finds it disabled
			o := hook.Outcome{Attempt: attemptOf(cs[i], t0, http.StatusGone), Status: hook.DeliveryPending, Disable: "gone"}
			got, err := s.CompleteAttempt(t.Context(), cs[i].Token, o)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("attempt %d: CompleteAttempt disabled %q, want %q", i+1, got, want)
			}
		}
	})
	t.Run("DisableAfter", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createEndpoint(t, s, "acme", "*")
		ingest(t, s, newEvent("acme", "a.b"))
		c := claimOne(t, s, t0)
		o := hook.Outcome{Attempt: attemptOf(c, t0, 500), Status: hook.DeliveryPending, DisableAfter: time.Hour}
		o.Attempt.NextRetryAt = t0.Add(2 * time.Hour)
		if got, err := s.CompleteAttempt(t.Context(), c.Token, o); err != nil || got != "" {
			t.Fatalf("first failure: CompleteAttempt = %q, %v; want \"\", nil", got, err)
		}
		c = claimOne(t, s, t0.Add(2*time.Hour))
		o = hook.Outcome{Attempt: attemptOf(c, t0.Add(2*time.Hour), 500), Status: hook.DeliveryFailed, DisableAfter: time.Hour}
		got, err := s.CompleteAttempt(t.Context(), c.Token, o)
		if err != nil {
			t.Fatal(err)
		}
		if e := getEndpoint(t, s, c.Endpoint.ID); got == "" || got != e.DisabledReason {
			t.Errorf("failure past DisableAfter: CompleteAttempt disabled %q; the endpoint's reason is %q", got, e.DisabledReason)
		}
	})
}
