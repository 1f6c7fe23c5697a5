package server

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldhq/herald/internal/hook"
)

// TestDeliveryAttempts: the attempt log of a delivery, as the dispatcher
// records it, oldest first, to the delivery's tenant and the admin only.
func TestDeliveryAttempts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	key := e.tenant(t, "acme")
	other := e.tenant(t, "globex")
	e.endpoint(t, key, map[string]any{"url": "https://merchant.example.com/hooks", "events": []string{"*"}})
	e.event(t, key, map[string]any{"type": "payout.paid", "data": map[string]any{"n": 1}})

	now := e.clock.Now()
	claims, err := e.store.ClaimDeliveries(ctx, hook.ClaimParams{Now: now, Limit: 10, LeaseMargin: 10 * time.Second})
	if err != nil || len(claims) != 1 {
		t.Fatalf("claim: %d claims, %v", len(claims), err)
	}
	c := claims[0]
	first := hook.Attempt{
		ID: hook.NewID(hook.PrefixAttempt), DeliveryID: c.Delivery.ID, EndpointID: c.Endpoint.ID, TenantID: "acme",
		Number: 1, StartedAt: now, Duration: 1500 * time.Microsecond,
		RequestHeader:  http.Header{"Webhook-Id": {c.Event.ID}, "Authorization": {"[redacted]"}},
		StatusCode:     503,
		ResponseHeader: http.Header{"Retry-After": {"5"}, "Vary": {"A", "B"}},
		ResponseBody:   []byte("try later"),
		Error:          "http_status", ErrorMessage: "the endpoint answered 503 Service Unavailable",
		NextRetryAt: now.Add(5 * time.Second),
	}
	if _, err := e.store.CompleteAttempt(ctx, c.Token, hook.Outcome{Attempt: first, Status: hook.DeliveryPending}); err != nil {
		t.Fatal(err)
	}
	claims, err = e.store.ClaimDeliveries(ctx, hook.ClaimParams{Now: now.Add(5 * time.Second), Limit: 10, LeaseMargin: 10 * time.Second})
	if err != nil || len(claims) != 1 {
		t.Fatalf("second claim: %d claims, %v", len(claims), err)
	}
	second := hook.Attempt{
		ID: hook.NewID(hook.PrefixAttempt), DeliveryID: c.Delivery.ID, EndpointID: c.Endpoint.ID, TenantID: "acme",
		Number: 2, StartedAt: now.Add(5 * time.Second), Duration: 2 * time.Millisecond,
		RequestHeader: http.Header{"Webhook-Id": {c.Event.ID}}, StatusCode: 200, ResponseHeader: http.Header{},
	}
	if _, err := e.store.CompleteAttempt(ctx, claims[0].Token, hook.Outcome{Attempt: second, Status: hook.DeliverySucceeded}); err != nil {
		t.Fatal(err)
	}

	path := "/v1/deliveries/" + c.Delivery.ID + "/attempts"
	var got struct {
		Data       []map[string]any `json:"data"`
		NextCursor *string          `json:"nextCursor"`
	}
	e.must(t, http.StatusOK, req{method: "GET", path: path, key: key}, &got)
	want := []map[string]any{{
		"id": first.ID, "deliveryId": c.Delivery.ID, "endpointId": c.Endpoint.ID, "attempt": float64(1),
		"startedAt": "2026-05-08T10:15:00Z", "durationMs": 1.5,
		"requestHeaders":  map[string]any{"Webhook-Id": c.Event.ID, "Authorization": "[redacted]"},
		"statusCode":      float64(503),
		"responseHeaders": map[string]any{"Retry-After": "5", "Vary": "A, B"},
		"responseBody":    "try later", "error": "http_status",
		"errorMessage": "the endpoint answered 503 Service Unavailable", "nextRetryAt": "2026-05-08T10:15:05Z",
	}, {
		"id": second.ID, "deliveryId": c.Delivery.ID, "endpointId": c.Endpoint.ID, "attempt": float64(2),
		"startedAt": "2026-05-08T10:15:05Z", "durationMs": float64(2),
		"requestHeaders": map[string]any{"Webhook-Id": c.Event.ID}, "statusCode": float64(200),
		"responseHeaders": map[string]any{}, "responseBody": "", "error": nil, "errorMessage": "", "nextRetryAt": nil,
	}}
	if diff := cmp.Diff(want, got.Data); diff != "" || got.NextCursor != nil {
		t.Errorf("attempts mismatch (-want +got):\n%s\nnextCursor %v", diff, got.NextCursor)
	}
	// Paged one at a time, oldest first.
	e.must(t, http.StatusOK, req{method: "GET", path: path + "?limit=1", key: e.admin}, &got)
	if len(got.Data) != 1 || got.Data[0]["id"] != first.ID || got.NextCursor == nil {
		t.Fatalf("first page = %v, next %v", got.Data, got.NextCursor)
	}
	e.must(t, http.StatusOK, req{method: "GET", path: path + "?limit=1&cursor=" + *got.NextCursor, key: e.admin}, &got)
	if len(got.Data) != 1 || got.Data[0]["id"] != second.ID || got.NextCursor != nil {
		t.Fatalf("second page = %v, next %v", got.Data, got.NextCursor)
	}

	// Another tenant does not see it; an unknown id is not found.
	if p := e.do(t, req{method: "GET", path: path, key: other}).problem(t); p.Status != http.StatusNotFound {
		t.Errorf("another tenant: %d, want 404", p.Status)
	}
	if p := e.do(t, req{method: "GET", path: "/v1/deliveries/dlv_nope/attempts", key: e.admin}).problem(t); p.Status != http.StatusNotFound {
		t.Errorf("unknown delivery: %d, want 404", p.Status)
	}
	if p := e.do(t, req{method: "GET", path: path + "?cursor=garbage", key: key}).problem(t); p.Status != http.StatusBadRequest {
		t.Errorf("bad cursor: %d, want 400", p.Status)
	}
}
