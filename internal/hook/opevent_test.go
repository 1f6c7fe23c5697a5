package hook

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDeliveryOperations(t *testing.T) {
	t.Parallel()
	d := Delivery{ID: "dlv_1", TenantID: "acme", EndpointID: "ep_1", EventID: "evt_1"}
	ev := Event{ID: "evt_1", TenantID: "acme", Type: "payout.paid"}
	failed := func(n int) Attempt {
		return Attempt{Number: n, StatusCode: 500, Error: "http_status", ErrorMessage: "500"}
	}
	ok := func(n int) Attempt { return Attempt{Number: n, StatusCode: 200} }
	tests := []struct {
		name   string
		d      Delivery
		ev     Event
		a      Attempt
		status DeliveryStatus
		want   []string
	}{
		{"first failure", d, ev, failed(1), DeliveryPending, nil},
		{"third failure", d, ev, failed(3), DeliveryPending, nil},
		{"fourth failure", d, ev, failed(4), DeliveryPending, []string{OpDeliveryFailing}},
		{"fourth and last", d, ev, failed(4), DeliveryFailed, []string{OpDeliveryFailing, OpDeliveryExhausted}},
		{"fifth failure", d, ev, failed(5), DeliveryPending, nil},
		{"exhausted early", d, ev, failed(2), DeliveryFailed, []string{OpDeliveryExhausted}},
		{"success", d, ev, ok(1), DeliverySucceeded, nil},
		{"success after 3", d, ev, ok(4), DeliverySucceeded, nil},
		{"success after 4", d, ev, ok(5), DeliverySucceeded, []string{OpDeliveryRecovered}},
		{"operational event", d, Event{ID: "evt_2", Type: OpEndpointDisabled}, failed(4), DeliveryFailed, nil},
		{"herald tenant", Delivery{ID: "dlv_2", TenantID: OperationalTenant}, ev, failed(4), DeliveryFailed, nil},
	}
	for _, tt := range tests {
		var got []string
		for _, op := range DeliveryOperations(tt.d, tt.ev, tt.a, tt.status) {
			got = append(got, op.Type)
			if op.DeliveryID != tt.d.ID || op.Attempts != tt.a.Number || op.Key == "" {
				t.Errorf("%s: %+v, want delivery %s, %d attempts and a key", tt.name, op, tt.d.ID, tt.a.Number)
			}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: types (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestOperationEvents(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 8, 10, 15, 0, 0, time.UTC)
	op := Operation{Type: OpDeliveryFailing, TenantID: "acme", EndpointID: "ep_1", DeliveryID: "dlv_1",
		EventID: "evt_1", EventType: "payout.paid", Attempts: 4, Reason: "500", At: at, Key: "dlv_1/4"}
	evs := op.Events()
	if len(evs) != 2 || evs[0].TenantID != OperationalTenant || evs[1].TenantID != "acme" {
		t.Fatalf("events of tenants %v, want herald then acme", evs)
	}
	again := op.Events()
	for i, ev := range evs {
		if ev.ID != again[i].ID || !ValidID(ev.ID) || !strings.HasPrefix(ev.ID, PrefixEvent) {
			t.Errorf("event %d: id %q then %q; want one valid id", i, ev.ID, again[i].ID)
		}
		if ev.Type != OpDeliveryFailing || !ev.CreatedAt.Equal(at) {
			t.Errorf("event %d: %s at %s", i, ev.Type, ev.CreatedAt)
		}
		var data map[string]any
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"tenantId": "acme", "endpointId": "ep_1", "deliveryId": "dlv_1",
			"eventId": "evt_1", "eventType": "payout.paid", "attempts": 4.0, "reason": "500"}
		if diff := cmp.Diff(want, data); diff != "" {
			t.Errorf("event %d data (-want +got):\n%s", i, diff)
		}
	}
	if evs[0].ID == evs[1].ID {
		t.Errorf("both copies have id %s", evs[0].ID)
	}
	op.Key = ""
	if a, b := op.Events(), op.Events(); a[0].ID == b[0].ID {
		t.Errorf("without a key, ids repeat: %s", a[0].ID)
	}
	op.TenantID = OperationalTenant
	if evs := op.Events(); len(evs) != 1 {
		t.Errorf("about the herald tenant: %d events, want 1", len(evs))
	}
}
