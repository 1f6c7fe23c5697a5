package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// testLog checks the delivery log: the delivery filters, the attempt feed
// and endpoint stats.
func testLog(t *testing.T, open OpenFunc) {
	t.Run("DeliveryFilters", func(t *testing.T) { t.Parallel(); testDeliveryFilters(t, open(t)) })
	t.Run("AttemptLog", func(t *testing.T) { t.Parallel(); testAttemptLog(t, open(t)) })
	t.Run("EndpointStats", func(t *testing.T) { t.Parallel(); testEndpointStats(t, open(t)) })
}

// ingestAt ingests an event of tenant and typ created at at and returns
// its deliveries by endpoint id.
func ingestAt(t testing.TB, s hook.Store, tenant, typ string, at time.Time) map[string]hook.Delivery {
	t.Helper()
	ev := newEvent(tenant, typ)
	ev.CreatedAt = at
	ds := map[string]hook.Delivery{}
	for _, d := range ingest(t, s, ev).Deliveries {
		ds[d.EndpointID] = d
	}
	return ds
}

// claimsByDelivery claims up to 10 deliveries at at, by delivery id.
func claimsByDelivery(t testing.TB, s hook.Store, at time.Time) map[string]hook.Claim {
	t.Helper()
	cs := map[string]hook.Claim{}
	for _, c := range claim(t, s, at, 10) {
		cs[c.Delivery.ID] = c
	}
	return cs
}

// finish records one attempt of c started at at, taking d, answered with
// code, and gives the delivery status.
func finish(t testing.TB, s hook.Store, c hook.Claim, at time.Time, d time.Duration, code int, status hook.DeliveryStatus) hook.Attempt {
	t.Helper()
	a := attemptOf(c, at, code)
	a.Duration = d
	if status == hook.DeliveryPending {
		a.NextRetryAt = at.Add(10 * time.Minute)
	}
	complete(t, s, c, hook.Outcome{Attempt: a, Status: status})
	return a
}

