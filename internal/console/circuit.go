package console

import "github.com/heraldhq/herald/internal/hook"

// circuitView is an endpoint's circuit state as the pages show it: by
// colour (Class, one of the stylesheet's s- classes) and by word.
type circuitView struct {
	Class, Text, Title string
}

// circuit returns the endpoint's circuit state in this process's
// dispatcher, or that it is not known here (Config.Circuit is nil).
func (c *Console) circuit(endpointID string) circuitView {
	if c.cfg.Circuit == nil {
		return circuitView{"canceled", "circuit: not known in this process (no dispatcher)",
			"This process runs no dispatcher (--role api); the nodes that deliver keep the circuit breakers."}
	}
	switch s := c.cfg.Circuit(endpointID); s {
	case "closed":
		return circuitView{"healthy", "circuit closed", "Deliveries go as usual."}
	case "open":
		return circuitView{"failed", "circuit open", "Too many attempts failed: deliveries wait until the cool-off ends, without using attempts."}
	case "half-open":
		return circuitView{"failing", "circuit half-open", "The cool-off is over: one probe delivery may go, or is in flight; its outcome closes or reopens the circuit."}
	default:
		return circuitView{"canceled", "circuit " + s, ""}
	}
}

// circuits returns the circuit state of each endpoint, by id.
func (c *Console) circuits(eps []hook.Endpoint) map[string]circuitView {
	m := make(map[string]circuitView, len(eps))
	for _, e := range eps {
		m[e.ID] = c.circuit(e.ID)
	}
	return m
}
