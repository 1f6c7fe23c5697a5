package dispatch

import (
	"context"
	"errors"

	"github.com/heraldhq/herald/internal/hook"
)

// Announce ingests the operational events of op (see hook.Operation.Events)
// and wakes the dispatcher for their deliveries, which then go out as
// ordinary signed webhooks. It never fails its caller: the change it
// describes has happened, so errors are logged. It fits
// server.Config.Announce.
func (d *Dispatcher) Announce(ctx context.Context, op hook.Operation) {
	for _, ev := range op.Events() {
		res, err := d.store.Ingest(ctx, ev)
		switch {
		case errors.Is(err, hook.ErrNotFound):
			// The tenant was deleted meanwhile; its copy has no reader.
			d.log.Debug("announce: no tenant", "type", ev.Type, "tenant", ev.TenantID)
		case err != nil:
			d.log.Error("announce", "type", ev.Type, "tenant", ev.TenantID, "endpoint", op.EndpointID, "err", err)
		default:
			d.Notify(res)
		}
	}
}

// announce announces what a recorded attempt did: the endpoint's disabling,
// when the store disabled it for this attempt, and the delivery's
// operations (hook.DeliveryOperations). Their keys make their event ids
// follow from the attempt, which is recorded once.
func (d *Dispatcher) announce(ctx context.Context, c hook.Claim, o hook.Outcome, disabled string) {
	a := o.Attempt
	if disabled != "" {
		op := hook.EndpointOperation(hook.OpEndpointDisabled, c.Endpoint, disabled, a.StartedAt.Add(a.Duration))
		op.DeliveryID, op.EventID, op.EventType = c.Delivery.ID, c.Event.ID, c.Event.Type
		op.Attempts, op.StatusCode, op.Key = a.Number, a.StatusCode, a.ID
		d.Announce(ctx, op)
	}
	if o.Replay {
		return // a manual attempt: its caller watches it; no failing or exhausted again
	}
	for _, op := range hook.DeliveryOperations(c.Delivery, c.Event, a, o.Status) {
		d.Announce(ctx, op)
	}
}