func testDeliveryFilters(t *testing.T, s hook.Store) {
	t0 := hook.Timestamp(now)
	createTenant(t, s, "acme")
	createTenant(t, s, "other")
	a1 := createEndpoint(t, s, "acme", "*")
	a2 := createEndpoint(t, s, "acme", "order.refunded")
	o1 := createEndpoint(t, s, "other", "*")
	paid := ingestAt(t, s, "acme", "order.paid", t0)[a1.ID]
	refunded := ingestAt(t, s, "acme", "order.refunded", t0.Add(time.Hour))
	otherPaid := ingestAt(t, s, "other", "order.paid", t0.Add(time.Hour))[o1.ID]
	later := ingestAt(t, s, "acme", "order.paid", t0.Add(2*time.Hour))[a1.ID]
	// a2's delivery becomes canceled; the others are attempted.
	if err := s.DeleteEndpoint(t.Context(), a2.ID, t0.Add(2*time.Hour)); err != nil {
		t.Fatalf("DeleteEndpoint: %v", err)
	}
	cs := claimsByDelivery(t, s, t0.Add(2*time.Hour))
	if len(cs) != 4 {
		t.Fatalf("%d claims, want 4", len(cs))
	}
	at := t0.Add(2 * time.Hour)
	finish(t, s, cs[paid.ID], at, time.Millisecond, 200, hook.DeliverySucceeded)
	finish(t, s, cs[refunded[a1.ID].ID], at, time.Millisecond, 500, hook.DeliveryFailed)
	finish(t, s, cs[otherPaid.ID], at, time.Millisecond, 500, hook.DeliveryFailed)
	// later stays pending, leased.

	names := map[string]string{
		paid.ID: "paid", refunded[a1.ID].ID: "refunded/a1", refunded[a2.ID].ID: "refunded/a2",
		otherPaid.ID: "otherPaid", later.ID: "later",
	}
	for _, tc := range []struct {
		name string
		f    hook.DeliveryFilter
		want []string // newest first; one event's deliveries by name
	}{
		{"succeeded", hook.DeliveryFilter{Status: hook.DeliverySucceeded}, []string{"paid"}},
		{"failed", hook.DeliveryFilter{Status: hook.DeliveryFailed}, []string{"otherPaid", "refunded/a1"}},
		{"failed of a tenant", hook.DeliveryFilter{TenantID: "acme", Status: hook.DeliveryFailed}, []string{"refunded/a1"}},
		{"pending", hook.DeliveryFilter{Status: hook.DeliveryPending}, []string{"later"}},
		{"canceled", hook.DeliveryFilter{Status: hook.DeliveryCanceled}, []string{"refunded/a2"}},
		{"failed of an endpoint", hook.DeliveryFilter{EndpointID: o1.ID, Status: hook.DeliveryFailed}, []string{"otherPaid"}},
		{"type", hook.DeliveryFilter{EventType: "order.refunded"}, []string{"refunded/a1", "refunded/a2"}},
		{"type of a tenant", hook.DeliveryFilter{TenantID: "other", EventType: "order.paid"}, []string{"otherPaid"}},
		{"since", hook.DeliveryFilter{Since: t0.Add(time.Hour)}, []string{"later", "otherPaid", "refunded/a1", "refunded/a2"}},
		{"until", hook.DeliveryFilter{Until: t0.Add(time.Hour)}, []string{"paid"}},
		{"since and until", hook.DeliveryFilter{Since: t0.Add(time.Hour), Until: t0.Add(2 * time.Hour)},
			[]string{"otherPaid", "refunded/a1", "refunded/a2"}},
		{"until is exclusive", hook.DeliveryFilter{Since: t0, Until: t0}, nil},
		{"everything at once", hook.DeliveryFilter{TenantID: "acme", EndpointID: a1.ID, EventType: "order.paid",
			Status: hook.DeliveryPending, Since: t0.Add(time.Hour), Until: t0.Add(3 * time.Hour)}, []string{"later"}},
		{"mismatch", hook.DeliveryFilter{TenantID: "other", Status: hook.DeliveryCanceled}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list := func(p hook.ListParams) (hook.Page[hook.Delivery], error) {
				f := tc.f
				f.ListParams = p
				return s.ListDeliveries(t.Context(), f)
			}
			got := collect(t, 0, list)
			gotNames := make([]string, len(got))
			for i, d := range got {
				gotNames[i] = names[d.ID]
				// The order of one event's deliveries is the store's.
				if i > 0 && got[i-1].EventID == d.EventID && gotNames[i-1] > gotNames[i] {
					gotNames[i-1], gotNames[i] = gotNames[i], gotNames[i-1]
				}
			}
			if !slices.Equal(gotNames, tc.want) {
				t.Errorf("listed %q, want %q", gotNames, tc.want)
			}
			ids := make([]string, len(got))
			for i, d := range got {
				ids[i] = d.ID
			}
			testPaging(t, ids, func(d hook.Delivery) string { return d.ID }, list)
		})
	}
	// The stored delivery comes back whole through a filter.
	p, err := s.ListDeliveries(t.Context(), hook.DeliveryFilter{Status: hook.DeliverySucceeded})
	if err != nil || len(p.Items) != 1 {
		t.Fatalf("ListDeliveries(succeeded) = %d items, %v", len(p.Items), err)
	}
	diff(t, "succeeded delivery", p.Items[0], getDelivery(t, s, paid.ID))
	if p.Items[0].Status != hook.DeliverySucceeded || p.Items[0].AttemptCount != 1 {
		t.Errorf("status %q, %d attempts; want succeeded, 1", p.Items[0].Status, p.Items[0].AttemptCount)
	}
	if _, err := s.ListDeliveries(t.Context(), hook.DeliveryFilter{Status: "bogus"}); err == nil {
		t.Error("ListDeliveries with status bogus: no error")
	}
}

// walkLog follows the attempt log from cursor with limit until a page is
// empty, and returns the ids listed and the last cursor. Every page has a
// cursor.
func walkLog(t testing.TB, s hook.Store, f hook.AttemptLogFilter, limit int) ([]string, string) {
	t.Helper()
	var ids []string
	for range 100 {
		f.Limit = limit
		p, err := s.ListAttemptLog(context.Background(), f)
		if err != nil {
			t.Fatalf("ListAttemptLog(cursor %q): %v", f.Cursor, err)
		}
		if p.Next == "" {
			t.Fatalf("ListAttemptLog(cursor %q): no next cursor", f.Cursor)
		}
		if n := f.PageLimit(); len(p.Items) > n {
			t.Fatalf("page of %d attempts, limit %d", len(p.Items), n)
		}
		for _, a := range p.Items {
			ids = append(ids, a.ID)
		}
		f.Cursor = p.Next
		if len(p.Items) == 0 {
			return ids, f.Cursor
		}
	}
	t.Fatal("the attempt log did not end after 100 pages")
	return nil, ""
}

