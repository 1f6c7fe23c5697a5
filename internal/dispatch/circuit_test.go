package dispatch

import (
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/sender"
	"github.com/heraldhq/herald/internal/sqlitetest"
)

// TestCircuit drives a dispatcher's real breaker through each state on a
// clock of the test's own, and reads it with Circuit at every step.
func TestCircuit(t *testing.T) {
	t.Parallel()
	client, err := sender.New(sender.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	clock := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(dt time.Duration) { mu.Lock(); clock = clock.Add(dt); mu.Unlock() }
	d, err := New(Config{
		Store: sqlitetest.Open(t), Sender: client, Now: now,
		Breaker: BreakerConfig{Window: time.Minute, MinAttempts: 3, FailureRatio: 0.5, CoolOff: 10 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	ep := hook.Endpoint{ID: "ep_circuit"}
	want := func(step, state string) {
		t.Helper()
		if got := d.Circuit(ep.ID); got != state {
			t.Fatalf("%s: Circuit = %q, want %q", step, got, state)
		}
	}
	// record and admit as attempt does, under d.mu.
	record := func(probe, ok bool) {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.gates[ep.ID].breaker.record(now(), probe, ok)
	}
	admit := func() (ok, probe bool) {
		d.mu.Lock()
		defer d.mu.Unlock()
		ok, probe, _ = d.gates[ep.ID].breaker.admit(now())
		return ok, probe
	}

	want("no gate", CircuitClosed)
	if d.Circuit("ep_unknown") != CircuitClosed {
		t.Fatal("an unknown endpoint is not closed")
	}
	g := d.gate(ep, now())
	d.finished(g)
	want("a new gate", CircuitClosed)
	for range 3 {
		record(false, false)
		advance(time.Second)
	}
	want("three failures", CircuitOpen)
	// It opened at the third failure, 2 s in, until 12 s in; it is 3 s in.
	advance(8 * time.Second)
	want("during the cool-off", CircuitOpen)
	advance(time.Second)
	want("the cool-off just over", CircuitHalfOpen)
	if ok, probe := admit(); !ok || !probe {
		t.Fatal("the probe was not admitted")
	}
	want("the probe in flight", CircuitHalfOpen)
	record(true, false)
	want("the probe failed", CircuitOpen)
	advance(19 * time.Second) // the cool-off doubled to 20 s
	want("during the doubled cool-off", CircuitOpen)
	advance(time.Second)
	want("the doubled cool-off over", CircuitHalfOpen)
	if ok, probe := admit(); !ok || !probe {
		t.Fatal("the second probe was not admitted")
	}
	record(true, true)
	want("the probe succeeded", CircuitClosed)

	// A pruned gate reads as closed.
	d.prune(now().Add(time.Hour))
	want("pruned", CircuitClosed)
}
