package storetest

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// fullEndpoint sets every field, with times that carry nanoseconds.
func fullEndpoint(tenant string) hook.Endpoint {
	e := newEndpoint(tenant, "payout.paid", "order.*", "*")
	e.Description = "Payouts — ünïcode"
	e.Secrets = []hook.Secret{
		{Key: "whsec_current"},
		{Key: "whsec_previous", ExpiresAt: hook.Timestamp(now.Add(24 * time.Hour))},
	}
	e.SignatureScheme = hook.SchemeXSignature
	e.Headers = map[string]string{"Authorization": "Bearer abc", "X-Team": "payments"}
	e.RateLimit = 12.5
	e.MaxInFlight = 3
	e.Timeout = 2500 * time.Millisecond
	e.RetrySchedule = []time.Duration{time.Second, 90 * time.Second, 36 * time.Hour}
	e.Metadata = map[string]string{"owner": "ops"}
	e.Status = hook.EndpointDisabled
	e.DisabledReason = "410 Gone"
	e.UpdatedAt = hook.Timestamp(now.Add(time.Minute))
	e.LastSuccessAt = hook.Timestamp(now.Add(-time.Hour))
	e.LastFailureAt = hook.Timestamp(now.Add(-time.Minute))
	e.ConsecutiveFailures = 7
	e.FailingSince = hook.Timestamp(now.Add(-30 * time.Minute))
	return e
}