func testAttemptLog(t *testing.T, s hook.Store) {
	t0 := hook.Timestamp(now)
	createTenant(t, s, "acme")
	createTenant(t, s, "other")
	a1 := createEndpoint(t, s, "acme", "*")
	a2 := createEndpoint(t, s, "acme", "*")
	o1 := createEndpoint(t, s, "other", "*")

	// The empty log: no attempt, and a cursor to poll with.
	empty, cursor := walkLog(t, s, hook.AttemptLogFilter{}, 0)
	if len(empty) != 0 {
		t.Fatalf("empty store listed %q", empty)
	}

	acme := ingestAt(t, s, "acme", "a.b", t0)
	other := ingestAt(t, s, "other", "a.b", t0)
	cs := claimsByDelivery(t, s, t0)
	// Recorded in another order than started: the log is in the order
	// recorded.
	x := finish(t, s, cs[acme[a2.ID].ID], t0.Add(3*time.Second), time.Millisecond, 200, hook.DeliverySucceeded)
	y := finish(t, s, cs[other[o1.ID].ID], t0.Add(1*time.Second), time.Millisecond, 503, hook.DeliveryPending)
	z := finish(t, s, cs[acme[a1.ID].ID], t0.Add(2*time.Second), time.Millisecond, 200, hook.DeliverySucceeded)

	p, err := s.ListAttemptLog(t.Context(), hook.AttemptLogFilter{})
	if err != nil || len(p.Items) != 3 {
		t.Fatalf("ListAttemptLog = %d attempts, %v; want 3", len(p.Items), err)
	}
	diff(t, "first attempt of the log", p.Items[0], x)

	for _, tc := range []struct {
		name string
		f    hook.AttemptLogFilter
		want []string
	}{
		{"all", hook.AttemptLogFilter{}, []string{x.ID, y.ID, z.ID}},
		{"tenant", hook.AttemptLogFilter{TenantID: "acme"}, []string{x.ID, z.ID}},
		{"endpoint", hook.AttemptLogFilter{EndpointID: o1.ID}, []string{y.ID}},
		{"since", hook.AttemptLogFilter{Since: t0.Add(2 * time.Second)}, []string{x.ID, z.ID}},
		{"tenant and since", hook.AttemptLogFilter{TenantID: "other", Since: t0.Add(2 * time.Second)}, nil},
		{"mismatch", hook.AttemptLogFilter{TenantID: "other", EndpointID: a1.ID}, nil},
		{"from the empty log's cursor", hook.AttemptLogFilter{ListParams: hook.ListParams{Cursor: cursor}}, []string{x.ID, y.ID, z.ID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, limit := range []int{1, 2, 3, 0} {
				got, _ := walkLog(t, s, tc.f, limit)
				if !slices.Equal(got, tc.want) {
					t.Errorf("limit %d: listed %q, want %q", limit, got, tc.want)
				}
			}
		})
	}

	// Polling with the last cursor finds nothing, then exactly what was
	// recorded since.
	_, all := walkLog(t, s, hook.AttemptLogFilter{}, 2)
	_, mine := walkLog(t, s, hook.AttemptLogFilter{TenantID: "acme"}, 0)
	for _, c := range []string{all, mine} {
		p, err := s.ListAttemptLog(t.Context(), hook.AttemptLogFilter{ListParams: hook.ListParams{Cursor: c}, TenantID: "acme"})
		if err != nil || len(p.Items) != 0 || p.Next == "" {
			t.Errorf("poll at the end: %d attempts, next %q, %v; want none and a cursor", len(p.Items), p.Next, err)
		}
	}
	cs = claimsByDelivery(t, s, t0.Add(time.Hour)) // y's retry
	w := finish(t, s, cs[other[o1.ID].ID], t0.Add(time.Hour), time.Millisecond, 200, hook.DeliverySucceeded)
	acme = ingestAt(t, s, "acme", "a.b", t0.Add(time.Hour))
	cs = claimsByDelivery(t, s, t0.Add(time.Hour))
	v := finish(t, s, cs[acme[a1.ID].ID], t0.Add(time.Hour), time.Millisecond, 200, hook.DeliverySucceeded)
	for _, tc := range []struct {
		name   string
		cursor string
		f      hook.AttemptLogFilter
		want   []string
	}{
		{"all", all, hook.AttemptLogFilter{}, []string{w.ID, v.ID}},
		{"tenant", mine, hook.AttemptLogFilter{TenantID: "acme"}, []string{v.ID}},
	} {
		tc.f.Cursor = tc.cursor
		got, _ := walkLog(t, s, tc.f, 1)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: polled %q, want %q", tc.name, got, tc.want)
		}
	}

	testBadCursors(t, foreignEventCursor(t, s), func(p hook.ListParams) (hook.Page[hook.Attempt], error) {
		return s.ListAttemptLog(t.Context(), hook.AttemptLogFilter{ListParams: p})
	})
}

