package storetest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

func testEvents(t *testing.T, open OpenFunc) {
	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		_, err := s.Event(t.Context(), "evt_nobody")
		wantErr(t, "Event", err, hook.ErrNotFound)
	})
	t.Run("List", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createTenant(t, s, "other")
		// Ingested one minute apart, with ids that do not sort by time:
		// lists are newest first by ingest order, not by id.
		type made struct {
			id, tenant, typ string
			at              time.Time
		}
		var all []made
		for i, ev := range []struct{ id, tenant, typ string }{
			{"zz", "acme", "order.paid"},
			{"aa", "other", "order.paid"},
			{"mm", "acme", "order.refunded"},
			{"bb", "acme", "order.paid"},
			{"yy", "other", "order.refunded"},
			{"cc", "acme", "order.paid"},
			{"xx", "acme", "order.refunded"},
		} {
			at := now.Add(time.Duration(i) * time.Minute)
			ingest(t, s, hook.Event{ID: ev.id, TenantID: ev.tenant, Type: ev.typ, Data: json.RawMessage(`{}`), CreatedAt: at})
			all = append(all, made{ev.id, ev.tenant, ev.typ, at})
		}
		slices.Reverse(all) // newest first
		for _, tc := range []struct {
			name string
			f    hook.EventFilter
		}{
			{"all", hook.EventFilter{}},
			{"tenant", hook.EventFilter{TenantID: "acme"}},
			{"type", hook.EventFilter{Type: "order.paid"}},
			{"tenant and type", hook.EventFilter{TenantID: "acme", Type: "order.refunded"}},
			// Since is inclusive, Until exclusive, both to the microsecond.
			{"since", hook.EventFilter{Since: now.Add(3 * time.Minute)}},
			{"until", hook.EventFilter{Until: now.Add(3 * time.Minute)}},
			{"since and until", hook.EventFilter{Since: now.Add(2 * time.Minute), Until: now.Add(5 * time.Minute)}},
			{"since just after", hook.EventFilter{Since: hook.Timestamp(now.Add(3 * time.Minute)).Add(time.Microsecond)}},
			{"until just after", hook.EventFilter{Until: hook.Timestamp(now.Add(3 * time.Minute)).Add(time.Microsecond)}},
			{"everything", hook.EventFilter{TenantID: "acme", Type: "order.paid", Since: now, Until: now.Add(time.Hour)}},
			{"nothing", hook.EventFilter{TenantID: "nobody"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var want []string
				for _, m := range all {
					at := hook.Timestamp(m.at)
					if (tc.f.TenantID == "" || m.tenant == tc.f.TenantID) &&
						(tc.f.Type == "" || m.typ == tc.f.Type) &&
						(tc.f.Since.IsZero() || !at.Before(hook.Timestamp(tc.f.Since))) &&
						(tc.f.Until.IsZero() || at.Before(hook.Timestamp(tc.f.Until))) {
						want = append(want, m.id)
					}
				}
				testPaging(t, want, func(e hook.Event) string { return e.ID }, func(p hook.ListParams) (hook.Page[hook.Event], error) {
					f := tc.f
					f.ListParams = p
					return s.ListEvents(t.Context(), f)
				})
			})
		}
		testBadCursors(t, foreignCursor(t, s), func(p hook.ListParams) (hook.Page[hook.Event], error) {
			return s.ListEvents(t.Context(), hook.EventFilter{ListParams: p})
		})
	})
	t.Run("ListWhole", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		res := ingest(t, s, newEvent("acme", "a.b"))
		p, err := s.ListEvents(t.Context(), hook.EventFilter{})
		if err != nil || len(p.Items) != 1 {
			t.Fatalf("ListEvents = %d, %v; want 1", len(p.Items), err)
		}
		diff(t, "listed event", p.Items[0], res.Event)
	})
}

