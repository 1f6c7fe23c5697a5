package console_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/dispatch"
	"github.com/heraldhq/herald/internal/server"
)

// TestCircuitShown: three failed attempts open acme's circuit in the real
// dispatcher (a long cool-off keeps it open); the operator's and the
// portal's endpoint and tenant pages say so by word and by colour, while
// globex's circuit, never tripped, reads closed.
func TestCircuitShown(t *testing.T) {
	t.Parallel()
	e := newEnvBreaker(t, dispatch.BreakerConfig{Window: time.Minute, MinAttempts: 3, FailureRatio: 1, CoolOff: time.Hour})
	for range 3 {
		e.failed("acme", "payout.paid")
	}
	// The dispatcher records the outcome in the breaker before the store.
	if got := e.d.Circuit(e.acme.ID); got != dispatch.CircuitOpen {
		t.Fatalf("acme's circuit is %q after three failures, want open", got)
	}
	const open = `<span class="status s-failed" title="Too many attempts failed`
	const closed = `<span class="status s-healthy" title="Deliveries go as usual.">circuit closed</span>`
	showsOpen := func(who, path, body string) {
		t.Helper()
		if !strings.Contains(body, open) || !strings.Contains(body, ">circuit open</span>") {
			t.Errorf("%s GET %s does not show the circuit open", who, path)
		}
	}

	b := e.browser()
	b.signIn(e.admin)
	for _, p := range []string{"/ui/endpoints/" + e.acme.ID, "/ui/tenants/acme"} {
		code, body := b.get(p)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d", p, code)
		}
		showsOpen("operator", p, body)
	}
	_, body := b.get("/ui/endpoints/" + e.acme.ID)
	if !strings.Contains(body, `<dd id="circuit">`) {
		t.Error("the endpoint page's Health card has no circuit")
	}
	for _, p := range []string{"/ui/endpoints/" + e.globex.ID, "/ui/tenants/globex"} {
		if _, body := b.get(p); !strings.Contains(body, closed) || strings.Contains(body, "circuit open") {
			t.Errorf("GET %s does not show globex's circuit closed, and only that", p)
		}
	}

	_, link := e.portalLink("acme", "")
	portal := e.browser()
	portal.open(link["url"].(string))
	for _, p := range []string{"/ui/endpoints/" + e.acme.ID, "/ui/tenants/acme"} {
		code, body := portal.get(p)
		if code != http.StatusOK {
			t.Fatalf("portal GET %s: %d", p, code)
		}
		showsOpen("portal", p, body)
	}
}

// TestCircuitUnknown: a server without a dispatcher in its process (as
// with --role api) says the circuit is not known here, on both pages.
func TestCircuitUnknown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *server.Config) { c.Circuit = nil })
	b := e.browser()
	b.signIn(e.admin)
	const unknown = `<span class="status s-canceled" title="This process runs no dispatcher`
	for _, p := range []string{"/ui/endpoints/" + e.acme.ID, "/ui/tenants/acme"} {
		code, body := b.get(p)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d", p, code)
		}
		if !strings.Contains(body, unknown) || !strings.Contains(body, ">circuit: not known in this process (no dispatcher)</span>") {
			t.Errorf("GET %s does not say the circuit is not known in this process", p)
		}
		if strings.Contains(body, "circuit closed") || strings.Contains(body, "circuit open") {
			t.Errorf("GET %s claims a circuit state without a dispatcher", p)
		}
	}
}
