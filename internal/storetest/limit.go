package storetest

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// testClaimLimits covers the limits of a claim beyond the in-flight cap:
// ClaimParams.MaxPerEndpoint and the endpoint's rate limit, whose token
// bucket the store keeps so that every dispatcher draws from the same one.
func testClaimLimits(t *testing.T, open OpenFunc) {
	t0 := hook.Timestamp(now)
	// done completes every claim, so that only the limit under test holds
	// the next claims back.
	done := func(t *testing.T, s hook.Store, cs []hook.Claim, at time.Time) {
		t.Helper()
		for _, c := range cs {
			complete(t, s, c, hook.Outcome{Attempt: attemptOf(c, at, 200), Status: hook.DeliverySucceeded})
		}
	}
	t.Run("MaxPerEndpoint", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		a := createEndpointWith(t, s, "acme", func(e *hook.Endpoint) { e.Events = []string{"a.*"} })
		createEndpointWith(t, s, "acme", func(e *hook.Endpoint) { e.Events = []string{"b.*"} })
		ingestN(t, s, "acme", "a.x", 6)
		ingestN(t, s, "acme", "b.x", 1)
		cs := claimWith(t, s, hook.ClaimParams{Now: t0, Limit: 10, LeaseMargin: margin, MaxPerEndpoint: 2})
		n := 0
		for _, c := range cs {
			if c.Endpoint.ID == a.ID {
				n++
			}
		}
		if n != 2 || len(cs) != 3 {
			t.Errorf("claim with MaxPerEndpoint 2: %d of a's and %d in all; want 2 and 3", n, len(cs))
		}
	})
	t.Run("RateLimit", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createEndpointWith(t, s, "acme", func(e *hook.Endpoint) { e.RateLimit = 2 })
		ingestN(t, s, "acme", "a.b", 10)
		// A full bucket holds a second's worth: 2.
		cs := claim(t, s, t0, 10)
		if len(cs) != 2 {
			t.Fatalf("first claim: %d, want 2 (a full bucket)", len(cs))
		}
		done(t, s, cs, t0)
		if cs := claim(t, s, t0, 10); len(cs) != 0 {
			t.Fatalf("claim with an empty bucket: %d, want 0", len(cs))
		}
		// Two tokens a second: one after 500ms, none more 100ms later.
		cs = claim(t, s, t0.Add(500*time.Millisecond), 10)
		if len(cs) != 1 {
			t.Fatalf("claim 500ms later: %d, want 1", len(cs))
		}
		done(t, s, cs, t0)
		if cs := claim(t, s, t0.Add(600*time.Millisecond), 10); len(cs) != 0 {
			t.Fatalf("claim 600ms later: %d, want 0", len(cs))
		}
		// A long pause refills no more than a second's worth.
		cs = claim(t, s, t0.Add(time.Hour), 10)
		if len(cs) != 2 {
			t.Fatalf("claim an hour later: %d, want 2", len(cs))
		}
	})
	t.Run("SlowRate", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createEndpointWith(t, s, "acme", func(e *hook.Endpoint) { e.RateLimit = 0.5 })
		ingestN(t, s, "acme", "a.b", 5)
		// Below one a second, the bucket still holds one token.
		for i, tc := range []struct {
			after time.Duration
			want  int
		}{{0, 1}, {time.Second, 0}, {2 * time.Second, 1}, {3 * time.Second, 0}, {time.Hour, 1}} {
			cs := claim(t, s, t0.Add(tc.after), 10)
			if len(cs) != tc.want {
				t.Fatalf("claim %d at +%s: %d, want %d", i, tc.after, len(cs), tc.want)
			}
			done(t, s, cs, t0)
		}
	})
}
