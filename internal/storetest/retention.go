package storetest

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// testRetention checks DeleteExpired: expired events go with their
// deliveries and attempts, in batches of at most Limit; an event with a
// pending delivery stays with every delivery it has, and so does every
// event created at or after the horizon.
func testRetention(t *testing.T, open OpenFunc) {
	t0 := hook.Timestamp(now)
	old := t0.Add(-48 * time.Hour)
	horizon := t0.Add(-24 * time.Hour)
	t.Run("Batches", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createTenant(t, s, "quiet") // no endpoints: its events have no deliveries
		a := createEndpoint(t, s, "acme", "*")
		b := createEndpoint(t, s, "acme", "b.*")

		succeeded := ingestAt(t, s, "acme", "a.x", old)[a.ID]
		failed := ingestAt(t, s, "acme", "a.x", old.Add(time.Second))[a.ID]
		mixed := ingestAt(t, s, "acme", "b.x", old.Add(2*time.Second)) // A succeeds, B waits
		bare := ingest(t, s, hook.Event{ID: hook.NewID(hook.PrefixEvent), TenantID: "quiet", Type: "a.x",
			Data: []byte(`{}`), CreatedAt: old.Add(3 * time.Second)}).Event
		edge := ingestAt(t, s, "acme", "a.x", horizon)[a.ID]
		recent := ingestAt(t, s, "acme", "a.x", t0)[a.ID]

		cs := claimsByDelivery(t, s, old.Add(time.Minute))
		if len(cs) != 4 {
			t.Fatalf("claimed %d deliveries, want 4", len(cs))
		}
		at := old.Add(time.Minute)
		finish(t, s, cs[succeeded.ID], at, time.Millisecond, http.StatusOK, hook.DeliverySucceeded)
		finish(t, s, cs[failed.ID], at, time.Millisecond, http.StatusGone, hook.DeliveryFailed)
		finish(t, s, cs[mixed[a.ID].ID], at, time.Millisecond, http.StatusOK, hook.DeliverySucceeded)
		finish(t, s, cs[mixed[b.ID].ID], at, time.Millisecond, http.StatusServiceUnavailable, hook.DeliveryPending)

		// Four events expired; batches of two examine them in two, the
		// first deleting both, the second keeping the one with a pending
		// delivery; a third finds none left.
		var deleted []int
		next := ""
		for range 10 {
			res, err := s.DeleteExpired(t.Context(), hook.ExpireParams{Before: horizon, After: next, Limit: 2})
			if err != nil {
				t.Fatalf("DeleteExpired: %v", err)
			}
			deleted = append(deleted, res.Deleted)
			if next = res.Next; next == "" {
				break
			}
		}
		if want := []int{2, 1, 0}; !slices.Equal(deleted, want) {
			t.Errorf("deleted by batch %v, want %v", deleted, want)
		}

		for _, id := range []string{succeeded.EventID, failed.EventID, bare.ID} {
			_, err := s.Event(t.Context(), id)
			wantErr(t, "Event(expired "+id+")", err, hook.ErrNotFound)
		}
		for _, id := range []string{succeeded.ID, failed.ID} {
			_, err := s.Delivery(t.Context(), id)
			wantErr(t, "Delivery(expired "+id+")", err, hook.ErrNotFound)
		}
		for _, id := range []string{mixed[a.ID].EventID, edge.EventID, recent.EventID} {
			if _, err := s.Event(t.Context(), id); err != nil {
				t.Errorf("Event(kept %s): %v", id, err)
			}
		}
		var kept []string
		for _, d := range collect(t, 0, func(p hook.ListParams) (hook.Page[hook.Delivery], error) {
			return s.ListDeliveries(t.Context(), hook.DeliveryFilter{ListParams: p, TenantID: "acme"})
		}) {
			kept = append(kept, d.ID)
		}
		want := []string{recent.ID, edge.ID, mixed[a.ID].ID, mixed[b.ID].ID}
		slices.Sort(kept)
		slices.Sort(want)
		if !slices.Equal(kept, want) {
			t.Errorf("deliveries kept %q, want %q", kept, want)
		}
		// The attempt log always has a next cursor (to tail it): read one page.
		log, err := s.ListAttemptLog(t.Context(), hook.AttemptLogFilter{ListParams: hook.ListParams{Limit: hook.MaxLimit}, TenantID: "acme"})
		if err != nil {
			t.Fatalf("ListAttemptLog: %v", err)
		}
		var attempted []string
		for _, a := range log.Items {
			attempted = append(attempted, a.DeliveryID)
		}
		want = []string{mixed[a.ID].ID, mixed[b.ID].ID}
		slices.Sort(attempted)
		slices.Sort(want)
		if !slices.Equal(attempted, want) {
			t.Errorf("attempts kept of deliveries %q, want %q", attempted, want)
		}

		// Once B's delivery ends, its event expires too.
		c := claimOne(t, s, at.Add(10*time.Minute)) // its retry; edge and recent are due later
		if c.Delivery.ID != mixed[b.ID].ID {
			t.Fatalf("claimed %s, want %s", c.Delivery.ID, mixed[b.ID].ID)
		}
		finish(t, s, c, t0, time.Millisecond, http.StatusOK, hook.DeliverySucceeded)
		res, err := s.DeleteExpired(t.Context(), hook.ExpireParams{Before: horizon, Limit: 10})
		if err != nil || res.Deleted != 1 || res.Next != "" {
			t.Errorf("DeleteExpired after the last delivery ended = %+v, %v; want 1 deleted, no next", res, err)
		}
		if _, err := s.Delivery(t.Context(), mixed[a.ID].ID); err == nil {
			t.Errorf("Delivery(%s) of an expired event remains", mixed[a.ID].ID)
		}
	})
	t.Run("BadCursor", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		for _, c := range []string{"not a cursor", foreignCursor(t, s)} {
			_, err := s.DeleteExpired(context.Background(), hook.ExpireParams{Before: now, After: c, Limit: 1})
			wantErr(t, "DeleteExpired(cursor "+c+")", err, hook.ErrInvalidCursor)
		}
	})
}
