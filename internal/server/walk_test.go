package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldhq/herald/internal/hook"
)

// TestWalk is the README's walk-through: tenant, tenant key, endpoint (the
// request exactly as the issue writes it), event, deliveries.
func TestWalk(t *testing.T) {
	t.Parallel()
	ingested := make(chan hook.IngestResult, 1)
	e := newEnv(t, func(c *Config) {
		c.PublicURL = "https://herald.example.com/"
		c.Ingested = func(r hook.IngestResult) { ingested <- r }
	})
	now := e.clock.Now()

	var tenant tenantJ
	res := e.must(t, http.StatusCreated, req{method: "POST", path: "/v1/tenants", key: e.admin,
		body: `{"id": "merchant_42", "name": "Chai Point", "metadata": {"plan": "gold"}}`}, &tenant)
	wantTenant := tenantJ{ID: "merchant_42", Name: "Chai Point", Metadata: map[string]string{"plan": "gold"}, CreatedAt: now}
	if diff := cmp.Diff(wantTenant, tenant); diff != "" {
		t.Errorf("tenant mismatch (-want +got):\n%s", diff)
	}
	if got, want := res.header.Get("Location"), "https://herald.example.com/v1/tenants/merchant_42"; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}

	var key keyJ
	e.must(t, http.StatusCreated, req{method: "POST", path: "/v1/tenants/merchant_42/api-keys", key: e.admin}, &key)
	if !strings.HasPrefix(key.Key, hook.TenantKeyPrefix) || !strings.HasPrefix(key.ID, hook.PrefixAPIKey) ||
		key.TenantID != "merchant_42" || !strings.HasPrefix(key.Key, key.Prefix) || key.LastUsedAt != nil {
		t.Errorf("new key = %+v, want a tenant key of merchant_42 with its prefix and no lastUsedAt", key)
	}

	var ep map[string]any
	e.must(t, http.StatusCreated, req{method: "POST", path: "/v1/webhook-endpoints", key: key.Key,
		body: `{"url": "https://merchant.example.com/hooks/payouts", "events": ["payout.paid", "payout.failed"]}`}, &ep)
	id, _ := ep["id"].(string)
	secret, _ := ep["secret"].(string)
	if !strings.HasPrefix(id, hook.PrefixEndpoint) || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("endpoint id %q, secret %q: want ep_… and whsec_…", id, secret)
	}
	wantEP := map[string]any{
		"id": id, "tenantId": "merchant_42", "url": "https://merchant.example.com/hooks/payouts", "description": "",
		"events": []any{"payout.paid", "payout.failed"}, "signatureScheme": "standard", "headers": map[string]any{},
		"rateLimit": nil, "maxInFlight": float64(hook.DefaultMaxInFlight), "timeout": "15s", "retrySchedule": nil,
		"metadata": map[string]any{}, "status": "active", "createdAt": "2026-05-08T10:15:00Z", "updatedAt": "2026-05-08T10:15:00Z",
		"lastSuccessAt": nil, "lastFailureAt": nil, "consecutiveFailures": float64(0), "failingSince": nil, "secret": secret,
	}
	if diff := cmp.Diff(wantEP, ep); diff != "" {
		t.Errorf("created endpoint mismatch (-want +got):\n%s", diff)
	}
	// Plain GETs and lists never show the secret; …/secret does.
	var got map[string]any
	e.must(t, http.StatusOK, req{method: "GET", path: "/v1/webhook-endpoints/" + id, key: key.Key}, &got)
	delete(wantEP, "secret")
	if diff := cmp.Diff(wantEP, got); diff != "" {
		t.Errorf("GET endpoint mismatch (-want +got):\n%s", diff)
	}
	var eps listJ[map[string]any]
	e.must(t, http.StatusOK, req{method: "GET", path: "/v1/webhook-endpoints", key: key.Key}, &eps)
	if diff := cmp.Diff(listJ[map[string]any]{Data: []map[string]any{wantEP}}, eps); diff != "" {
		t.Errorf("endpoint list mismatch (-want +got):\n%s", diff)
	}
	var sec map[string]string
	e.must(t, http.StatusOK, req{method: "GET", path: "/v1/webhook-endpoints/" + id + "/secret", key: key.Key}, &sec)
	if diff := cmp.Diff(map[string]string{"secret": secret}, sec); diff != "" {
		t.Errorf("secret mismatch (-want +got):\n%s", diff)
	}
	// An endpoint of the tenant that does not match gets no delivery.
	e.endpoint(t, key.Key, map[string]any{"url": "https://merchant.example.com/hooks/refunds", "events": []string{"refund.*"}})

	e.clock.Add(time.Second)
	data := `{"payoutId": "po_44", "amountPaise": 250000, "currency": "INR", "big": 12345678901234567890123}`
	var ev eventJ
	res = e.must(t, http.StatusAccepted, req{method: "POST", path: "/v1/events", key: key.Key,
		body: `{"type": "payout.paid", "data": ` + data + `}`}, &ev)
	if !strings.HasPrefix(ev.ID, hook.PrefixEvent) || ev.Type != "payout.paid" || ev.TenantID != "merchant_42" ||
		!ev.CreatedAt.Equal(now.Add(time.Second)) || !jsonEqual(t, ev.Data, []byte(data)) {
		t.Errorf("event = %+v %s", ev, ev.Data)
	}
	if got, want := res.header.Get("Location"), "https://herald.example.com/v1/events/"+ev.ID; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if r := <-ingested; r.Event.ID != ev.ID || len(r.Deliveries) != 1 {
		t.Errorf("Ingested got event %s with %d deliveries, want %s with 1", r.Event.ID, len(r.Deliveries), ev.ID)
	}

	var read eventJ
	e.must(t, http.StatusOK, req{method: "GET", path: "/v1/events/" + ev.ID, key: key.Key}, &read)
	if read.ID != ev.ID || !read.CreatedAt.Equal(ev.CreatedAt) || !strings.Contains(string(read.Data), "12345678901234567890123") {
		t.Errorf("GET event = %+v %s, want %+v", read, read.Data, ev)
	}

	var dl listJ[deliveryJ]
	e.must(t, http.StatusOK, req{method: "GET", path: "/v1/events/" + ev.ID + "/deliveries", key: key.Key}, &dl)
	if len(dl.Data) != 1 {
		t.Fatalf("deliveries = %+v, want 1", dl)
	}
	d := dl.Data[0]
	at := now.Add(time.Second)
	wantD := deliveryJ{ID: d.ID, EventID: ev.ID, EndpointID: id, Status: "pending", NextAttemptAt: &at, CreatedAt: at}
	if diff := cmp.Diff(wantD, d); diff != "" || !strings.HasPrefix(d.ID, hook.PrefixDelivery) || dl.NextCursor != nil {
		t.Errorf("delivery mismatch (-want +got):\n%s", diff)
	}

	// The key's use was recorded.
	var keys listJ[keyJ]
	e.must(t, http.StatusOK, req{method: "GET", path: "/v1/tenants/merchant_42/api-keys", key: e.admin}, &keys)
	if len(keys.Data) != 1 || keys.Data[0].Key != "" || keys.Data[0].LastUsedAt == nil {
		t.Errorf("keys = %+v, want one, without its key, with lastUsedAt", keys.Data)
	}
}

