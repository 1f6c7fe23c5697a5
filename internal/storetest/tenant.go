package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

func testTenants(t *testing.T, open OpenFunc) {
	t.Run("CreateGet", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		for _, want := range []hook.Tenant{
			{ID: "acme", Name: "Acme", Metadata: map[string]string{"plan": "gold", "region": "in"}, CreatedAt: hook.Timestamp(now)},
			{ID: "nil-meta", CreatedAt: hook.Timestamp(now)},
			{ID: "empty-meta", Metadata: map[string]string{}, CreatedAt: hook.Timestamp(now)},
		} {
			if err := s.CreateTenant(t.Context(), want); err != nil {
				t.Fatalf("CreateTenant(%q): %v", want.ID, err)
			}
			got, err := s.Tenant(t.Context(), want.ID)
			if err != nil {
				t.Fatalf("Tenant(%q): %v", want.ID, err)
			}
			diff(t, "Tenant "+want.ID, got, want)
		}
	})
	t.Run("TimePrecision", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		local := time.FixedZone("IST", 5*3600+1800)
		at := time.Date(2026, 5, 8, 15, 45, 0, 999_999_999, local)
		if err := s.CreateTenant(t.Context(), hook.Tenant{ID: "t", CreatedAt: at}); err != nil {
			t.Fatalf("CreateTenant: %v", err)
		}
		got, err := s.Tenant(t.Context(), "t")
		if err != nil {
			t.Fatalf("Tenant: %v", err)
		}
		want := hook.Timestamp(at) // 10:15:00.999999 UTC
		if !got.CreatedAt.Equal(want) || got.CreatedAt.Location() != time.UTC {
			t.Errorf("CreatedAt = %v, want %v (UTC, truncated to µs)", got.CreatedAt, want)
		}
	})
	t.Run("Conflict", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		err := s.CreateTenant(t.Context(), hook.Tenant{ID: "acme", Name: "other", CreatedAt: now})
		wantErr(t, "CreateTenant of a taken id", err, hook.ErrConflict)
		err = s.CreateTenant(t.Context(), hook.Tenant{ID: hook.OperationalTenant, CreatedAt: now})
		wantErr(t, "CreateTenant of the operational tenant", err, hook.ErrConflict)
		got, err := s.Tenant(t.Context(), "acme")
		if err != nil || got.Name != "Tenant acme" {
			t.Errorf("Tenant after conflict = %+v, %v; want the first one", got, err)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		_, err := s.Tenant(t.Context(), "nobody")
		wantErr(t, "Tenant", err, hook.ErrNotFound)
		wantErr(t, "DeleteTenant", s.DeleteTenant(t.Context(), "nobody", now), hook.ErrNotFound)
	})
	t.Run("List", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		want := []string{hook.OperationalTenant}
		for _, id := range []string{"m", "b", "z", "a-1", "a_2", "A", "0"} {
			createTenant(t, s, id)
			want = append(want, id)
		}
		slices.Sort(want)
		testPaging(t, want, func(tn hook.Tenant) string { return tn.ID }, func(p hook.ListParams) (hook.Page[hook.Tenant], error) {
			return s.ListTenants(t.Context(), p)
		})
		testBadCursors(t, foreignCursor(t, s), func(p hook.ListParams) (hook.Page[hook.Tenant], error) {
			return s.ListTenants(t.Context(), p)
		})
	})
	t.Run("ListMaxLimit", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		var wg sync.WaitGroup
		for i := range hook.MaxLimit + 5 {
			wg.Go(func() {
				if err := s.CreateTenant(t.Context(), hook.Tenant{ID: fmt.Sprintf("t%03d", i), CreatedAt: now}); err != nil {
					t.Errorf("CreateTenant: %v", err)
				}
			})
		}
		wg.Wait()
		p, err := s.ListTenants(t.Context(), hook.ListParams{Limit: 10 * hook.MaxLimit})
		if err != nil {
			t.Fatalf("ListTenants: %v", err)
		}
		if len(p.Items) != hook.MaxLimit || p.Next == "" {
			t.Errorf("ListTenants(limit %d) = %d items, next %q; want %d and a next cursor",
				10*hook.MaxLimit, len(p.Items), p.Next, hook.MaxLimit)
		}
		p, err = s.ListTenants(t.Context(), hook.ListParams{})
		if err != nil || len(p.Items) != hook.DefaultLimit {
			t.Errorf("ListTenants(limit 0) = %d items, %v; want %d", len(p.Items), err, hook.DefaultLimit)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		testDeleteTenant(t, open(t))
	})
}

