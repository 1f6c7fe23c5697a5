package dispatch_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/dispatch"
	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/sender"
)

// TestIsolation: one endpoint hangs with a backlog far larger than its cap;
// another endpoint's deliveries, sent after that backlog, all complete while
// the hanging endpoint holds no more than its in-flight cap.
func TestIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *dispatch.Config, _ *sender.Config) { c.Workers = 16 })
	released := make(chan struct{})
	var hung, hungMax atomic.Int32
	slow := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		n := hung.Add(1)
		for {
			m := hungMax.Load()
			if n <= m || hungMax.CompareAndSwap(m, n) {
				break
			}
		}
		defer hung.Add(-1)
		select {
		case <-released:
		case <-r.Context().Done():
		}
	})
	fast := newReceiver(t, nil)
	t.Cleanup(func() { close(released) })
	// The longest timeout there is: however loaded the machine, the hanging
	// attempts do not time out (and get retried) during the test.
	e.endpoint(slow.url(), func(ep *hook.Endpoint) {
		ep.Events = []string{"slow.*"}
		ep.MaxInFlight = 4
		ep.Timeout = hook.MaxTimeout
	})
	e.endpoint(fast.url(), func(ep *hook.Endpoint) { ep.Events = []string{"fast.*"} })

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 125 {
				e.send("slow.work")
			}
		}()
	}
	wg.Wait()
	// The slow endpoint fills its cap.
	for range 4 {
		select {
		case <-slow.arrivals:
		case <-time.After(waitFor):
			t.Fatal("the slow endpoint never got its first requests")
		}
	}
	var fastIDs []string
	for range 50 {
		fastIDs = append(fastIDs, e.sendOne("fast.work").ID)
	}
	for _, id := range fastIDs {
		e.waitStatus(id, hook.DeliverySucceeded)
	}
	if got := len(slow.requests()); got != 4 {
		t.Errorf("the slow endpoint got %d requests while hanging, want its cap of 4", got)
	}
	if m := hungMax.Load(); m > 4 {
		t.Errorf("the slow endpoint had %d requests in flight, above its cap of 4", m)
	}
	st, err := e.store.QueueStats(context.Background(), hook.Timestamp(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if st.Leased != 4 || st.Pending != 1000 {
		t.Errorf("queue = %+v; want 1000 pending, 4 of them leased", st)
	}
}

// TestBreakerOpens: after enough failures the circuit opens, and the
// remaining deliveries wait without using attempts until the cool-off is
// over; then one probe goes, succeeds and closes it, and everything is
// delivered.
func TestBreakerOpens(t *testing.T) {
	t.Parallel()
	const coolOff = 300 * time.Millisecond
	e := newEnv(t, func(c *dispatch.Config, _ *sender.Config) {
		c.Breaker = dispatch.BreakerConfig{Window: time.Minute, MinAttempts: 5, FailureRatio: 0.5, CoolOff: coolOff}
		// Long enough that the five failures fall on five deliveries, however
		// slowly the twenty are ingested.
		c.RetrySchedule = []time.Duration{500 * time.Millisecond, 500 * time.Millisecond}
	})
	var n atomic.Int32
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 5 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	e.endpoint(rcv.url(), func(ep *hook.Endpoint) { ep.MaxInFlight = 1 })
	var ids []string
	for range 20 {
		ids = append(ids, e.sendOne("payout.paid").ID)
	}
	for _, id := range ids {
		e.waitStatus(id, hook.DeliverySucceeded)
	}
	attempts := 0
	for _, id := range ids {
		attempts += len(e.attempts(id))
	}
	if attempts != 25 {
		t.Errorf("%d attempts in all, want 25: 5 failures, then one success each", attempts)
	}
	// The sixth request, the probe, waited for the cool-off after the fifth
	// failure; without the breaker it would have followed at once.
	reqs := rcv.requests()
	if gap := reqs[5].at.Sub(reqs[4].at); gap < coolOff {
		t.Errorf("the probe came %s after the fifth failure, before the %s cool-off", gap, coolOff)
	}
}

// TestRateLimit: an endpoint limited to 20 requests a second gets ten
// spread over at least nine intervals, where without the limit they would
// arrive together.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *dispatch.Config, _ *sender.Config) { c.LeaseMargin = 10 * time.Second })
	rcv := newReceiver(t, nil)
	e.endpoint(rcv.url(), func(ep *hook.Endpoint) { ep.RateLimit = 20 })
	var ids []string
	for range 10 {
		ids = append(ids, e.sendOne("payout.paid").ID)
	}
	for _, id := range ids {
		e.waitStatus(id, hook.DeliverySucceeded)
	}
	// Sends are spaced by the limiter; arrivals may bunch (a new
	// connection delays one), so only the whole span is checked: nine
	// intervals of 50ms, less the first request's own delay.
	reqs := rcv.requests()
	if span := reqs[len(reqs)-1].at.Sub(reqs[0].at); span < 350*time.Millisecond {
		t.Errorf("ten requests came within %s; the limit spreads them over 450ms", span)
	}
}