func testEndpointStats(t *testing.T, s hook.Store) {
	t0 := hook.Timestamp(now)
	createTenant(t, s, "acme")
	createTenant(t, s, "other")
	ep := createEndpoint(t, s, "acme", "*")
	o1 := createEndpoint(t, s, "other", "*")
	ms := time.Millisecond

	// One delivery a window, and one older than the week.
	old := ingestAt(t, s, "acme", "a.b", t0.Add(-8*24*time.Hour))[ep.ID]
	week := ingestAt(t, s, "acme", "a.b", t0.Add(-3*24*time.Hour))[ep.ID]
	day := ingestAt(t, s, "acme", "a.b", t0.Add(-2*time.Hour))[ep.ID]
	hour := ingestAt(t, s, "acme", "a.b", t0.Add(-30*time.Minute))[ep.ID]
	attempt := func(d hook.Delivery, at time.Time, dur time.Duration, code int, status hook.DeliveryStatus) {
		t.Helper()
		c, ok := claimsByDelivery(t, s, at)[d.ID]
		if !ok {
			t.Fatalf("delivery %s not claimed at %s", d.ID, at)
		}
		finish(t, s, c, at, dur, code, status)
	}
	attempt(old, t0.Add(-8*24*time.Hour), 1000*ms, 200, hook.DeliverySucceeded)
	attempt(week, t0.Add(-3*24*time.Hour), 40*ms, 200, hook.DeliverySucceeded)
	attempt(day, t0.Add(-2*time.Hour), 50*ms, 500, hook.DeliveryFailed)
	attempt(hour, t0.Add(-30*time.Minute), 10*ms, 503, hook.DeliveryPending)
	attempt(hour, t0.Add(-20*time.Minute), 30*ms, 200, hook.DeliverySucceeded)
	ingestAt(t, s, "acme", "a.b", t0.Add(-10*time.Minute)) // pending, never attempted
	// Another endpoint's attempt in the hour is not counted.
	attempt(ingestAt(t, s, "other", "a.b", t0.Add(-5*time.Minute))[o1.ID], t0.Add(-5*time.Minute), 5000*ms, 200, hook.DeliverySucceeded)

	got, err := s.EndpointStats(t.Context(), ep.ID, t0)
	if err != nil {
		t.Fatalf("EndpointStats: %v", err)
	}
	// Durations sorted: hour [10 30], day [10 30 50], week [10 30 40 50]
	// (ms); percentile p is at rank p*(n-1), interpolated.
	diff(t, "stats", got, hook.EndpointStats{Windows: [3]hook.WindowStats{{
		Since:      t0.Add(-time.Hour),
		Deliveries: hook.DeliveryCounts{Pending: 1, Succeeded: 1},
		Attempts:   2, Succeeded: 1,
		P50: 20 * ms, P99: 29800 * time.Microsecond,
	}, {
		Since:      t0.Add(-24 * time.Hour),
		Deliveries: hook.DeliveryCounts{Pending: 1, Succeeded: 1, Failed: 1},
		Attempts:   3, Succeeded: 1,
		P50: 30 * ms, P99: 49600 * time.Microsecond,
	}, {
		Since:      t0.Add(-7 * 24 * time.Hour),
		Deliveries: hook.DeliveryCounts{Pending: 1, Succeeded: 2, Failed: 1},
		Attempts:   4, Succeeded: 2,
		P50: 35 * ms, P99: 49700 * time.Microsecond,
	}}})

	// One attempt is every percentile; an endpoint without any has zeros.
	got, err = s.EndpointStats(t.Context(), o1.ID, t0)
	if err != nil {
		t.Fatalf("EndpointStats: %v", err)
	}
	if w := got.Windows[0]; w.Attempts != 1 || w.Succeeded != 1 || w.P50 != 5*time.Second || w.P99 != 5*time.Second {
		t.Errorf("one attempt: %+v", w)
	}
	got, err = s.EndpointStats(t.Context(), "ep_nobody", t0)
	if err != nil {
		t.Fatalf("EndpointStats(unknown): %v", err)
	}
	diff(t, "stats of an unknown endpoint", got.Windows[2], hook.WindowStats{Since: t0.Add(-7 * 24 * time.Hour)})
}