// testDeleteTenant checks that deleting a tenant removes its endpoints and
// keys, cancels the pending deliveries of its endpoints, and keeps its
// events and deliveries, while other tenants are untouched.
func testDeleteTenant(t *testing.T, s hook.Store) {
	ctx := t.Context()
	createTenant(t, s, "gone")
	createTenant(t, s, "stays")
	ep1 := createEndpoint(t, s, "gone", "*")
	ep2 := createEndpoint(t, s, "gone", "order.*")
	other := createEndpoint(t, s, "stays", "*")
	key, token := hook.NewAPIKey("gone", now)
	if err := s.CreateAPIKey(ctx, key); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	otherKey, otherToken := hook.NewAPIKey("stays", now)
	if err := s.CreateAPIKey(ctx, otherKey); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	ev := ingest(t, s, newEvent("gone", "order.paid"))
	otherEv := ingest(t, s, newEvent("stays", "order.paid"))
	if len(ev.Deliveries) != 2 {
		t.Fatalf("Ingest made %d deliveries, want 2", len(ev.Deliveries))
	}

	deletedAt := now.Add(time.Hour)
	if err := s.DeleteTenant(ctx, "gone", deletedAt); err != nil {
		t.Fatalf("DeleteTenant: %v", err)
	}
	_, err := s.Tenant(ctx, "gone")
	wantErr(t, "Tenant after delete", err, hook.ErrNotFound)
	for _, id := range []string{ep1.ID, ep2.ID} {
		_, err := s.Endpoint(ctx, id)
		wantErr(t, "Endpoint of a deleted tenant", err, hook.ErrNotFound)
	}
	_, err = s.APIKeyByHash(ctx, hook.HashToken(token))
	wantErr(t, "APIKeyByHash of a deleted tenant's key", err, hook.ErrNotFound)
	if _, err := s.Event(ctx, ev.Event.ID); err != nil {
		t.Errorf("Event of a deleted tenant: %v; want it kept", err)
	}
	for _, d := range ev.Deliveries {
		want := d
		want.Status = hook.DeliveryCanceled
		want.NextAttemptAt = time.Time{}
		want.UpdatedAt = hook.Timestamp(deletedAt)
		got, err := s.Delivery(ctx, d.ID)
		if err != nil {
			t.Fatalf("Delivery of a deleted tenant: %v; want it kept", err)
		}
		diff(t, "canceled delivery", got, want)
	}

	// The other tenant is untouched.
	if _, err := s.Endpoint(ctx, other.ID); err != nil {
		t.Errorf("Endpoint of another tenant: %v", err)
	}
	if _, err := s.APIKeyByHash(ctx, hook.HashToken(otherToken)); err != nil {
		t.Errorf("APIKeyByHash of another tenant's key: %v", err)
	}
	got, err := s.Delivery(ctx, otherEv.Deliveries[0].ID)
	if err != nil {
		t.Fatalf("Delivery: %v", err)
	}
	diff(t, "another tenant's delivery", got, otherEv.Deliveries[0])

	// The id is not given out again: its events are still there, and a new
	// tenant under it would see them.
	wantErr(t, "CreateTenant of a deleted id", s.CreateTenant(ctx, hook.Tenant{ID: "gone", CreatedAt: now}), hook.ErrConflict)
	wantErr(t, "DeleteTenant again", s.DeleteTenant(ctx, "stays", now), nil)
	wantErr(t, "DeleteTenant twice", s.DeleteTenant(ctx, "stays", now), hook.ErrNotFound)
}