// TestShutdown: when Run's context ends, an attempt in flight past the
// grace is cut and its delivery released without using an attempt; Run
// returns nil.
func TestShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *dispatch.Config, _ *sender.Config) { c.ShutdownGrace = 50 * time.Millisecond })
	released := make(chan struct{})
	t.Cleanup(func() { close(released) })
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-released:
		case <-r.Context().Done():
		}
	})
	e.endpoint(rcv.url(), func(ep *hook.Endpoint) { ep.Timeout = 10 * time.Second })
	dl := e.sendOne("payout.paid")
	select {
	case <-rcv.arrivals:
	case <-time.After(waitFor):
		t.Fatal("the attempt never arrived")
	}
	if err := e.stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	got, err := e.store.Delivery(context.Background(), dl.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != hook.DeliveryPending || got.AttemptCount != 0 {
		t.Errorf("delivery %s after %d attempts; want pending, none used", got.Status, got.AttemptCount)
	}
	st, err := e.store.QueueStats(context.Background(), hook.Timestamp(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if st.Leased != 0 || st.Due != 1 {
		t.Errorf("queue = %+v; want the delivery due again and not leased", st)
	}
}

// TestShutdownFinishes: an attempt that ends within the grace is recorded.
func TestShutdownFinishes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *dispatch.Config, _ *sender.Config) { c.ShutdownGrace = 10 * time.Second })
	proceed := make(chan struct{})
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { <-proceed })
	e.endpoint(rcv.url())
	dl := e.sendOne("payout.paid")
	<-rcv.arrivals
	stopped := make(chan error, 1)
	go func() { stopped <- e.stop() }()
	// Run does not return while the attempt is in flight.
	select {
	case err := <-stopped:
		t.Fatalf("Run returned %v with an attempt in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(proceed)
	if err := <-stopped; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	got, err := e.store.Delivery(context.Background(), dl.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != hook.DeliverySucceeded {
		t.Errorf("delivery %s, want succeeded", got.Status)
	}
}

// TestHealthy: the dispatcher reports itself unhealthy once its claims have
// failed for a few poll intervals, here because the database is closed.
func TestHealthy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.d.Healthy(); err != nil {
		t.Fatalf("Healthy on start: %v", err)
	}
	e.store.Close()
	deadline := time.Now().Add(waitFor)
	for e.d.Healthy() == nil {
		if time.Now().After(deadline) {
			t.Fatal("still healthy with every claim failing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("unhealthy: %v", e.d.Healthy())
}

// TestFreedSlotClaimsNext: an endpoint at its MaxInFlight gets its next
// delivery as soon as an attempt finishes, with no poll and no new event
// to wake the dispatcher: a finished attempt at the endpoint's limit is
// worth a claim even when the last claim found nothing more to take.
func TestFreedSlotClaimsNext(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *dispatch.Config, _ *sender.Config) { c.PollInterval = time.Hour })
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { time.Sleep(20 * time.Millisecond) })
	e.endpoint(rcv.url(), func(ep *hook.Endpoint) { ep.MaxInFlight = 1 })
	var ids []string
	for range 5 {
		ids = append(ids, e.sendOne("payout.paid").ID)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, id := range ids {
		for {
			d, err := e.store.Delivery(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if d.Status == hook.DeliverySucceeded {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("delivery %s still %s after 5s: a freed slot did not lead to a claim", id, d.Status)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// countingStore counts claims.
type countingStore struct {
	hook.Store
	claims atomic.Int32
}

func (s *countingStore) ClaimDeliveries(ctx context.Context, p hook.ClaimParams) ([]hook.Claim, error) {
	s.claims.Add(1)
	return s.Store.ClaimDeliveries(ctx, p)
}

// TestClaimIntervalGathersNewDeliveries: deliveries ingested one after
// another within ClaimInterval of the last claim are claimed together when
// it ends, not one claim each (each claim costs a few hundred microseconds
// of CPU whatever it takes), and that one claim is all they cost: the
// wakes that came during the wait were for deliveries it took, and a claim
// one interval later, for them, would find nothing.
func TestClaimIntervalGathersNewDeliveries(t *testing.T) {
	t.Parallel()
	var cs *countingStore
	e := newEnv(t, func(c *dispatch.Config, _ *sender.Config) {
		cs = &countingStore{Store: c.Store}
		c.Store = cs
		c.PollInterval = time.Hour
		c.ClaimInterval = time.Second
	})
	rcv := newReceiver(t, nil)
	e.endpoint(rcv.url())
	time.Sleep(1100 * time.Millisecond) // a quiet interval: the next claim runs at once
	e.waitStatus(e.sendOne("payout.paid").ID, hook.DeliverySucceeded)
	before := cs.claims.Load()
	var ids []string
	for range 5 {
		ids = append(ids, e.sendOne("payout.paid").ID)
	}
	for _, id := range ids {
		e.waitStatus(id, hook.DeliverySucceeded)
	}
	time.Sleep(1500 * time.Millisecond) // room for a claim the burst still asks for
	if n := cs.claims.Load() - before; n != 1 {
		t.Errorf("5 deliveries ingested within the claim interval took %d claims, want 1", n)
	}
}
