package server

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// TestIdempotentIngest: a repeat of an event id with the same content
// answers 200 with the first event and creates nothing; other content, or
// another tenant, is 409.
func TestIdempotentIngest(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var calls []string
	e := newEnv(t, func(c *Config) {
		c.Ingested = func(r hook.IngestResult) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, r.Event.ID)
		}
	})
	keyA, keyB := e.tenant(t, "acme"), e.tenant(t, "globex")
	e.endpoint(t, keyA, map[string]any{"url": "https://example.com/a", "events": []string{"*"}})

	first := req{method: "POST", path: "/v1/events", key: keyA, body: `{"type":"order.created","data":{"n":1,"s":"x"}}`,
		header: map[string]string{"Idempotency-Key": "order-1001"}}
	var ev eventJ
	e.must(t, http.StatusAccepted, first, &ev)
	if ev.ID != "order-1001" {
		t.Errorf("id = %q, want the Idempotency-Key", ev.ID)
	}

	e.clock.Add(time.Hour)
	repeats := []req{
		first,
		// Insignificant white space is the same content.
		{method: "POST", path: "/v1/events", key: keyA, body: "{\"type\":\"order.created\",\"data\":{ \"n\": 1,\n \"s\": \"x\" }}",
			header: map[string]string{"Idempotency-Key": "order-1001"}},
		// The id in the body, or in both places alike.
		{method: "POST", path: "/v1/events", key: keyA, body: `{"id":"order-1001","type":"order.created","data":{"n":1,"s":"x"}}`},
		{method: "POST", path: "/v1/events", key: keyA, body: `{"id":"order-1001","type":"order.created","data":{"n":1,"s":"x"}}`,
			header: map[string]string{"Idempotency-Key": "order-1001"}},
		// The admin key naming the tenant.
		{method: "POST", path: "/v1/events", key: e.admin, body: `{"tenantId":"acme","id":"order-1001","type":"order.created","data":{"n":1,"s":"x"}}`},
	}
	for i, r := range repeats {
		var got eventJ
		e.must(t, http.StatusOK, r, &got)
		if got.ID != ev.ID || !got.CreatedAt.Equal(ev.CreatedAt) || string(got.Data) != string(ev.Data) {
			t.Errorf("repeat %d = %+v, want the first event %+v", i, got, ev)
		}
	}
	conflicts := []req{
		{method: "POST", path: "/v1/events", key: keyA, body: `{"id":"order-1001","type":"order.created","data":{"n":2,"s":"x"}}`},
		{method: "POST", path: "/v1/events", key: keyA, body: `{"id":"order-1001","type":"order.updated","data":{"n":1,"s":"x"}}`},
		{method: "POST", path: "/v1/events", key: keyB, body: `{"id":"order-1001","type":"order.created","data":{"n":1,"s":"x"}}`},
	}
	for i, r := range conflicts {
		if p := e.do(t, r).problem(t); p.Status != http.StatusConflict {
			t.Errorf("conflict %d = %+v, want 409", i, p)
		}
	}

	var dl listJ[deliveryJ]
	e.must(t, http.StatusOK, req{method: "GET", path: "/v1/events/order-1001/deliveries", key: keyA}, &dl)
	if len(dl.Data) != 1 {
		t.Errorf("deliveries = %d, want 1: repeats create nothing", len(dl.Data))
	}
	var evs listJ[eventJ]
	e.must(t, http.StatusOK, req{method: "GET", path: "/v1/events", key: e.admin}, &evs)
	if len(evs.Data) != 1 {
		t.Errorf("events = %d, want 1", len(evs.Data))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 1 || calls[0] != "order-1001" {
		t.Errorf("Ingested calls = %v, want one for order-1001", calls)
	}
}

// TestIngestConcurrentRepeats: many concurrent posts of one id make one
// event; every answer is 202 or 200 with that event.
func TestIngestConcurrentRepeats(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := e.tenant(t, "acme")
	e.endpoint(t, key, map[string]any{"url": "https://example.com/a", "events": []string{"*"}})
	var wg sync.WaitGroup
	statuses := make(chan int, 20)
	for range 20 {
		wg.Go(func() {
			res, err := e.send(req{method: "POST", path: "/v1/events", key: key, body: `{"id":"same","type":"a.b","data":{}}`})
			if err != nil {
				t.Error(err)
			}
			statuses <- res.status
		})
	}
	wg.Wait()
	close(statuses)
	created := 0
	for s := range statuses {
		switch s {
		case http.StatusAccepted:
			created++
		case http.StatusOK:
		default:
			t.Errorf("status %d, want 202 or 200", s)
		}
	}
	if created != 1 {
		t.Errorf("%d answers were 202, want 1", created)
	}
	var dl listJ[deliveryJ]
	e.must(t, http.StatusOK, req{method: "GET", path: "/v1/events/same/deliveries", key: key}, &dl)
	if len(dl.Data) != 1 {
		t.Errorf("deliveries = %d, want 1", len(dl.Data))
	}
}

// TestEventTypes registers and lists the catalogue.
func TestEventTypes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := e.tenant(t, "acme")
	schema := `{"type": "object", "properties": {"payoutId": {"type": "string"}}}`
	e.must(t, http.StatusCreated, req{method: "POST", path: "/v1/event-types", key: e.admin,
		body: `{"name": "payout.paid", "description": "A payout reached the bank.", "version": "1", "schema": ` + schema + `}`}, nil)
	e.must(t, http.StatusCreated, req{method: "POST", path: "/v1/event-types", key: e.admin, body: `{"name": "payout.failed", "schema": null}`}, nil)
	e.must(t, http.StatusConflict, req{method: "POST", path: "/v1/event-types", key: e.admin, body: `{"name": "payout.paid"}`}, nil)

	var l listJ[map[string]any]
	e.must(t, http.StatusOK, req{method: "GET", path: "/v1/event-types", key: key}, &l)
	if len(l.Data) != 2 || l.Data[0]["name"] != "payout.failed" || l.Data[0]["schema"] != nil ||
		l.Data[1]["name"] != "payout.paid" || l.Data[1]["description"] != "A payout reached the bank." || l.Data[1]["schema"] == nil {
		t.Errorf("event types = %v", l.Data)
	}
}
