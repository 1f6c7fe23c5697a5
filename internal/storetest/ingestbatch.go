package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/hook"
)

func testIngestBatch(t *testing.T, open OpenFunc) {
	t.Run("Mixed", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createTenant(t, s, "other")
		paid := createEndpoint(t, s, "acme", "payout.paid")
		all := createEndpoint(t, s, "acme", "*")
		otherEp := createEndpoint(t, s, "other", "payout.paid")

		stored := ingest(t, s, newEvent("acme", "payout.paid"))
		a := newEvent("acme", "payout.paid")
		b := newEvent("other", "payout.paid")
		c := newEvent("acme", "order.created")
		repeat := a // the same id again within the batch
		repeat.Data = []byte(`{"n":2}`)
		evs := []hook.Event{a, newEvent("nobody", "a.b"), stored.Event, b, repeat, c}
		items, err := s.IngestBatch(t.Context(), evs)
		if err != nil {
			t.Fatalf("IngestBatch: %v", err)
		}
		if len(items) != len(evs) {
			t.Fatalf("IngestBatch answered %d items for %d events", len(items), len(evs))
		}
		wantDeliveries := func(i int, eps ...hook.Endpoint) {
			t.Helper()
			it := items[i]
			if it.Err != nil || it.Result.Duplicate {
				t.Errorf("item %d: err %v, duplicate %v; want a new event", i, it.Err, it.Result.Duplicate)
				return
			}
			diff(t, fmt.Sprintf("item %d event", i), it.Result.Event, evs[i])
			var got, want []string
			for _, d := range it.Result.Deliveries {
				got = append(got, d.EndpointID)
				if _, err := s.Delivery(t.Context(), d.ID); err != nil {
					t.Errorf("item %d: delivery %s not stored: %v", i, d.ID, err)
				}
			}
			for _, ep := range eps {
				want = append(want, ep.ID)
			}
			slices.Sort(got)
			slices.Sort(want)
			diff(t, fmt.Sprintf("item %d endpoints", i), got, want)
		}
		wantDeliveries(0, paid, all)
		wantErr(t, "item 1 (unknown tenant)", items[1].Err, hook.ErrNotFound)
		if !items[2].Result.Duplicate || items[2].Result.Event.ID != stored.Event.ID || len(items[2].Result.Deliveries) != 0 {
			t.Errorf("item 2 (stored before) = %+v, want a duplicate of %s", items[2].Result, stored.Event.ID)
		}
		wantDeliveries(3, otherEp)
		if !items[4].Result.Duplicate || string(items[4].Result.Event.Data) != string(a.Data) {
			t.Errorf("item 4 (repeat of item 0) = %+v, want a duplicate holding item 0's data", items[4].Result)
		}
		wantDeliveries(5, all)
		for _, i := range []int{0, 3, 5} {
			got, err := s.Event(t.Context(), evs[i].ID)
			if err != nil {
				t.Fatalf("Event(%s): %v", evs[i].ID, err)
			}
			diff(t, "stored event", got, evs[i])
		}
		if _, err := s.Event(t.Context(), evs[1].ID); err == nil {
			t.Error("the event of an unknown tenant was stored")
		}
	})
	t.Run("Empty", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		items, err := s.IngestBatch(t.Context(), nil)
		if err != nil || len(items) != 0 {
			t.Errorf("IngestBatch(nil) = %v, %v; want no items", items, err)
		}
	})
	// Batches that share ids in opposite orders, side by side: each id is
	// stored once and every item answers, with no deadlock.
	t.Run("Overlapping", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createEndpoint(t, s, "acme", "*")
		var evs []hook.Event
		for range 50 {
			evs = append(evs, newEvent("acme", "a.b"))
		}
		rev := slices.Clone(evs)
		slices.Reverse(rev)
		const workers = 6
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			fresh = map[string]int{}
		)
		for w := range workers {
			wg.Go(func() {
				batch := evs
				if w%2 == 1 {
					batch = rev
				}
				items, err := s.IngestBatch(t.Context(), batch)
				if err != nil {
					t.Errorf("IngestBatch: %v", err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, it := range items {
					if it.Err != nil {
						t.Errorf("item: %v", it.Err)
					} else if !it.Result.Duplicate {
						fresh[it.Result.Event.ID]++
					}
				}
			})
		}
		wg.Wait()
		for _, ev := range evs {
			if fresh[ev.ID] != 1 {
				t.Errorf("event %s was new %d times, want once", ev.ID, fresh[ev.ID])
			}
		}
	})
}
