package dispatch

import (
	"time"
)

// BreakerConfig tunes the per-endpoint circuit breaker. It opens when, over
// the last Window, at least MinAttempts attempts were made and at least
// FailureRatio of them failed. The minimum keeps a lone delivery's retries on
// their schedule: they are too few to open it. While open, the endpoint's
// deliveries wait without using attempts; after CoolOff one probe goes
// through; a success closes the breaker, a failure opens it again for twice
// the previous cool-off, up to MaxCoolOff.
type BreakerConfig struct {
	Window       time.Duration // default 1 minute
	MinAttempts  int           // default 20
	FailureRatio float64       // default 0.5
	CoolOff      time.Duration // default 5 s
	MaxCoolOff   time.Duration // default 5 minutes
}

func (c BreakerConfig) withDefaults() BreakerConfig {
	if c.Window <= 0 {
		c.Window = time.Minute
	}
	if c.MinAttempts <= 0 {
		c.MinAttempts = 20
	}
	if c.FailureRatio <= 0 || c.FailureRatio > 1 {
		c.FailureRatio = 0.5
	}
	if c.CoolOff <= 0 {
		c.CoolOff = 5 * time.Second
	}
	if c.MaxCoolOff < c.CoolOff {
		c.MaxCoolOff = max(c.CoolOff, 5*time.Minute)
	}
	return c
}

type circuitState int

const (
	circuitClosed  circuitState = iota
	circuitOpen                 // until openUntil, then one probe
	circuitProbing              // the probe is in flight
)

func (s circuitState) String() string {
	switch s {
	case circuitOpen:
		return "open"
	case circuitProbing:
		return "half-open"
	}
	return "closed"
}

// result is one attempt's outcome at a time.
type result struct {
	at time.Time
	ok bool
}

// breaker is one endpoint's circuit. It is not safe for concurrent use; the
// dispatcher guards it. Times are passed in, so tests drive it directly.
type breaker struct {
	cfg       BreakerConfig
	state     circuitState
	recent    []result // within cfg.Window, oldest first
	failures  int      // failures in recent
	openUntil time.Time
	coolOff   time.Duration // of the current or last opening
}

func newBreaker(cfg BreakerConfig) *breaker {
	return &breaker{cfg: cfg}
}

// limit is how many new claims the endpoint may get at now: -1 for no limit
// from the breaker, 0 while it is open or probing, 1 when a probe may go.
func (b *breaker) limit(now time.Time) int {
	switch {
	case b.state == circuitClosed:
		return -1
	case b.state == circuitOpen && !now.Before(b.openUntil):
		return 1
	}
	return 0
}

// admit reports whether a claimed delivery may be attempted at now; when the
// breaker is open and its cool-off is over, the attempt becomes the probe
// (probe is true). When not admitted, the delivery should wait until
// retryAt.
func (b *breaker) admit(now time.Time) (ok, probe bool, retryAt time.Time) {
	switch b.state {
	case circuitClosed:
		return true, false, time.Time{}
	case circuitOpen:
		if !now.Before(b.openUntil) {
			b.state = circuitProbing
			return true, true, time.Time{}
		}
		return false, false, b.openUntil
	}
	// A probe is in flight; its outcome decides. Look again after a
	// cool-off's worth of time at the latest.
	return false, false, now.Add(b.coolOff)
}

// abandon undoes admit for an attempt that was not made (a rate-limit wait
// or a shutdown). When it was the probe, another probe may go.
func (b *breaker) abandon(probe bool) {
	if probe && b.state == circuitProbing {
		b.state = circuitOpen
	}
}

// record takes the outcome of an admitted attempt, the probe or not.
func (b *breaker) record(now time.Time, probe, ok bool) {
	switch {
	case probe && b.state == circuitProbing:
		if ok {
			b.close()
		} else {
			b.open(now, min(2*b.coolOff, b.cfg.MaxCoolOff))
		}
		return
	case b.state != circuitClosed:
		// An attempt admitted before the breaker opened. A success means
		// the endpoint is back; a failure adds nothing: only the probe
		// decides while the circuit is not closed.
		if ok {
			b.close()
		}
		return
	}
	b.recent = append(b.recent, result{now, ok})
	if !ok {
		b.failures++
	}
	b.trim(now)
	n := len(b.recent)
	if n >= b.cfg.MinAttempts && float64(b.failures) >= b.cfg.FailureRatio*float64(n) {
		b.open(now, b.cfg.CoolOff)
	}
}

// trim drops results older than the window, and the oldest beyond a bound
// that keeps memory small under heavy traffic.
func (b *breaker) trim(now time.Time) {
	limit := max(4*b.cfg.MinAttempts, 100)
	cut := 0
	for cut < len(b.recent) && (now.Sub(b.recent[cut].at) > b.cfg.Window || len(b.recent)-cut > limit) {
		if !b.recent[cut].ok {
			b.failures--
		}
		cut++
	}
	if cut > 0 {
		b.recent = append(b.recent[:0], b.recent[cut:]...)
	}
}

func (b *breaker) open(now time.Time, coolOff time.Duration) {
	b.state = circuitOpen
	b.coolOff = coolOff
	b.openUntil = now.Add(coolOff)
	b.recent = b.recent[:0]
	b.failures = 0
}

func (b *breaker) close() {
	b.state = circuitClosed
	b.coolOff = 0
	b.recent = b.recent[:0]
	b.failures = 0
}
