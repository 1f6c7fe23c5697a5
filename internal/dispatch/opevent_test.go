package dispatch_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// opWebhook is an operational event as a receiver gets it.
type opWebhook struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Data struct {
		TenantID   string `json:"tenantId"`
		EndpointID string `json:"endpointId"`
		DeliveryID string `json:"deliveryId"`
		EventID    string `json:"eventId"`
		EventType  string `json:"eventType"`
		Attempts   int    `json:"attempts"`
		Reason     string `json:"reason"`
	} `json:"data"`
}

// subscriber registers an endpoint of tenant for the patterns, with a
// receiver that answers 200 and verifies signatures.
func (e *env) subscriber(tenant string, patterns ...string) (hook.Endpoint, *receiver) {
	e.t.Helper()
	rcv := newReceiver(e.t, nil)
	ep := e.endpoint(rcv.url(), func(ep *hook.Endpoint) { ep.TenantID, ep.Events = tenant, patterns })
	rcv.verifyWith(ep)
	return ep, rcv
}

// next waits for the receiver's next request, which must be a verified
// operational event.
// nextN returns the next n operational webhooks by type: they are separate
// deliveries, whose order Herald does not promise.
func (r *receiver) nextN(n int) map[string]opWebhook {
	r.t.Helper()
	got := make(map[string]opWebhook, n)
	for range n {
		w := r.next()
		got[w.Type] = w
	}
	return got
}

func (r *receiver) next() opWebhook {
	r.t.Helper()
	select {
	case rec := <-r.arrivals:
		if rec.err != nil {
			r.t.Fatalf("signature: %v", rec.err)
		}
		var w opWebhook
		if err := json.Unmarshal(rec.body, &w); err != nil {
			r.t.Fatalf("body %s: %v", rec.body, err)
		}
		return w
	case <-time.After(waitFor):
		r.t.Fatal("gave up waiting for a webhook")
		return opWebhook{}
	}
}

// events returns the types of a tenant's events, newest first.
func (e *env) events(tenant string) []string {
	e.t.Helper()
	p, err := e.store.ListEvents(context.Background(), hook.EventFilter{TenantID: tenant, ListParams: hook.ListParams{Limit: hook.MaxLimit}})
	if err != nil {
		e.t.Fatal(err)
	}
	var types []string
	for _, ev := range p.Items {
		types = append(types, ev.Type)
	}
	return types
}

// noOperational fails when r got an operational event.
func noOperational(t *testing.T, who string, r *receiver) {
	t.Helper()
	for _, rec := range r.requests() {
		var w opWebhook
		if err := json.Unmarshal(rec.body, &w); err == nil && strings.HasPrefix(w.Type, hook.OperationalPrefix) {
			t.Errorf("%s got %s, which it does not subscribe to", who, w.Type)
		}
	}
}

// TestOperationalGone: a 410 disables the endpoint, and the herald tenant's
// endpoint subscribed to herald.endpoint.* gets a signed
// herald.endpoint.disabled naming the tenant and the endpoint; so does the
// tenant's own subscriber, and an endpoint subscribed to "*" does not.
func TestOperationalGone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, ops := e.subscriber(hook.OperationalTenant, "herald.endpoint.*")
	_, own := e.subscriber(e.tenant, "herald.endpoint.disabled")
	gone := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) })
	ep := e.endpoint(gone.url(), func(ep *hook.Endpoint) { ep.Events = []string{"payout.*"} })
	all := newReceiver(t, nil)
	e.endpoint(all.url())
	d := e.send("payout.paid").Deliveries

	for _, who := range []struct {
		name string
		r    *receiver
	}{{"herald", ops}, {"tenant", own}} {
		w := who.r.next()
		if w.Type != hook.OpEndpointDisabled || w.Data.TenantID != e.tenant || w.Data.EndpointID != ep.ID ||
			!strings.Contains(w.Data.Reason, "410") || w.Data.EventType != "payout.paid" {
			t.Errorf("%s subscriber got %+v; want %s of %s, endpoint %s, for 410", who.name, w, hook.OpEndpointDisabled, e.tenant, ep.ID)
		}
	}
	if len(d) != 2 {
		t.Fatalf("payout.paid made %d deliveries, want 2", len(d))
	}
	for _, dl := range d {
		if dl.EndpointID != ep.ID {
			e.waitStatus(dl.ID, hook.DeliverySucceeded)
		}
	}
	if err := e.stop(); err != nil {
		t.Fatal(err)
	}
	noOperational(t, "the * endpoint", all)
	if got := e.events(hook.OperationalTenant); len(got) != 1 || got[0] != hook.OpEndpointDisabled {
		t.Errorf("herald's events: %v, want one %s", got, hook.OpEndpointDisabled)
	}
}

