package dispatch

// Circuit states as Dispatcher.Circuit names them.
const (
	CircuitClosed   = "closed"    // deliveries go as usual
	CircuitOpen     = "open"      // deliveries wait until the cool-off ends
	CircuitHalfOpen = "half-open" // one probe may go, or is in flight
)

// Circuit returns the state of the endpoint's circuit breaker in this
// dispatcher: CircuitClosed, CircuitOpen or CircuitHalfOpen. An endpoint
// this dispatcher has no gate for (never attempted here, or pruned while
// closed) is closed. Other processes sharing the store keep breakers of
// their own, which may differ.
func (d *Dispatcher) Circuit(endpointID string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.gates[endpointID]
	if g == nil {
		return CircuitClosed
	}
	b := g.breaker
	switch b.state {
	case circuitOpen:
		if d.nowFunc().Before(b.openUntil) {
			return CircuitOpen
		}
		return CircuitHalfOpen // the cool-off is over: the next claim is the probe
	case circuitProbing:
		return CircuitHalfOpen
	}
	return CircuitClosed
}
