package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/hook"
)

func TestOperatorPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for range 3 {
		d := e.send("acme", "payout.paid")
		e.waitDelivery(d.ID, func(d hook.Delivery) bool { return d.Status == hook.DeliverySucceeded })
	}
	failed := e.failed("acme", "payout.failed")
	b := e.browser()
	b.signIn(e.admin)

	_, body := b.get("/ui/")
	for _, want := range []string{`id="success">75.0%`, "3 of 4 attempts", `id="deliveries-rate">0.8`, e.acme.URL, "failing ×1"} {
		if !strings.Contains(body, want) {
			t.Errorf("the overview does not show %q", want)
		}
	}
	if strings.Contains(body, e.globex.URL) {
		t.Error("the overview lists a healthy endpoint as failing")
	}
	_, body = b.get("/ui/endpoints/" + e.acme.ID)
	for _, want := range []string{`<rect class="ok"`, `<rect class="bad"`, `<circle class="p50"`, failed.ID, "75.0%"} {
		if !strings.Contains(body, want) {
			t.Errorf("the endpoint page does not show %q", want)
		}
	}
	_, body = b.get("/ui/endpoints/" + e.acme.ID + "?eventType=payout.failed")
	if !strings.Contains(body, failed.ID) || strings.Count(body, `href="/ui/deliveries/`) != 1 {
		t.Error("the event type filter does not show exactly the failed delivery")
	}
	if code, _ := b.get("/ui/endpoints/" + e.acme.ID + "?status=lost"); code != http.StatusBadRequest {
		t.Errorf("an unknown status filter: %d, want 400", code)
	}
	_, body = b.get("/ui/deliveries/" + failed.ID)
	for _, want := range []string{`"payoutId": "po_acme_44"`, "receiver is down for maintenance", "X-Receiver", "Webhook-Signature", "HTTP 500", "http_status"} {
		if !strings.Contains(body, want) {
			t.Errorf("the delivery page does not show %q", want)
		}
	}

	ep := "/ui/endpoints/" + e.acme.ID
	for _, c := range []struct {
		path string
		form url.Values
		want string
	}{
		{ep + "/test", nil, "Test event sent: answered 200"},
		{ep + "/disable", url.Values{"reason": {"maintenance window"}}, "Endpoint disabled"},
		{ep + "/enable", nil, "Endpoint enabled"},
		{ep + "/recover", url.Values{"since": {"2020-01-01T00:00"}}, "Recover job job_"},
		{"/ui/events/" + failed.EventID + "/replay", url.Values{"delivery": {failed.ID}}, "replayed: a retry queued for 1 endpoint"},
	} {
		code, body := b.post(c.path, c.form)
		if code != http.StatusOK || !strings.Contains(body, c.want) {
			t.Errorf("POST %s: %d, want a page confirming %q", c.path, code, c.want)
		}
	}
	if code, body := b.post(ep+"/recover", url.Values{"since": {"yesterday"}}); code != http.StatusBadRequest || !strings.Contains(body, "UTC") {
		t.Errorf("recover with a bad time: %d", code)
	}
	if code, body := b.post("/ui/tenants/acme/endpoints", url.Values{"url": {"ftp://x"}, "events": {"*"}}); code != http.StatusBadRequest || !strings.Contains(body, "url") {
		t.Errorf("add an endpoint with a bad URL: %d", code)
	}
	if code, _ := b.get("/ui/deliveries/dlv_nope"); code != http.StatusNotFound {
		t.Errorf("an unknown delivery: %d, want 404", code)
	}
	got, _ := e.store.Endpoint(context.Background(), e.acme.ID)
	if got.Status != hook.EndpointActive {
		t.Errorf("after disable and enable the endpoint is %s", got.Status)
	}
}
