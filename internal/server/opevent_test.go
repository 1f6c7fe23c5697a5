package server

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heraldhq/herald/internal/dispatch"
	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/sender"
)

// opData is the data of an operational event.
type opData struct {
	TenantID   string `json:"tenantId"`
	EndpointID string `json:"endpointId"`
	Reason     string `json:"reason"`
}

// opEvent is an operational event as the store keeps it.
type opEvent struct {
	Type string
	Data opData
}

// opEvents returns a tenant's events, oldest first.
func (e *env) opEvents(t *testing.T, tenant string) []opEvent {
	t.Helper()
	p, err := e.store.ListEvents(context.Background(), hook.EventFilter{TenantID: tenant, ListParams: hook.ListParams{Limit: hook.MaxLimit}})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]opEvent, len(p.Items))
	for i, ev := range p.Items {
		var d opData
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatalf("event %s: %v", ev.ID, err)
		}
		out[len(out)-1-i] = opEvent{ev.Type, d}
	}
	return out
}

// TestOperationalEndpoint: creating, updating, disabling, enabling and
// deleting an endpoint announce it, as events of the herald tenant and of
// the endpoint's tenant; the herald tenant's endpoints get deliveries of
// them.
func TestOperationalEndpoint(t *testing.T) {
	t.Parallel()
	client, err := sender.New(sender.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) {
		d, err := dispatch.New(dispatch.Config{Store: c.Store, Sender: client})
		if err != nil {
			t.Fatal(err)
		}
		c.Announce = d.Announce
	})
	key := e.tenant(t, "acme")
	ops := e.endpoint(t, e.admin, map[string]any{"tenantId": hook.OperationalTenant,
		"url": "https://ops.example.com/hooks", "events": []string{"herald.endpoint.*"}})
	e.clock.Add(time.Second)
	id := e.endpoint(t, key, map[string]any{"url": "https://merchant.example.com/hooks", "events": []string{"herald.*"}})
	path := "/v1/webhook-endpoints/" + id
	steps := []req{
		{method: "PATCH", path: path, body: map[string]any{"description": "alerts"}},
		{method: "POST", path: path + "/disable", body: map[string]any{"reason": "maintenance"}},
		{method: "POST", path: path + "/disable"}, // already disabled: nothing to announce
		{method: "POST", path: path + "/enable"},
		{method: "DELETE", path: path},
	}
	for _, r := range steps {
		e.clock.Add(time.Second)
		r.key = key
		if res := e.do(t, r); res.status >= 300 {
			t.Fatalf("%s %s: %d %s", r.method, r.path, res.status, res.body)
		}
	}

	acme := []opEvent{
		{hook.OpEndpointCreated, opData{"acme", id, ""}},
		{hook.OpEndpointUpdated, opData{"acme", id, ""}},
		{hook.OpEndpointDisabled, opData{"acme", id, "maintenance"}},
		{hook.OpEndpointEnabled, opData{"acme", id, ""}},
		{hook.OpEndpointDeleted, opData{"acme", id, ""}},
	}
	if diff := cmp.Diff(acme, e.opEvents(t, "acme")); diff != "" {
		t.Errorf("acme's events (-want +got):\n%s", diff)
	}
	herald := append([]opEvent{{hook.OpEndpointCreated, opData{hook.OperationalTenant, ops, ""}}}, acme...)
	if diff := cmp.Diff(herald, e.opEvents(t, hook.OperationalTenant)); diff != "" {
		t.Errorf("herald's events (-want +got):\n%s", diff)
	}
	p, err := e.store.ListDeliveries(context.Background(), hook.DeliveryFilter{EndpointID: ops})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != len(herald) {
		t.Errorf("the herald endpoint has %d deliveries, want %d", len(p.Items), len(herald))
	}
}

// TestOperationalOff: without Config.Announce, changes raise no events.
func TestOperationalOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := e.tenant(t, "acme")
	e.endpoint(t, key, map[string]any{"url": "https://merchant.example.com/hooks", "events": []string{"herald.*"}})
	if got := e.opEvents(t, hook.OperationalTenant); len(got) != 0 {
		t.Errorf("herald's events: %v, want none", got)
	}
}
