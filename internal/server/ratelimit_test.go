package server

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestTenantRateLimit: a tenant over its ingest limit gets 429 with
// Retry-After and nothing is stored, while another tenant's events are
// accepted; once the bucket refills, the tenant is accepted again.
func TestTenantRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.TenantRateLimit = 2.5 }) // burst 3
	keyA, keyB := e.tenant(t, "acme"), e.tenant(t, "globex")
	post := func(key, id string) resp {
		return e.do(t, req{method: "POST", path: "/v1/events", key: key,
			body: map[string]any{"id": id, "type": "order.created", "data": map[string]any{}}})
	}
	for i := range 3 {
		if r := post(keyA, fmt.Sprintf("a-%d", i)); r.status != http.StatusAccepted {
			t.Fatalf("acme event %d within the burst = %d %s, want 202", i, r.status, r.body)
		}
	}
	r := post(keyA, "a-over")
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("acme over its limit = %d %s, want 429", r.status, r.body)
	}
	if p := r.problem(t); p.Type != typeRateLimited {
		t.Errorf("problem type = %q, want %q", p.Type, typeRateLimited)
	}
	if got := r.header.Get("Retry-After"); got != "1" { // 0.4 s, rounded up
		t.Errorf("Retry-After = %q, want 1", got)
	}
	if r := e.do(t, req{method: "GET", path: "/v1/events/a-over", key: keyA}); r.status != http.StatusNotFound {
		t.Errorf("GET the refused event = %d, want 404", r.status)
	}
	// The admin key naming acme draws from acme's bucket too.
	r = e.do(t, req{method: "POST", path: "/v1/events", key: e.admin,
		body: map[string]any{"tenantId": "acme", "type": "order.created", "data": map[string]any{}}})
	if r.status != http.StatusTooManyRequests {
		t.Errorf("admin key for acme over its limit = %d, want 429", r.status)
	}

	// Another tenant is not slowed.
	for i := range 3 {
		if r := post(keyB, fmt.Sprintf("b-%d", i)); r.status != http.StatusAccepted {
			t.Fatalf("globex event %d while acme is limited = %d %s, want 202", i, r.status, r.body)
		}
	}

	// A token refills every 0.4 s.
	e.clock.Add(400 * time.Millisecond) // one token
	if r := post(keyA, "a-refilled"); r.status != http.StatusAccepted {
		t.Fatalf("acme after one token refilled = %d %s, want 202", r.status, r.body)
	}
	if r := post(keyA, "a-over2"); r.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After = %q, want 1", r.header.Get("Retry-After"))
	}
}

// TestTenantLimiter checks the buckets without HTTP: the burst, the wait,
// and eviction that keeps the map bounded.
func TestTenantLimiter(t *testing.T) {
	t.Parallel()
	if newTenantLimiter(0) != nil {
		t.Error("newTenantLimiter(0) is not nil (no limit)")
	}
	t0 := time.Date(2026, 5, 8, 10, 0, 0, 0, time.UTC)
	l := newTenantLimiter(0.2) // one event every 5 s, burst 1
	if ok, _ := l.allow("acme", t0); !ok {
		t.Fatal("first event refused")
	}
	ok, wait := l.allow("acme", t0.Add(time.Second))
	if ok || wait != 4*time.Second {
		t.Errorf("second event 1 s later = %v, wait %s; want refused, wait 4s", ok, wait)
	}
	if got := (&rateLimited{wait: 4100 * time.Millisecond}).retryAfter(); got != "5" {
		t.Errorf("retryAfter(4.1s) = %q, want 5", got)
	}
	// Refused events take no token: the wait does not grow.
	if _, again := l.allow("acme", t0.Add(time.Second)); again != wait {
		t.Errorf("wait after a refusal = %s, want %s", again, wait)
	}

	for i := range maxLimitedTenants + 10 {
		l.allow(fmt.Sprint("t", i), t0.Add(time.Duration(i)*time.Millisecond))
	}
	if n := len(l.buckets); n > maxLimitedTenants {
		t.Errorf("%d buckets, want at most %d", n, maxLimitedTenants)
	}
}