// TestOperationalFailing: a delivery that fails its four attempts raises
// herald.delivery.failing then herald.delivery.exhausted, which reach the
// tenant's own endpoint subscribed to herald.delivery.* and the herald
// tenant's, and not the endpoint subscribed to "*".
func TestOperationalFailing(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // three retries: four attempts
	_, ops := e.subscriber(hook.OperationalTenant, "herald.*")
	_, own := e.subscriber(e.tenant, "herald.delivery.*")
	failing := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	ep := e.endpoint(failing.url(), func(ep *hook.Endpoint) { ep.Events = []string{"payout.*"} })
	all := newReceiver(t, nil)
	e.endpoint(all.url(), func(ep *hook.Endpoint) { ep.Events = []string{"*"} })
	var dl hook.Delivery
	for _, d := range e.send("payout.paid").Deliveries {
		if d.EndpointID == ep.ID {
			dl = d
		}
	}

	for _, r := range []*receiver{own, ops} {
		got := r.nextN(2)
		for _, typ := range []string{hook.OpDeliveryFailing, hook.OpDeliveryExhausted} {
			w := got[typ]
			if w.Type != typ || w.Data.TenantID != e.tenant || w.Data.EndpointID != ep.ID ||
				w.Data.DeliveryID != dl.ID || w.Data.EventID != dl.EventID || w.Data.Attempts != 4 || w.Data.Reason == "" {
				t.Errorf("got %+v; want %s of delivery %s after 4 attempts, with a reason", w, typ, dl.ID)
			}
		}
	}
	if err := e.stop(); err != nil {
		t.Fatal(err)
	}
	noOperational(t, "the * endpoint", all)
	noOperational(t, "the failing endpoint", failing)
	if got := len(failing.requests()); got != 4 {
		t.Errorf("the failing endpoint got %d requests, want 4", got)
	}
}

// TestOperationalRecovered: a delivery that succeeds after four failures
// raises herald.delivery.failing, then herald.delivery.recovered.
func TestOperationalRecovered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, own := e.subscriber(e.tenant, "herald.delivery.*")
	var n atomic.Int32
	flaky := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 4 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	ep := e.endpoint(flaky.url(), func(ep *hook.Endpoint) {
		ep.Events = []string{"payout.*"}
		ep.RetrySchedule = []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond}
	})
	dl := e.sendOne("payout.paid")
	got := own.nextN(2)
	for _, want := range []struct {
		typ      string
		attempts int
	}{{hook.OpDeliveryFailing, 4}, {hook.OpDeliveryRecovered, 5}} {
		w := got[want.typ]
		if w.Type != want.typ || w.Data.EndpointID != ep.ID || w.Data.DeliveryID != dl.ID || w.Data.Attempts != want.attempts {
			t.Errorf("got %+v; want %s of delivery %s after %d attempts", w, want.typ, dl.ID, want.attempts)
		}
	}
	e.waitStatus(dl.ID, hook.DeliverySucceeded)
}

// TestOperationalNoLoop: the failing delivery of an operational event, to
// an endpoint of the herald tenant, raises nothing more.
func TestOperationalNoLoop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	broken := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	e.endpoint(broken.url(), func(ep *hook.Endpoint) { ep.TenantID, ep.Events = hook.OperationalTenant, []string{"herald.*"} })
	gone := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) })
	e.endpoint(gone.url())
	e.sendOne("payout.paid")
	// The herald.endpoint.disabled delivery fails its four attempts.
	for range 4 {
		select {
		case <-broken.arrivals:
		case <-time.After(waitFor):
			t.Fatal("gave up waiting for the operational event's attempts")
		}
	}
	if err := e.stop(); err != nil { // lets the last attempt be recorded and announced
		t.Fatal(err)
	}
	if got := e.events(hook.OperationalTenant); len(got) != 1 || got[0] != hook.OpEndpointDisabled {
		t.Errorf("herald's events: %v, want only %s", got, hook.OpEndpointDisabled)
	}
	if got := e.events(e.tenant); len(got) != 2 || got[0] != hook.OpEndpointDisabled {
		t.Errorf("%s's events: %v, want payout.paid and %s", e.tenant, got, hook.OpEndpointDisabled)
	}
}
