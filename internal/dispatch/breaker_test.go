package dispatch

import (
	"testing"
	"time"
)

func TestBreaker(t *testing.T) {
	t.Parallel()
	cfg := BreakerConfig{Window: time.Minute, MinAttempts: 4, FailureRatio: 0.5, CoolOff: 10 * time.Second, MaxCoolOff: 30 * time.Second}
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	t.Run("a lone delivery's retries do not open it", func(t *testing.T) {
		t.Parallel()
		b := newBreaker(cfg)
		for i := range 3 {
			b.record(at(time.Duration(i)*time.Second), false, false)
		}
		if got := b.limit(at(3 * time.Second)); got != -1 {
			t.Fatalf("limit after 3 failures = %d, want -1 (closed)", got)
		}
	})

	t.Run("failures spread beyond the window do not open it", func(t *testing.T) {
		t.Parallel()
		b := newBreaker(cfg)
		for i := range 10 {
			b.record(at(time.Duration(i)*45*time.Second), false, false)
		}
		if b.state != circuitClosed {
			t.Fatalf("state = %s, want closed", b.state)
		}
	})

	t.Run("mostly successes keep it closed", func(t *testing.T) {
		t.Parallel()
		b := newBreaker(cfg)
		for i := range 4 {
			b.record(at(time.Duration(i)*time.Second), false, i%3 == 2) // fail, fail, succeed, fail
		}
		if b.state != circuitOpen {
			t.Fatalf("state = %s after three of four failed, want open", b.state)
		}
		b = newBreaker(cfg)
		for i := range 20 {
			b.record(at(time.Duration(i)*time.Second), false, i%3 != 0) // a third fail
		}
		if b.state != circuitClosed {
			t.Fatalf("state = %s after a third failed, want closed", b.state)
		}
	})

	t.Run("open, probe, cool-off grows, success closes", func(t *testing.T) {
		t.Parallel()
		b := newBreaker(cfg)
		for i := range 4 {
			b.record(at(time.Duration(i)*time.Second), false, false)
		}
		if got := b.limit(at(4 * time.Second)); got != 0 {
			t.Fatalf("limit when just opened = %d, want 0", got)
		}
		if ok, _, retryAt := b.admit(at(4 * time.Second)); ok || !retryAt.Equal(at(13*time.Second)) {
			t.Fatalf("admit while open = %v, %s; want false, %s", ok, retryAt, at(13*time.Second))
		}
		// Cool-off over: one probe.
		if got := b.limit(at(13 * time.Second)); got != 1 {
			t.Fatalf("limit after cool-off = %d, want 1", got)
		}
		if ok, probe, _ := b.admit(at(13 * time.Second)); !ok || !probe {
			t.Fatal("probe not admitted as the probe")
		}
		if ok, _, _ := b.admit(at(13 * time.Second)); ok {
			t.Fatal("second attempt admitted while the probe is in flight")
		}
		// Attempts admitted before it opened neither end the probe by
		// giving up nor decide by failing.
		b.abandon(false)
		b.record(at(13*time.Second), false, false)
		if b.state != circuitProbing {
			t.Fatalf("state = %s after another attempt gave up and failed, want half-open", b.state)
		}
		if got := b.limit(at(13 * time.Second)); got != 0 {
			t.Fatalf("limit while probing = %d, want 0", got)
		}
		// The probe fails: open for twice as long.
		b.record(at(14*time.Second), true, false)
		if ok, _, retryAt := b.admit(at(14 * time.Second)); ok || !retryAt.Equal(at(34*time.Second)) {
			t.Fatalf("admit after failed probe = %v, %s; want false, %s", ok, retryAt, at(34*time.Second))
		}
		// Another failed probe: capped at MaxCoolOff.
		b.admit(at(34 * time.Second))
		b.record(at(35*time.Second), true, false)
		if !b.openUntil.Equal(at(65 * time.Second)) {
			t.Fatalf("openUntil = %s, want %s (capped)", b.openUntil, at(65*time.Second))
		}
		// An abandoned probe lets another go.
		b.admit(at(65 * time.Second))
		b.abandon(true)
		if got := b.limit(at(65 * time.Second)); got != 1 {
			t.Fatalf("limit after abandoned probe = %d, want 1", got)
		}
		b.admit(at(66 * time.Second))
		b.record(at(66*time.Second), true, true)
		if b.state != circuitClosed || b.limit(at(66*time.Second)) != -1 {
			t.Fatalf("state = %s after a successful probe, want closed", b.state)
		}
		// Closed afresh: the old failures do not count.
		for i := range 3 {
			b.record(at(67*time.Second+time.Duration(i)), false, false)
		}
		if b.state != circuitClosed {
			t.Fatalf("state = %s after 3 new failures, want closed", b.state)
		}
	})

	t.Run("a late success while open closes it", func(t *testing.T) {
		t.Parallel()
		b := newBreaker(cfg)
		for i := range 4 {
			b.record(at(time.Duration(i)), false, false)
		}
		b.record(at(time.Second), false, true)
		if b.state != circuitClosed {
			t.Fatalf("state = %s, want closed", b.state)
		}
	})
}
