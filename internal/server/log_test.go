package server

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heraldhq/herald/internal/hook"
)

// attemptDue claims every delivery due now and records one attempt of
// each: the answer and duration outcome gives for the delivery, which also
// names its new status. It returns the attempts in the order recorded.
func attemptDue(t testing.TB, e *env, outcome func(hook.Delivery) (code int, d time.Duration, status hook.DeliveryStatus)) []hook.Attempt {
	t.Helper()
	ctx := context.Background()
	now := e.clock.Now()
	claims, err := e.store.ClaimDeliveries(ctx, hook.ClaimParams{Now: now, Limit: 100, LeaseMargin: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var as []hook.Attempt
	for _, c := range claims {
		code, d, status := outcome(c.Delivery)
		a := hook.Attempt{
			ID: hook.NewID(hook.PrefixAttempt), DeliveryID: c.Delivery.ID, EndpointID: c.Endpoint.ID,
			TenantID: c.Delivery.TenantID, Number: c.Delivery.AttemptCount + 1, StartedAt: now, Duration: d,
			RequestHeader: http.Header{"Webhook-Id": {c.Event.ID}}, StatusCode: code, ResponseHeader: http.Header{},
		}
		if code >= 300 {
			a.Error, a.ErrorMessage = "http_status", "the endpoint answered an error"
		}
		if _, err := e.store.CompleteAttempt(ctx, c.Token, hook.Outcome{Attempt: a, Status: status}); err != nil {
			t.Fatal(err)
		}
		as = append(as, a)
	}
	return as
}

// listedIDs lists the ids of a list answer.
func listedIDs(l listJ[map[string]any]) []string {
	out := []string{}
	for _, it := range l.Data {
		out = append(out, it["id"].(string))
	}
	return out
}

// logFixture has two tenants' deliveries, attempted: acme's order.paid
// succeeded in 10ms, acme's order.refunded failed (500, exhausted) in
// 30ms a minute later, and globex's order.paid succeeded in 5ms a minute
// after that.
type logFixture struct {
	e                        *env
	acme, globex             string // keys
	acmeEP, globexEP         string
	paid, refunded, gPaid    string // delivery ids
	paidAt, refundedAt, last time.Time
	attempts                 map[string]hook.Attempt // by delivery id
	recorded                 []string                // attempt ids in the order recorded
}

func newLogFixture(t *testing.T) *logFixture {
	t.Helper()
	e := newEnv(t)
	f := &logFixture{e: e, acme: e.tenant(t, "acme"), globex: e.tenant(t, "globex")}
	f.acmeEP = e.endpoint(t, f.acme, map[string]any{"url": "https://acme.example.com/hooks", "events": []string{"*"}})
	f.globexEP = e.endpoint(t, f.globex, map[string]any{"url": "https://globex.example.com/hooks", "events": []string{"*"}})
	deliveryOf := func(key, eventID string) string {
		t.Helper()
		var l listJ[deliveryJ]
		e.must(t, http.StatusOK, req{method: "GET", path: "/v1/events/" + eventID + "/deliveries", key: key}, &l)
		if len(l.Data) != 1 {
			t.Fatalf("event %s has %d deliveries, want 1", eventID, len(l.Data))
		}
		return l.Data[0].ID
	}
	f.paidAt = e.clock.Now()
	f.paid = deliveryOf(f.acme, e.event(t, f.acme, map[string]any{"type": "order.paid", "data": map[string]any{}}).ID)
	e.clock.Add(time.Minute)
	f.refundedAt = e.clock.Now()
	f.refunded = deliveryOf(f.acme, e.event(t, f.acme, map[string]any{"type": "order.refunded", "data": map[string]any{}}).ID)
	e.clock.Add(time.Minute)
	f.last = e.clock.Now()
	f.gPaid = deliveryOf(f.globex, e.event(t, f.globex, map[string]any{"type": "order.paid", "data": map[string]any{}}).ID)
	as := attemptDue(t, e, func(d hook.Delivery) (int, time.Duration, hook.DeliveryStatus) {
		switch d.ID {
		case f.paid:
			return 200, 10 * time.Millisecond, hook.DeliverySucceeded
		case f.refunded:
			return 500, 30 * time.Millisecond, hook.DeliveryFailed
		}
		return 200, 5 * time.Millisecond, hook.DeliverySucceeded
	})
	if len(as) != 3 {
		t.Fatalf("%d attempts, want 3", len(as))
	}
	f.attempts = map[string]hook.Attempt{}
	for _, a := range as {
		f.attempts[a.DeliveryID] = a
		f.recorded = append(f.recorded, a.ID)
	}
	return f
}

func TestListDeliveries(t *testing.T) {
	t.Parallel()
	f := newLogFixture(t)
	e := f.e
	ts := func(t time.Time) string { return url.QueryEscape(t.Format(time.RFC3339)) }
	for _, tc := range []struct {
		key, query string
		want       []string
	}{
		{f.acme, "", []string{f.refunded, f.paid}},
		{f.globex, "", []string{f.gPaid}},
		{e.admin, "", []string{f.gPaid, f.refunded, f.paid}},
		{e.admin, "tenantId=acme", []string{f.refunded, f.paid}},
		{f.acme, "tenantId=acme", []string{f.refunded, f.paid}},
		{f.acme, "status=failed", []string{f.refunded}},
		{f.acme, "status=succeeded", []string{f.paid}},
		{e.admin, "status=succeeded", []string{f.gPaid, f.paid}},
		{f.acme, "status=pending", []string{}},
		{f.acme, "eventType=order.paid", []string{f.paid}},
		{f.acme, "endpointId=" + f.acmeEP, []string{f.refunded, f.paid}},
		{f.acme, "since=" + ts(f.refundedAt), []string{f.refunded}},
		{f.acme, "until=" + ts(f.refundedAt), []string{f.paid}},
		{e.admin, "since=" + ts(f.refundedAt) + "&until=" + ts(f.last), []string{f.refunded}},
		// A tenant's filters never reach another tenant's deliveries.
		{f.acme, "endpointId=" + f.globexEP, []string{}},
		{f.acme, "eventType=order.paid&status=succeeded&since=" + ts(f.last), []string{}},
	} {
		var l listJ[map[string]any]
		e.must(t, http.StatusOK, req{method: "GET", path: "/v1/deliveries?" + tc.query, key: tc.key}, &l)
		if got := listedIDs(l); !slices.Equal(got, tc.want) || l.NextCursor != nil {
			t.Errorf("?%s: listed %q next %v, want %q", tc.query, got, l.NextCursor, tc.want)
		}
		for _, it := range l.Data {
			if tc.key == f.acme && it["tenantId"] != "acme" {
				t.Errorf("?%s: acme's key listed %v", tc.query, it)
			}
		}
	}
	// Pages, newest first.
	got, sizes := walk(t, e, e.admin, "/v1/deliveries?status=succeeded", 1)
	if want := []string{f.gPaid, f.paid}; !slices.Equal(got, want) || !slices.Equal(sizes, []int{1, 1}) {
		t.Errorf("paged %q in pages %v, want %q", got, sizes, want)
	}

	// Another tenant is refused, bad parameters are named.
	if p := e.do(t, req{method: "GET", path: "/v1/deliveries?tenantId=globex", key: f.acme}).problem(t); p.Status != http.StatusForbidden {
		t.Errorf("another tenant's deliveries: %d, want 403", p.Status)
	}
	for query, field := range map[string]string{
		"status=lost":                  "status",
		"status=":                      "",
		"since=yesterday":              "since",
		"until=2026-05-08":             "until",
		"tenant_id=acme":               "tenant_id",
		"type=order.paid":              "type",
		"limit=0":                      "limit",
		"cursor=garbage":               "cursor",
		"status=failed&status=pending": "status",
	} {
		res := e.do(t, req{method: "GET", path: "/v1/deliveries?" + query, key: f.acme})
		if field == "" {
			if res.status != http.StatusOK {
				t.Errorf("?%s: %d, want 200 (an empty status is no filter)", query, res.status)
			}
			continue
		}
		p := res.problem(t)
		if p.Status != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != field {
			t.Errorf("?%s: %d %+v, want 400 naming %s", query, p.Status, p.Errors, field)
		}
	}
}

func TestGetDelivery(t *testing.T) {
	t.Parallel()
	f := newLogFixture(t)
	e := f.e
	a := f.attempts[f.refunded]
	var got map[string]any
	e.must(t, http.StatusOK, req{method: "GET", path: "/v1/deliveries/" + f.refunded, key: f.acme}, &got)
	want := map[string]any{
		"id": f.refunded, "eventId": got["eventId"], "endpointId": f.acmeEP, "tenantId": "acme",
		"eventType": "order.refunded", "status": "failed", "attemptCount": float64(1), "nextAttemptAt": nil,
		"createdAt": "2026-05-08T10:16:00Z", "updatedAt": "2026-05-08T10:17:00.03Z",
		"attempts": []any{map[string]any{
			"id": a.ID, "deliveryId": f.refunded, "endpointId": f.acmeEP, "attempt": float64(1),
			"startedAt": "2026-05-08T10:17:00Z", "durationMs": float64(30),
			"requestHeaders": map[string]any{"Webhook-Id": got["eventId"]}, "statusCode": float64(500),
			"responseHeaders": map[string]any{}, "responseBody": "", "error": "http_status",
			"errorMessage": "the endpoint answered an error", "nextRetryAt": nil,
		}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("GET /v1/deliveries/{id} mismatch (-want +got):\n%s", d)
	}
	e.must(t, http.StatusOK, req{method: "GET", path: "/v1/deliveries/" + f.gPaid, key: e.admin}, nil)
	for _, tc := range []struct{ key, id string }{{f.globex, f.refunded}, {f.acme, f.gPaid}, {e.admin, "dlv_nope"}} {
		if p := e.do(t, req{method: "GET", path: "/v1/deliveries/" + tc.id, key: tc.key}).problem(t); p.Status != http.StatusNotFound {
			t.Errorf("GET delivery %s: %d, want 404", tc.id, p.Status)
		}
	}
}

func TestAttemptLog(t *testing.T) {
	t.Parallel()
	f := newLogFixture(t)
	e := f.e
	poll := func(key, query string) (got []string, next string) {
		t.Helper()
		var l listJ[map[string]any]
		e.must(t, http.StatusOK, req{method: "GET", path: "/v1/attempts?" + query, key: key}, &l)
		if l.NextCursor == nil {
			t.Fatalf("GET /v1/attempts?%s: nextCursor is null", query)
		}
		return listedIDs(l), *l.NextCursor
	}
	at := func(dlv string) string { return f.attempts[dlv].ID }
	// In the order recorded; acme's in their deliveries' order, as one
	// endpoint's deliveries are claimed oldest first.
	for _, tc := range []struct {
		key, query string
		want       []string
	}{
		{f.acme, "", []string{at(f.paid), at(f.refunded)}},
		{f.globex, "", []string{at(f.gPaid)}},
		{e.admin, "", f.recorded},
		{e.admin, "tenantId=globex", []string{at(f.gPaid)}},
		{f.acme, "endpointId=" + f.acmeEP, []string{at(f.paid), at(f.refunded)}},
		{f.acme, "endpointId=" + f.globexEP, []string{}}, // no leak
		{e.admin, "since=" + url.QueryEscape(f.last.Format(time.RFC3339)), f.recorded},
		{e.admin, "since=" + url.QueryEscape(f.last.Add(time.Second).Format(time.RFC3339)), []string{}},
	} {
		if got, _ := poll(tc.key, tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("?%s: listed %q, want %q", tc.query, got, tc.want)
		}
	}

	// tail: page, poll at the end, then only what is new.
	first, cursor := poll(f.acme, "limit=1")
	rest, cursor := poll(f.acme, "limit=1&cursor="+cursor)
	if !slices.Equal(append(first, rest...), []string{at(f.paid), at(f.refunded)}) {
		t.Errorf("paged %q then %q", first, rest)
	}
	for range 2 {
		var got []string
		if got, cursor = poll(f.acme, "cursor="+cursor); len(got) != 0 {
			t.Errorf("poll at the end listed %q", got)
		}
	}
	_, globexCursor := poll(f.globex, "")
	e.clock.Add(time.Minute)
	e.event(t, f.acme, map[string]any{"type": "order.paid", "data": map[string]any{}})
	e.event(t, f.globex, map[string]any{"type": "order.paid", "data": map[string]any{}})
	more := attemptDue(t, e, func(hook.Delivery) (int, time.Duration, hook.DeliveryStatus) {
		return 200, time.Millisecond, hook.DeliverySucceeded
	})
	var acmeNew, globexNew string
	for _, a := range more {
		if a.TenantID == "acme" {
			acmeNew = a.ID
		} else {
			globexNew = a.ID
		}
	}
	if got, _ := poll(f.acme, "cursor="+cursor); !slices.Equal(got, []string{acmeNew}) {
		t.Errorf("acme polled %q, want only %s", got, acmeNew)
	}
	if got, _ := poll(f.globex, "cursor="+globexCursor); !slices.Equal(got, []string{globexNew}) {
		t.Errorf("globex polled %q, want only %s", got, globexNew)
	}

	if p := e.do(t, req{method: "GET", path: "/v1/attempts?tenantId=globex", key: f.acme}).problem(t); p.Status != http.StatusForbidden {
		t.Errorf("another tenant's attempts: %d, want 403", p.Status)
	}
	for query, field := range map[string]string{
		"since=now":                 "since",
		"status=failed":             "status",
		"cursor=garbage":            "cursor",
		"limit=1000":                "limit",
		"endpointId=a&endpointId=b": "endpointId",
	} {
		p := e.do(t, req{method: "GET", path: "/v1/attempts?" + query, key: f.acme}).problem(t)
		if p.Status != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != field {
			t.Errorf("?%s: %d %+v, want 400 naming %s", query, p.Status, p.Errors, field)
		}
	}
}

func TestEndpointStats(t *testing.T) {
	t.Parallel()
	f := newLogFixture(t)
	e := f.e
	var got map[string]any
	path := "/v1/webhook-endpoints/" + f.acmeEP + "/stats"
	e.must(t, http.StatusOK, req{method: "GET", path: path, key: f.acme}, &got)
	// Attempts of 10ms and 30ms: p50 at rank 0.5, p99 at rank 0.99.
	window := func(since string) map[string]any {
		return map[string]any{
			"since":       since,
			"deliveries":  map[string]any{"pending": float64(0), "succeeded": float64(1), "failed": float64(1), "canceled": float64(0)},
			"attempts":    float64(2),
			"successRate": 0.5,
			"latencyMs":   map[string]any{"p50": float64(20), "p99": 29.8},
		}
	}
	want := map[string]any{
		"endpointId": f.acmeEP, "at": "2026-05-08T10:17:00Z",
		"windows": map[string]any{
			"hour": window("2026-05-08T09:17:00Z"),
			"day":  window("2026-05-07T10:17:00Z"),
			"week": window("2026-05-01T10:17:00Z"),
		},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("stats mismatch (-want +got):\n%s", d)
	}

	// A week later the hour and the day are empty: no rate, no latency.
	e.clock.Add(6 * 24 * time.Hour)
	e.must(t, http.StatusOK, req{method: "GET", path: path, key: e.admin}, &got)
	hour := got["windows"].(map[string]any)["hour"]
	wantHour := map[string]any{
		"since":       "2026-05-14T09:17:00Z",
		"deliveries":  map[string]any{"pending": float64(0), "succeeded": float64(0), "failed": float64(0), "canceled": float64(0)},
		"attempts":    float64(0),
		"successRate": nil,
		"latencyMs":   map[string]any{"p50": nil, "p99": nil},
	}
	if d := cmp.Diff(wantHour, hour); d != "" {
		t.Errorf("empty hour mismatch (-want +got):\n%s", d)
	}

	if p := e.do(t, req{method: "GET", path: path, key: f.globex}).problem(t); p.Status != http.StatusNotFound {
		t.Errorf("another tenant's endpoint stats: %d, want 404", p.Status)
	}
	if p := e.do(t, req{method: "GET", path: "/v1/webhook-endpoints/ep_nope/stats", key: e.admin}).problem(t); p.Status != http.StatusNotFound {
		t.Errorf("unknown endpoint stats: %d, want 404", p.Status)
	}
	if p := e.do(t, req{method: "GET", path: path + "?window=hour", key: f.acme}).problem(t); p.Status != http.StatusBadRequest {
		t.Errorf("unknown parameter: %d, want 400", p.Status)
	}
}
