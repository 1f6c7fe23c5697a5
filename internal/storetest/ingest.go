package storetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

func testIngest(t *testing.T, open OpenFunc) {
	t.Run("Stores", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		ep := createEndpoint(t, s, "acme", "payout.paid")
		ev := newEvent("acme", "payout.paid")
		// The data is kept byte for byte: spacing, key order, big numbers.
		ev.Data = []byte("{ \"b\": 1,\n  \"a\": 12345678901234567890123, \"s\": \"\\u00e9 é\" }")
		ev.CreatedAt = now // with nanoseconds: stored to the microsecond
		res, err := s.Ingest(t.Context(), ev)
		if err != nil {
			t.Fatalf("Ingest: %v", err)
		}
		want := ev
		want.CreatedAt = hook.Timestamp(now)
		diff(t, "IngestResult.Event", res.Event, want)
		if res.Duplicate {
			t.Error("Duplicate = true on a new id")
		}
		got, err := s.Event(t.Context(), ev.ID)
		if err != nil {
			t.Fatalf("Event: %v", err)
		}
		diff(t, "Event", got, want)
		if string(got.Data) != string(ev.Data) {
			t.Errorf("Data = %s, want the exact bytes %s", got.Data, ev.Data)
		}

		if len(res.Deliveries) != 1 {
			t.Fatalf("Ingest made %d deliveries, want 1", len(res.Deliveries))
		}
		d := res.Deliveries[0]
		wantD := hook.Delivery{
			ID: d.ID, EventID: ev.ID, EndpointID: ep.ID, TenantID: "acme", EventType: "payout.paid",
			Status: hook.DeliveryPending, NextAttemptAt: want.CreatedAt, CreatedAt: want.CreatedAt, UpdatedAt: want.CreatedAt,
		}
		diff(t, "IngestResult.Deliveries[0]", d, wantD)
		gotD, err := s.Delivery(t.Context(), d.ID)
		if err != nil {
			t.Fatalf("Delivery: %v", err)
		}
		diff(t, "Delivery", gotD, wantD)
	})
	t.Run("Match", func(t *testing.T) {
		t.Parallel()
		testMatch(t, open(t))
	})
	t.Run("UnknownTenant", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		_, err := s.Ingest(t.Context(), newEvent("nobody", "a.b"))
		wantErr(t, "Ingest for an unknown tenant", err, hook.ErrNotFound)
	})
	t.Run("Duplicate", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createTenant(t, s, "other")
		createEndpoint(t, s, "acme", "*")
		createEndpoint(t, s, "other", "*")
		first := ingest(t, s, newEvent("acme", "order.paid"))
		// A repeat, the same id with other content, and the same id under
		// another tenant all find the first event and write nothing.
		for name, ev := range map[string]hook.Event{
			"same":         first.Event,
			"other data":   {ID: first.Event.ID, TenantID: "acme", Type: "order.paid", Data: []byte(`{"x":1}`), CreatedAt: now.Add(time.Hour)},
			"other type":   {ID: first.Event.ID, TenantID: "acme", Type: "order.refunded", Data: first.Event.Data, CreatedAt: now},
			"other tenant": {ID: first.Event.ID, TenantID: "other", Type: "order.paid", Data: first.Event.Data, CreatedAt: now},
		} {
			res, err := s.Ingest(t.Context(), ev)
			if err != nil {
				t.Fatalf("Ingest(%s): %v", name, err)
			}
			if !res.Duplicate || len(res.Deliveries) != 0 {
				t.Errorf("Ingest(%s): Duplicate %v with %d deliveries; want true and none", name, res.Duplicate, len(res.Deliveries))
			}
			diff(t, "duplicate's Event ("+name+")", res.Event, first.Event)
		}
		p, err := s.ListDeliveries(t.Context(), hook.DeliveryFilter{EventID: first.Event.ID})
		if err != nil || len(p.Items) != 1 {
			t.Errorf("ListDeliveries of the event = %d, %v; want the 1 of the first ingest", len(p.Items), err)
		}
		evs, err := s.ListEvents(t.Context(), hook.EventFilter{})
		if err != nil || len(evs.Items) != 1 {
			t.Errorf("ListEvents = %d, %v; want 1", len(evs.Items), err)
		}
	})
	t.Run("DuplicateConcurrent", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createEndpoint(t, s, "acme", "*")
		createEndpoint(t, s, "acme", "order.*")
		ev := newEvent("acme", "order.paid")
		const n = 32
		var (
			wg      sync.WaitGroup
			results [n]hook.IngestResult
		)
		for i := range n {
			wg.Go(func() {
				var err error
				if results[i], err = s.Ingest(t.Context(), ev); err != nil {
					t.Errorf("Ingest: %v", err)
				}
			})
		}
		wg.Wait()
		created := 0
		for _, r := range results {
			if !r.Duplicate {
				created++
				if len(r.Deliveries) != 2 {
					t.Errorf("the creating Ingest made %d deliveries, want 2", len(r.Deliveries))
				}
			}
			diff(t, "Event", r.Event, ev)
		}
		if created != 1 {
			t.Errorf("%d concurrent Ingests of one id: %d created; want exactly 1", n, created)
		}
		p, err := s.ListDeliveries(t.Context(), hook.DeliveryFilter{EventID: ev.ID})
		if err != nil || len(p.Items) != 2 {
			t.Errorf("ListDeliveries = %d, %v; want 2", len(p.Items), err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createEndpoint(t, s, "acme", "*")
		const n = 100
		var (
			wg  sync.WaitGroup
			ids [n]string
		)
		for i := range n {
			ev := newEvent("acme", "order.paid")
			ids[i] = ev.ID
			wg.Go(func() {
				res, err := s.Ingest(t.Context(), ev)
				if err != nil || res.Duplicate || len(res.Deliveries) != 1 {
					t.Errorf("Ingest = duplicate %v, %d deliveries, %v; want a new event with 1", res.Duplicate, len(res.Deliveries), err)
				}
			})
		}
		wg.Wait()
		for _, id := range ids {
			if _, err := s.Event(t.Context(), id); err != nil {
				t.Errorf("Event(%s) after concurrent ingest: %v", id, err)
			}
		}
		got := collect(t, hook.MaxLimit, func(p hook.ListParams) (hook.Page[hook.Delivery], error) {
			return s.ListDeliveries(t.Context(), hook.DeliveryFilter{ListParams: p})
		})
		if len(got) != n {
			t.Errorf("%d deliveries after %d concurrent ingests, want %d", len(got), n, n)
		}
	})
}

