package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

type jobJ struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	EndpointID string     `json:"endpointId"`
	Status     string     `json:"status"`
	Total      int        `json:"total"`
	Done       int        `json:"done"`
	CreatedAt  time.Time  `json:"createdAt"`
	FinishedAt *time.Time `json:"finishedAt"`
}

// failDelivery claims the one due delivery and records a final failure.
func failDelivery(t *testing.T, e *env) hook.Delivery {
	t.Helper()
	ctx := context.Background()
	now := e.clock.Now()
	claims, err := e.store.ClaimDeliveries(ctx, hook.ClaimParams{Now: now, Limit: 10, LeaseMargin: time.Second})
	if err != nil || len(claims) != 1 {
		t.Fatalf("claim: %d claims, %v", len(claims), err)
	}
	c := claims[0]
	a := hook.Attempt{
		ID: hook.NewID(hook.PrefixAttempt), DeliveryID: c.Delivery.ID, EndpointID: c.Endpoint.ID, TenantID: c.Delivery.TenantID,
		Number: c.Delivery.AttemptCount + 1, StartedAt: now, StatusCode: 503, Error: "http_status",
	}
	if _, err := e.store.CompleteAttempt(ctx, c.Token, hook.Outcome{Attempt: a, Status: hook.DeliveryFailed, Replay: c.Replay.Queued}); err != nil {
		t.Fatal(err)
	}
	return c.Delivery
}

func TestRetryDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := e.tenant(t, "acme")
	other := e.tenant(t, "other")
	id := e.endpoint(t, key, map[string]any{"url": "https://merchant.example.com/hooks", "events": []string{"*"}})
	e.event(t, key, map[string]any{"type": "payout.paid", "data": map[string]any{"n": 1}})
	d := failDelivery(t, e)

	path := "/v1/deliveries/" + d.ID + "/retry"
	if res := e.do(t, req{method: "POST", path: path, key: other}); res.status != http.StatusNotFound {
		t.Errorf("retry with another tenant's key = %d, want 404", res.status)
	}
	e.clock.Add(time.Minute)
	var got deliveryJ
	for range 2 {
		e.must(t, http.StatusAccepted, req{method: "POST", path: path, key: key}, &got)
	}
	if got.Status != "pending" || got.AttemptCount != 1 || got.NextAttemptAt == nil || !got.NextAttemptAt.Equal(e.clock.Now()) {
		t.Errorf("after retry: %+v; want pending, 1 attempt, due now", got)
	}
	e.must(t, http.StatusAccepted, req{method: "POST", path: path, key: e.admin}, nil)

	if err := e.store.DeleteEndpoint(context.Background(), id, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if res := e.do(t, req{method: "POST", path: path, key: key}); res.status != http.StatusConflict {
		t.Errorf("retry of a canceled delivery = %d %s, want 409", res.status, res.body)
	}
	if res := e.do(t, req{method: "POST", path: "/v1/deliveries/dlv_missing/retry", key: key}); res.status != http.StatusNotFound {
		t.Errorf("retry of an unknown delivery = %d, want 404", res.status)
	}
}

func TestReplayEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := e.tenant(t, "acme")
	other := e.tenant(t, "other")
	ep1 := e.endpoint(t, key, map[string]any{"url": "https://merchant.example.com/a", "events": []string{"payout.*"}})
	ev := e.event(t, key, map[string]any{"type": "payout.paid", "data": map[string]any{"n": 1}})
	ep2 := e.endpoint(t, key, map[string]any{"url": "https://merchant.example.com/b", "events": []string{"*"}})
	ep3 := e.endpoint(t, key, map[string]any{"url": "https://merchant.example.com/c", "events": []string{"invoice.*"}})
	foreign := e.endpoint(t, other, map[string]any{"url": "https://other.example.com/hooks", "events": []string{"*"}})

	path := "/v1/events/" + ev.ID + "/replay"
	if res := e.do(t, req{method: "POST", path: path, key: other}); res.status != http.StatusNotFound {
		t.Errorf("replay with another tenant's key = %d, want 404", res.status)
	}
	var out struct {
		Deliveries []deliveryJ `json:"deliveries"`
	}
	e.must(t, http.StatusAccepted, req{method: "POST", path: path, key: key}, &out)
	got := map[string]string{}
	for _, d := range out.Deliveries {
		got[d.EndpointID] = d.Status
	}
	if len(got) != 2 || got[ep1] != "pending" || got[ep2] != "pending" {
		t.Errorf("replay to every matching endpoint: %v; want pending deliveries to %s and %s", got, ep1, ep2)
	}
	out.Deliveries = nil
	e.must(t, http.StatusAccepted, req{method: "POST", path: path, key: key, body: map[string]any{"endpointIds": []string{ep3}}}, &out)
	if len(out.Deliveries) != 1 || out.Deliveries[0].EndpointID != ep3 {
		t.Errorf("replay to %s: %+v", ep3, out.Deliveries)
	}

	for _, body := range []any{
		map[string]any{"endpointIds": []string{foreign}},
		map[string]any{"endpointIds": []string{"ep_missing"}},
		map[string]any{"endpointIds": []string{}},
		map[string]any{"endpointIds": "ep_1"},
	} {
		res := e.do(t, req{method: "POST", path: path, key: key, body: body})
		if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), "endpointIds") {
			t.Errorf("replay with %v = %d %s, want 400 naming endpointIds", body, res.status, res.body)
		}
	}
	if res := e.do(t, req{method: "POST", path: path, key: key, body: `{"endpointIds": [`}); res.status != http.StatusBadRequest {
		t.Errorf("replay with a truncated body = %d, want 400", res.status)
	}
}

func TestRecoverEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := e.tenant(t, "acme")
	other := e.tenant(t, "other")
	id := e.endpoint(t, key, map[string]any{"url": "https://merchant.example.com/hooks", "events": []string{"*"}})
	e.event(t, key, map[string]any{"type": "payout.paid", "data": map[string]any{"n": 1}})
	e.event(t, key, map[string]any{"type": "payout.paid", "data": map[string]any{"n": 2}})
	t0 := e.clock.Now()
	e.clock.Add(time.Hour)

	path := "/v1/webhook-endpoints/" + id + "/recover"
	body := map[string]any{"since": t0.Format(time.RFC3339)}
	if res := e.do(t, req{method: "POST", path: path, key: other, body: body}); res.status != http.StatusNotFound {
		t.Errorf("recover with another tenant's key = %d, want 404", res.status)
	}
	var j jobJ
	e.must(t, http.StatusAccepted, req{method: "POST", path: path, key: key, body: body}, &j)
	if j.Kind != "recover" || j.Status != "running" || j.Total != 2 || j.Done != 0 || j.FinishedAt != nil || j.EndpointID != id ||
		!j.CreatedAt.Equal(e.clock.Now()) {
		t.Errorf("recover = %+v; want a running recover job of 2 events", j)
	}
	var got jobJ
	e.must(t, http.StatusOK, req{method: "GET", path: "/v1/jobs/" + j.ID, key: key}, &got)
	if got != j {
		t.Errorf("GET job = %+v, want %+v", got, j)
	}
	e.must(t, http.StatusOK, req{method: "GET", path: "/v1/jobs/" + j.ID, key: e.admin}, nil)
	for _, p := range []string{"/v1/jobs/" + j.ID, "/v1/jobs/job_missing"} {
		if res := e.do(t, req{method: "GET", path: p, key: other}); res.status != http.StatusNotFound {
			t.Errorf("GET %s with another tenant's key = %d, want 404", p, res.status)
		}
	}

	for _, tc := range []struct {
		body  any
		field string
	}{
		{map[string]any{}, "since"},
		{map[string]any{"since": "yesterday"}, "since"},
		{map[string]any{"since": t0.Format(time.RFC3339), "until": "soon"}, "until"},
		{map[string]any{"since": t0.Format(time.RFC3339), "until": t0.Format(time.RFC3339)}, "until"},
		{map[string]any{"since": 5}, "since"},
	} {
		res := e.do(t, req{method: "POST", path: path, key: key, body: tc.body})
		if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), tc.field) {
			t.Errorf("recover with %v = %d %s, want 400 naming %s", tc.body, res.status, res.body, tc.field)
		}
	}
}
