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

// testLifecycle checks DisableEndpoint, EnableEndpoint and
// RotateEndpointSecret.
func testLifecycle(t *testing.T, open OpenFunc) {
	t0 := hook.Timestamp(now)
	t.Run("Disable", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		ep := createEndpoint(t, s, "acme", "*")
		ds := ingestN(t, s, "acme", "a.b", 1)
		// A configuration written after the caller's read stays.
		changed := ep
		changed.URL = "https://merchant.example.com/v2"
		if err := s.UpdateEndpoint(t.Context(), changed); err != nil {
			t.Fatal(err)
		}
		at := now.Add(time.Minute) // with nanoseconds, which are dropped
		got, err := s.DisableEndpoint(t.Context(), ep.ID, "maintenance", at)
		if err != nil {
			t.Fatalf("DisableEndpoint: %v", err)
		}
		want := changed
		want.Status, want.DisabledReason, want.UpdatedAt = hook.EndpointDisabled, "maintenance", hook.Timestamp(at)
		diff(t, "DisableEndpoint", got, want)
		diff(t, "Endpoint after DisableEndpoint", getEndpoint(t, s, ep.ID), want)
		if cs := claim(t, s, t0.Add(time.Hour), 10); len(cs) != 0 {
			t.Errorf("claim for a disabled endpoint: %d claims, want 0", len(cs))
		}
		if d := getDelivery(t, s, ds[0].ID); d.Status != hook.DeliveryPending || !d.NextAttemptAt.Equal(t0) {
			t.Errorf("delivery = %s due %s, want pending due %s", d.Status, d.NextAttemptAt, t0)
		}
		_, err = s.DisableEndpoint(t.Context(), "ep_missing", "x", at)
		wantErr(t, "DisableEndpoint(missing)", err, hook.ErrNotFound)
	})
	t.Run("Enable", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		ep := createEndpoint(t, s, "acme", "a.*")
		other := createEndpoint(t, s, "acme", "b.*")
		ds := ingestN(t, s, "acme", "a.x", 3)
		dB := ingestN(t, s, "acme", "b.x", 1)[0]

		// ep's first delivery fails and waits 10 h; its second answers 410,
		// which disables ep, and would wait 10 h too; its third is
		// released, due at t0. Other's delivery waits 10 h.
		far := t0.Add(10 * time.Hour)
		claims := map[string]hook.Claim{}
		for _, c := range claim(t, s, t0, 10) {
			claims[c.Delivery.ID] = c
		}
		if len(claims) != 4 {
			t.Fatalf("claimed %d deliveries, want 4", len(claims))
		}
		fail(t, s, claims[ds[0].ID], t0, far)
		gone := attemptOf(claims[ds[1].ID], t0.Add(time.Second), http.StatusGone)
		gone.NextRetryAt = far
		complete(t, s, claims[ds[1].ID], hook.Outcome{Attempt: gone, Status: hook.DeliveryPending, Disable: "gone"})
		if err := s.ReleaseClaim(t.Context(), ds[2].ID, claims[ds[2].ID].Token, t0); err != nil {
			t.Fatal(err)
		}
		fail(t, s, claims[dB.ID], t0, far)
		before := getEndpoint(t, s, ep.ID)
		if before.Status != hook.EndpointDisabled || before.ConsecutiveFailures != 2 || !before.FailingSince.Equal(t0) {
			t.Fatalf("before: status %s, %d failures since %s; want disabled, 2 since %s",
				before.Status, before.ConsecutiveFailures, before.FailingSince, t0)
		}

		at := t0.Add(time.Hour)
		got, err := s.EnableEndpoint(t.Context(), ep.ID, at)
		if err != nil {
			t.Fatalf("EnableEndpoint: %v", err)
		}
		want := before
		want.Status, want.DisabledReason, want.UpdatedAt = hook.EndpointActive, "", at
		want.ConsecutiveFailures, want.FailingSince = 0, time.Time{}
		diff(t, "EnableEndpoint", got, want) // LastFailureAt stays: history, not the streak
		diff(t, "Endpoint after EnableEndpoint", getEndpoint(t, s, ep.ID), want)

		// ep's waiting deliveries are due at the enable; the one due
		// earlier keeps its time. Other's waits as it was.
		for _, c := range []struct {
			id  string
			due time.Time
		}{{ds[0].ID, at}, {ds[1].ID, at}, {ds[2].ID, t0}, {dB.ID, far}} {
			if d := getDelivery(t, s, c.id); d.Status != hook.DeliveryPending || !d.NextAttemptAt.Equal(c.due) {
				t.Errorf("delivery %s: %s due %s, want pending due %s", c.id, d.Status, d.NextAttemptAt, c.due)
			}
		}
		diff(t, "claimed after EnableEndpoint", claimedIDs(claim(t, s, at, 10)), []string{ds[2].ID, ds[0].ID, ds[1].ID})
		if e := getEndpoint(t, s, other.ID); e.ConsecutiveFailures != 1 {
			t.Errorf("other endpoint: %d failures, want 1", e.ConsecutiveFailures)
		}

		_, err = s.EnableEndpoint(t.Context(), "ep_missing", at)
		wantErr(t, "EnableEndpoint(missing)", err, hook.ErrNotFound)
	})
	t.Run("EnableLeaves", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		ep := createEndpoint(t, s, "acme", "*")
		ds := ingestN(t, s, "acme", "a.b", 2)
		c := claim(t, s, t0, 1)[0]
		complete(t, s, c, hook.Outcome{Attempt: attemptOf(c, t0, http.StatusOK), Status: hook.DeliverySucceeded})
		if _, err := s.DisableEndpoint(t.Context(), ep.ID, hook.DisabledByAPI, t0); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteEndpoint(t.Context(), createEndpoint(t, s, "acme").ID, t0); err != nil {
			t.Fatal(err)
		}
		got, err := s.EnableEndpoint(t.Context(), ep.ID, t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		// A success stays in the health: only the failure streak resets.
		if !got.LastSuccessAt.Equal(t0) || got.Status != hook.EndpointActive {
			t.Errorf("LastSuccessAt %s, status %s; want %s, active", got.LastSuccessAt, got.Status, t0)
		}
		if d := getDelivery(t, s, c.Delivery.ID); d.Status != hook.DeliverySucceeded || !d.NextAttemptAt.IsZero() {
			t.Errorf("succeeded delivery: %s due %s, want succeeded, never due", d.Status, d.NextAttemptAt)
		}
		other := ds[0].ID
		if other == c.Delivery.ID {
			other = ds[1].ID
		}
		if d := getDelivery(t, s, other); !d.NextAttemptAt.Equal(t0) {
			t.Errorf("delivery due before the enable: due %s, want %s", d.NextAttemptAt, t0)
		}
	})
	testRotation(t, open)
}

