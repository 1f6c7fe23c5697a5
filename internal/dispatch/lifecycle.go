package dispatch

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/sender"
)

// SendTest sends ev to ep now, signed and with the headers of a delivery,
// through the same SSRF-safe sender, and returns the attempt as it would be
// recorded (custom header values redacted). It writes nothing to the store
// and the attempt has no delivery and no retry; it bypasses the endpoint's
// gate (rate limit, circuit breaker), and the endpoint's status, because an
// operator asked for it: a test of a disabled endpoint is how one checks
// that it works again before enabling it.
func (d *Dispatcher) SendTest(ctx context.Context, ep hook.Endpoint, ev hook.Event) (hook.Attempt, error) {
	c := hook.Claim{Endpoint: ep, Event: ev, Delivery: hook.Delivery{TenantID: ep.TenantID, EventID: ev.ID, EndpointID: ep.ID}}
	body := envelope(ev)
	start := d.nowFunc()
	header, err := d.header(c, nil, body, start)
	if err != nil {
		return hook.Attempt{}, fmt.Errorf("sign test: %w", err)
	}
	res := d.send.Send(ctx, sender.Request{URL: ep.URL, Header: header, Body: body, Timeout: ep.Timeout})
	a := d.outcome(c, res, start).Attempt
	a.NextRetryAt = time.Time{}
	return a, nil
}