func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return cmp.Equal(x, y)
}

func TestHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.must(t, http.StatusOK, req{method: "GET", path: "/healthz"}, nil)
	e.must(t, http.StatusOK, req{method: "GET", path: "/readyz"}, nil)

	// A database that does not answer: readyz says so, and an API request
	// answers 500 without the error's text, which goes to the log.
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	res := e.do(t, req{method: "GET", path: "/readyz"})
	if p := res.problem(t); p.Status != http.StatusServiceUnavailable || p.Type != typeUnavailable {
		t.Errorf("readyz = %+v, want 503", p)
	}
	res = e.do(t, req{method: "GET", path: "/v1/tenants", key: e.admin})
	if p := res.problem(t); p.Status != http.StatusInternalServerError || p.Detail != genericInternalDetail {
		t.Errorf("GET /v1/tenants on a closed store = %+v, want 500 with the generic detail", p)
	}
	if !strings.Contains(e.logs.String(), "look up api key") {
		t.Errorf("log does not hold the error:\n%s", e.logs.String())
	}
	e.must(t, http.StatusOK, req{method: "GET", path: "/healthz"}, nil)
}

func TestNew(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{}); err == nil {
		t.Error("New without a store: no error")
	}
	e := newEnv(t)
	for _, u := range []string{"herald.example.com", "ftp://x", "http://"} {
		if _, err := New(Config{Store: e.store, PublicURL: u}); err == nil {
			t.Errorf("New with PublicURL %q: no error", u)
		}
	}
	if _, err := New(Config{Store: e.store, MaxPayload: -1}); err == nil {
		t.Error("New with a negative MaxPayload: no error")
	}
}