func rotate(t testing.TB, s hook.Store, id, key string, expireOld, at time.Time) hook.Endpoint {
	t.Helper()
	e, err := s.RotateEndpointSecret(context.Background(), id, hook.SecretRotation{Key: key, ExpireOld: expireOld, Now: at})
	if err != nil {
		t.Fatalf("RotateEndpointSecret(%s): %v", key, err)
	}
	return e
}

func testRotation(t *testing.T, open OpenFunc) {
	t0 := hook.Timestamp(now)
	day := 24 * time.Hour
	t.Run("Rotate", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		ep := createEndpoint(t, s, "acme", "*")
		first := ep.Secret()

		got := rotate(t, s, ep.ID, "whsec_b", now.Add(day), now)
		want := ep
		want.Secrets = []hook.Secret{{Key: "whsec_b"}, {Key: first, ExpiresAt: t0.Add(day)}}
		want.UpdatedAt = t0
		diff(t, "RotateEndpointSecret", got, want)
		diff(t, "Endpoint after RotateEndpointSecret", getEndpoint(t, s, ep.ID), want)

		t1 := t0.Add(time.Hour)
		got = rotate(t, s, ep.ID, "whsec_c", t1.Add(day), t1)
		diff(t, "second rotation", got.Secrets, []hook.Secret{
			{Key: "whsec_c"}, {Key: "whsec_b", ExpiresAt: t1.Add(day)}, {Key: first, ExpiresAt: t0.Add(day)},
		})

		// The first secret has expired: dropped. An old secret expiring at
		// once is dropped too.
		t2 := t0.Add(day)
		got = rotate(t, s, ep.ID, "whsec_d", t2, t2)
		diff(t, "third rotation", got.Secrets, []hook.Secret{{Key: "whsec_d"}, {Key: "whsec_b", ExpiresAt: t1.Add(day)}})
		diff(t, "Endpoint after three rotations", getEndpoint(t, s, ep.ID).Secrets, got.Secrets)

		_, err := s.RotateEndpointSecret(t.Context(), "ep_missing", hook.SecretRotation{Key: "whsec_x", Now: t2})
		wantErr(t, "RotateEndpointSecret(missing)", err, hook.ErrNotFound)
	})
	t.Run("RotateLimit", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		ep := createEndpoint(t, s, "acme", "*")
		for i := range hook.MaxOldSecrets {
			rotate(t, s, ep.ID, fmt.Sprintf("whsec_%d", i), t0.Add(day), t0.Add(time.Duration(i)*time.Minute))
		}
		before := getEndpoint(t, s, ep.ID)
		if n := len(before.Secrets); n != hook.MaxOldSecrets+1 {
			t.Fatalf("after %d rotations: %d secrets, want %d", hook.MaxOldSecrets, n, hook.MaxOldSecrets+1)
		}
		_, err := s.RotateEndpointSecret(t.Context(), ep.ID, hook.SecretRotation{Key: "whsec_11", ExpireOld: t0.Add(day), Now: t0.Add(time.Hour)})
		wantErr(t, "11th rotation", err, hook.ErrTooManySecrets)
		wantErr(t, "11th rotation", err, hook.ErrConflict)
		diff(t, "secrets after a refused rotation", getEndpoint(t, s, ep.ID), before)

		// Once they expire, rotation works again.
		got := rotate(t, s, ep.ID, "whsec_11", t0.Add(2*day), t0.Add(day))
		diff(t, "rotation after the window", got.Secrets, []hook.Secret{{Key: "whsec_11"}, {Key: "whsec_9", ExpiresAt: t0.Add(2 * day)}})
	})
	t.Run("RotateRefused", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		ep := createEndpoint(t, s, "acme", "*")
		rotate(t, s, ep.ID, "whsec_b", t0.Add(day), t0)
		for _, key := range []string{"whsec_b", ep.Secret(), "whsk_b"} {
			_, err := s.RotateEndpointSecret(t.Context(), ep.ID, hook.SecretRotation{Key: key, ExpireOld: t0.Add(day), Now: t0})
			wantErr(t, "rotation to "+key, err, hook.ErrConflict)
		}
	})
	t.Run("RotateConcurrent", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		ep := createEndpoint(t, s, "acme", "*")
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				_, err := s.RotateEndpointSecret(context.Background(), ep.ID,
					hook.SecretRotation{Key: fmt.Sprintf("whsec_c%d", i), ExpireOld: t0.Add(day), Now: t0})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("RotateEndpointSecret: %v", err)
			}
		}
		// No rotation lost: every key is there once, one current.
		got := getEndpoint(t, s, ep.ID).Secrets
		seen := map[string]bool{}
		for i, sec := range got {
			if seen[sec.Key] {
				t.Errorf("key %s twice", sec.Key)
			}
			seen[sec.Key] = true
			if (i == 0) != sec.ExpiresAt.IsZero() {
				t.Errorf("secret %d expires %s", i, sec.ExpiresAt)
			}
		}
		if len(got) != n+1 {
			t.Errorf("%d secrets after %d concurrent rotations, want %d", len(got), n, n+1)
		}
	})
}