func testEndpoints(t *testing.T, open OpenFunc) {
	t.Run("CreateGet", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		for name, want := range map[string]hook.Endpoint{
			"full":    fullEndpoint("acme"),
			"minimal": newEndpoint("acme"),
		} {
			if err := s.CreateEndpoint(t.Context(), want); err != nil {
				t.Fatalf("CreateEndpoint(%s): %v", name, err)
			}
			got, err := s.Endpoint(t.Context(), want.ID)
			if err != nil {
				t.Fatalf("Endpoint(%s): %v", name, err)
			}
			diff(t, "Endpoint "+name, got, want)
		}
	})
	t.Run("NilAndEmpty", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		// A nil schedule means the server's default; an empty one means a
		// single attempt. Nil and empty maps and lists come back as given.
		nilEp := newEndpoint("acme")
		nilEp.RetrySchedule, nilEp.Headers, nilEp.Metadata = nil, nil, nil
		emptyEp := newEndpoint("acme")
		emptyEp.RetrySchedule, emptyEp.Headers, emptyEp.Metadata = []time.Duration{}, map[string]string{}, map[string]string{}
		for name, want := range map[string]hook.Endpoint{"nil": nilEp, "empty": emptyEp} {
			if err := s.CreateEndpoint(t.Context(), want); err != nil {
				t.Fatalf("CreateEndpoint(%s): %v", name, err)
			}
			got, err := s.Endpoint(t.Context(), want.ID)
			if err != nil {
				t.Fatalf("Endpoint(%s): %v", name, err)
			}
			if (got.RetrySchedule == nil) != (want.RetrySchedule == nil) || len(got.RetrySchedule) != 0 {
				t.Errorf("%s: RetrySchedule = %#v, want %#v", name, got.RetrySchedule, want.RetrySchedule)
			}
			if got.Events == nil {
				t.Errorf("%s: Events = nil, want an empty list", name)
			}
			diff(t, "Endpoint "+name, got, want)
		}
	})
	t.Run("UnknownTenant", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		err := s.CreateEndpoint(t.Context(), newEndpoint("nobody", "*"))
		wantErr(t, "CreateEndpoint for an unknown tenant", err, hook.ErrNotFound)
	})
	t.Run("Conflict", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		e := createEndpoint(t, s, "acme", "*")
		again := newEndpoint("acme", "x.y")
		again.ID = e.ID
		wantErr(t, "CreateEndpoint of a taken id", s.CreateEndpoint(t.Context(), again), hook.ErrConflict)
	})
	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		_, err := s.Endpoint(t.Context(), "ep_nobody")
		wantErr(t, "Endpoint", err, hook.ErrNotFound)
		wantErr(t, "UpdateEndpoint", s.UpdateEndpoint(t.Context(), newEndpoint(hook.OperationalTenant)), hook.ErrNotFound)
		wantErr(t, "DeleteEndpoint", s.DeleteEndpoint(t.Context(), "ep_nobody", now), hook.ErrNotFound)
	})
	t.Run("UpdateKeepsSecrets", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		orig := createEndpoint(t, s, "acme", "*")
		upd := orig
		upd.URL, upd.Secrets = "https://other.example.com/hooks", nil
		if err := s.UpdateEndpoint(t.Context(), upd); err != nil {
			t.Fatalf("UpdateEndpoint: %v", err)
		}
		got, err := s.Endpoint(t.Context(), orig.ID)
		if err != nil {
			t.Fatalf("Endpoint: %v", err)
		}
		if got.URL != upd.URL {
			t.Errorf("URL = %q, want %q", got.URL, upd.URL)
		}
		diff(t, "secrets after an update with nil Secrets", got.Secrets, orig.Secrets)
	})
	t.Run("Update", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createTenant(t, s, "other")
		orig := createEndpoint(t, s, "acme", "*")
		upd := fullEndpoint("other") // another tenant and CreatedAt, which stay
		upd.ID = orig.ID
		upd.CreatedAt = hook.Timestamp(now.Add(99 * time.Hour))
		if err := s.UpdateEndpoint(t.Context(), upd); err != nil {
			t.Fatalf("UpdateEndpoint: %v", err)
		}
		got, err := s.Endpoint(t.Context(), orig.ID)
		if err != nil {
			t.Fatalf("Endpoint: %v", err)
		}
		want := keepOwned(upd, orig)
		diff(t, "updated endpoint", got, want)

		// Back to nil: fields an update clears are cleared.
		upd.RetrySchedule, upd.Headers, upd.Metadata = nil, nil, nil
		upd.LastSuccessAt, upd.LastFailureAt, upd.FailingSince = time.Time{}, time.Time{}, time.Time{}
		if err := s.UpdateEndpoint(t.Context(), upd); err != nil {
			t.Fatalf("UpdateEndpoint: %v", err)
		}
		got, err = s.Endpoint(t.Context(), orig.ID)
		if err != nil {
			t.Fatalf("Endpoint: %v", err)
		}
		want = keepOwned(upd, orig)
		diff(t, "endpoint updated back to nil fields", got, want)
	})
	t.Run("List", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createTenant(t, s, "other")
		var all, acme []string
		for i := range 6 {
			tenant := "acme"
			if i%3 == 1 {
				tenant = "other"
			}
			e := createEndpoint(t, s, tenant, "*")
			all = append(all, e.ID) // ids sort by creation
			if tenant == "acme" {
				acme = append(acme, e.ID)
			}
		}
		id := func(e hook.Endpoint) string { return e.ID }
		testPaging(t, all, id, func(p hook.ListParams) (hook.Page[hook.Endpoint], error) {
			return s.ListEndpoints(t.Context(), hook.EndpointFilter{ListParams: p})
		})
		list := func(p hook.ListParams) (hook.Page[hook.Endpoint], error) {
			return s.ListEndpoints(t.Context(), hook.EndpointFilter{ListParams: p, TenantID: "acme"})
		}
		testPaging(t, acme, id, list)
		testBadCursors(t, foreignCursor(t, s), list)

		// Listed endpoints are whole, secrets included.
		p, err := s.ListEndpoints(t.Context(), hook.EndpointFilter{TenantID: "acme", ListParams: hook.ListParams{Limit: 1}})
		if err != nil {
			t.Fatalf("ListEndpoints: %v", err)
		}
		want, err := s.Endpoint(t.Context(), acme[0])
		if err != nil {
			t.Fatalf("Endpoint: %v", err)
		}
		diff(t, "listed endpoint", p.Items[0], want)
	})
	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		gone := createEndpoint(t, s, "acme", "*")
		stays := createEndpoint(t, s, "acme", "*")
		res := ingest(t, s, newEvent("acme", "order.paid"))
		deletedAt := now.Add(time.Hour)
		if err := s.DeleteEndpoint(t.Context(), gone.ID, deletedAt); err != nil {
			t.Fatalf("DeleteEndpoint: %v", err)
		}
		_, err := s.Endpoint(t.Context(), gone.ID)
		wantErr(t, "Endpoint after delete", err, hook.ErrNotFound)
		wantErr(t, "DeleteEndpoint twice", s.DeleteEndpoint(t.Context(), gone.ID, now), hook.ErrNotFound)
		if _, err := s.Event(t.Context(), res.Event.ID); err != nil {
			t.Errorf("Event after DeleteEndpoint: %v", err)
		}
		for _, d := range res.Deliveries {
			got, err := s.Delivery(t.Context(), d.ID)
			if err != nil {
				t.Fatalf("Delivery after DeleteEndpoint: %v; want the log kept", err)
			}
			want := d
			if d.EndpointID == gone.ID {
				want.Status = hook.DeliveryCanceled
				want.NextAttemptAt = time.Time{}
				want.UpdatedAt = hook.Timestamp(deletedAt)
			}
			diff(t, "delivery to "+d.EndpointID, got, want)
		}
		// The log of the deleted endpoint is still listed by its id.
		p, err := s.ListDeliveries(t.Context(), hook.DeliveryFilter{EndpointID: gone.ID})
		if err != nil || len(p.Items) != 1 {
			t.Errorf("ListDeliveries of a deleted endpoint = %d items, %v; want 1", len(p.Items), err)
		}
		// Later events no longer reach it.
		res = ingest(t, s, newEvent("acme", "order.paid"))
		if len(res.Deliveries) != 1 || res.Deliveries[0].EndpointID != stays.ID {
			t.Errorf("Ingest after DeleteEndpoint made deliveries %+v, want one to %s", res.Deliveries, stays.ID)
		}
	})
}

// keepOwned returns upd with the fields UpdateEndpoint leaves alone taken
// from orig: identity, creation time, status and health.
func keepOwned(upd, orig hook.Endpoint) hook.Endpoint {
	upd.TenantID, upd.CreatedAt = orig.TenantID, orig.CreatedAt
	upd.Status, upd.DisabledReason = orig.Status, orig.DisabledReason
	upd.LastSuccessAt, upd.LastFailureAt = orig.LastSuccessAt, orig.LastFailureAt
	upd.ConsecutiveFailures, upd.FailingSince = orig.ConsecutiveFailures, orig.FailingSince
	return upd
}
