package dispatch_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/webhook"
)

// TestRotationWindow: after a rotation, deliveries inside the window verify
// with the old and the new secret, and after it with the new one only.
func TestRotationWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rcv := newReceiver(t, nil)
	ep := e.endpoint(rcv.url())
	old := ep.Secret()

	verifies := func(what string, got received, key string, want bool) {
		t.Helper()
		if err := webhook.Verify(got.header, got.body, []string{key}); (err == nil) != want {
			t.Errorf("%s: verifies = %t (%v), want %t", what, err == nil, err, want)
		}
	}

	e.waitStatus(e.sendOne("payout.paid").ID, hook.DeliverySucceeded)
	verifies("before the rotation, old secret", <-rcv.arrivals, old, true)

	const window = 500 * time.Millisecond
	now := time.Now()
	current := webhook.NewSecret()
	rotated, err := e.store.RotateEndpointSecret(context.Background(), ep.ID, hook.SecretRotation{
		Key: current, ExpireOld: now.Add(window), Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	expires := rotated.Secrets[1].ExpiresAt

	e.waitStatus(e.sendOne("payout.paid").ID, hook.DeliverySucceeded)
	inside := <-rcv.arrivals
	if !inside.at.Before(expires) {
		t.Skipf("the delivery arrived %s after the window closed; too slow a machine", inside.at.Sub(expires))
	}
	verifies("inside the window, new secret", inside, current, true)
	verifies("inside the window, old secret", inside, old, true)

	// The window ends by the clock; wait for it.
	<-time.After(time.Until(expires))
	e.waitStatus(e.sendOne("payout.paid").ID, hook.DeliverySucceeded)
	after := <-rcv.arrivals
	verifies("after the window, new secret", after, current, true)
	verifies("after the window, old secret", after, old, false)
}

// TestEnableResumes: a delivery waiting out a long retry delay on a
// disabled endpoint is attempted as soon as the endpoint is enabled.
func TestEnableResumes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var healthy atomic.Bool
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	ep := e.endpoint(rcv.url(), func(ep *hook.Endpoint) { ep.RetrySchedule = []time.Duration{time.Hour} })
	dl := e.sendOne("payout.paid")
	e.wait(dl.ID, "a failed attempt", func(d hook.Delivery) bool { return d.AttemptCount == 1 })
	<-rcv.arrivals
	ctx := context.Background()
	if _, err := e.store.DisableEndpoint(ctx, ep.ID, hook.DisabledByAPI, time.Now()); err != nil {
		t.Fatal(err)
	}
	healthy.Store(true)
	if _, err := e.store.EnableEndpoint(ctx, ep.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	got := e.waitStatus(dl.ID, hook.DeliverySucceeded)
	if got.AttemptCount != 2 {
		t.Errorf("%d attempts, want 2", got.AttemptCount)
	}
	if h := e.getEndpoint(ep.ID); h.Status != hook.EndpointActive || h.ConsecutiveFailures != 0 {
		t.Errorf("endpoint: %s, %d failures; want active, 0", h.Status, h.ConsecutiveFailures)
	}
}