func testDeliveries(t *testing.T, open OpenFunc) {
	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		_, err := s.Delivery(t.Context(), "dlv_nobody")
		wantErr(t, "Delivery", err, hook.ErrNotFound)
	})
	t.Run("List", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createTenant(t, s, "other")
		a1 := createEndpoint(t, s, "acme", "*")
		a2 := createEndpoint(t, s, "acme", "order.*")
		o1 := createEndpoint(t, s, "other", "*")
		var events []string // oldest first
		created := map[string]hook.Delivery{}
		for i, tenant := range []string{"acme", "other", "acme", "acme", "other"} {
			ev := newEvent(tenant, "order.paid")
			ev.CreatedAt = now.Add(time.Duration(i) * time.Second)
			res := ingest(t, s, ev)
			events = append(events, ev.ID)
			for _, d := range res.Deliveries {
				created[d.ID] = d
			}
		}
		// Newest first: by event, newest event first. The order of the
		// deliveries of one event, made together, is the store's; the
		// whole list fixes it, and every filter and page size must agree.
		all := collect(t, hook.MaxLimit, func(p hook.ListParams) (hook.Page[hook.Delivery], error) {
			return s.ListDeliveries(t.Context(), hook.DeliveryFilter{ListParams: p})
		})
		if len(all) != len(created) {
			t.Fatalf("ListDeliveries listed %d, want the %d created", len(all), len(created))
		}
		pos := map[string]int{}
		for i, id := range events {
			pos[id] = i
		}
		for i, d := range all {
			diff(t, "listed delivery", d, created[d.ID])
			if i > 0 && pos[d.EventID] > pos[all[i-1].EventID] {
				t.Errorf("delivery %d is of an event newer than delivery %d's; want newest first", i, i-1)
			}
		}
		for _, tc := range []struct {
			name string
			f    hook.DeliveryFilter
		}{
			{"all", hook.DeliveryFilter{}},
			{"tenant", hook.DeliveryFilter{TenantID: "acme"}},
			{"event", hook.DeliveryFilter{EventID: events[2]}},
			{"endpoint", hook.DeliveryFilter{EndpointID: a2.ID}},
			{"other endpoint", hook.DeliveryFilter{EndpointID: o1.ID}},
			{"tenant and endpoint", hook.DeliveryFilter{TenantID: "acme", EndpointID: a1.ID}},
			{"mismatch", hook.DeliveryFilter{TenantID: "other", EndpointID: a1.ID}},
			{"nothing", hook.DeliveryFilter{EventID: "evt_nobody"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var want []string
				for _, d := range all {
					if (tc.f.TenantID == "" || d.TenantID == tc.f.TenantID) &&
						(tc.f.EventID == "" || d.EventID == tc.f.EventID) &&
						(tc.f.EndpointID == "" || d.EndpointID == tc.f.EndpointID) {
						want = append(want, d.ID)
					}
				}
				testPaging(t, want, func(d hook.Delivery) string { return d.ID }, func(p hook.ListParams) (hook.Page[hook.Delivery], error) {
					f := tc.f
					f.ListParams = p
					return s.ListDeliveries(t.Context(), f)
				})
			})
		}
		testBadCursors(t, foreignEventCursor(t, s), func(p hook.ListParams) (hook.Page[hook.Delivery], error) {
			return s.ListDeliveries(t.Context(), hook.DeliveryFilter{ListParams: p})
		})
	})
}

func testEventTypes(t *testing.T, open OpenFunc) {
	t.Run("CreateList", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		want := []hook.EventType{
			{Name: "payout.paid", Description: "A payout reached the bank.", Version: "2", Schema: json.RawMessage(`{"type": "object",  "required": ["payoutId"]}`), CreatedAt: hook.Timestamp(now)},
			{Name: "order.created", CreatedAt: hook.Timestamp(now.Add(time.Second))},
			{Name: "a", Description: "first by name", Version: "1", CreatedAt: hook.Timestamp(now)},
		}
		for _, et := range want {
			if err := s.CreateEventType(t.Context(), et); err != nil {
				t.Fatalf("CreateEventType(%s): %v", et.Name, err)
			}
		}
		slices.SortFunc(want, func(a, b hook.EventType) int { return strings.Compare(a.Name, b.Name) })
		got := collect(t, 2, func(p hook.ListParams) (hook.Page[hook.EventType], error) {
			return s.ListEventTypes(t.Context(), p)
		})
		diff(t, "ListEventTypes", got, want)
		names := make([]string, len(want))
		for i, et := range want {
			names[i] = et.Name
		}
		list := func(p hook.ListParams) (hook.Page[hook.EventType], error) { return s.ListEventTypes(t.Context(), p) }
		testPaging(t, names, func(et hook.EventType) string { return et.Name }, list)
		testBadCursors(t, foreignEventCursor(t, s), list)
	})
	t.Run("Conflict", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		et := hook.EventType{Name: "payout.paid", CreatedAt: now}
		if err := s.CreateEventType(t.Context(), et); err != nil {
			t.Fatalf("CreateEventType: %v", err)
		}
		et.Description = "again"
		wantErr(t, "CreateEventType of a taken name", s.CreateEventType(t.Context(), et), hook.ErrConflict)
	})
}