// testMatch checks which endpoints an event reaches: active endpoints of its
// tenant whose patterns match its type, where "*" matches all but herald.*
// types, "prefix.*" matches at any depth below prefix, and an empty list
// matches nothing.
func testMatch(t *testing.T, s hook.Store) {
	createTenant(t, s, "acme")
	createTenant(t, s, "other")
	eps := map[string]hook.Endpoint{}
	for name, events := range map[string][]string{
		"exact":    {"payout.paid"},
		"several":  {"order.created", "payout.failed", "payout.paid"},
		"star":     {"*"},
		"payout.*": {"payout.*"},
		"deep.*":   {"payout.paid.*"},
		"herald.*": {"herald.*"},
		"empty":    {},
		"other":    {"refund.created"},
	} {
		eps[name] = createEndpoint(t, s, "acme", events...)
	}
	disabled := newEndpoint("acme", "*")
	disabled.Status = hook.EndpointDisabled
	if err := s.CreateEndpoint(t.Context(), disabled); err != nil {
		t.Fatalf("CreateEndpoint: %v", err)
	}
	createEndpoint(t, s, "other", "*") // another tenant's endpoints get nothing

	for _, tc := range []struct {
		typ  string
		want []string
	}{
		{"payout.paid", []string{"exact", "several", "star", "payout.*"}},
		{"payout.paid.v2", []string{"star", "payout.*", "deep.*"}},
		{"payout.failed", []string{"several", "star", "payout.*"}},
		{"payout", []string{"star"}},
		{"payouts.paid", []string{"star"}},
		{"payout_paid", []string{"star"}},
		{"refund.created", []string{"star", "other"}},
		{"herald.endpoint.disabled", []string{"herald.*"}},
	} {
		res := ingest(t, s, newEvent("acme", tc.typ))
		var want, got []string
		for _, name := range tc.want {
			want = append(want, eps[name].ID)
		}
		for _, d := range res.Deliveries {
			got = append(got, d.EndpointID)
			if d.EventID != res.Event.ID || d.TenantID != "acme" || d.EventType != tc.typ || d.Status != hook.DeliveryPending {
				t.Errorf("%s: delivery %+v does not belong to the event", tc.typ, d)
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s delivered to %q, want %q", tc.typ, got, want)
		}
		p, err := s.ListDeliveries(t.Context(), hook.DeliveryFilter{EventID: res.Event.ID})
		if err != nil || len(p.Items) != len(want) {
			t.Errorf("%s: ListDeliveries = %d, %v; want %d stored", tc.typ, len(p.Items), err, len(want))
		}
	}
}
