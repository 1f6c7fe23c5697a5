// Package dispatch delivers webhooks: it claims due deliveries from the
// store under a lease, passes each through its endpoint's gate (in-flight
// cap, rate limit, circuit breaker), signs and sends it with the sender,
// records the attempt and reschedules or ends the delivery.
//
// Delivery is at least once. A delivery is only ever finished by the
// CompleteAttempt of the claim that holds it, after the attempt; a process
// that dies mid-attempt leaves a lease that expires, and the delivery is
// claimed again.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/sender"
)

// Defaults for the zero values of Config.
const (
	DefaultWorkers       = 512
	DefaultPollInterval  = time.Second
	DefaultLeaseMargin   = 10 * time.Second
	DefaultShutdownGrace = 10 * time.Second
	DefaultDisableAfter  = 5 * 24 * time.Hour
	DefaultClaimInterval = 2 * time.Millisecond
)

// Config is what a Dispatcher needs. Store and Sender are required.
type Config struct {
	Store  hook.Store
	Sender *sender.Client
	Logger *slog.Logger // nil discards logs
	// RetrySchedule is the delays before each retry of an endpoint that has
	// no schedule of its own. Nil means hook.DefaultRetrySchedule; an empty
	// non-nil schedule means a single attempt.
	RetrySchedule []time.Duration
	// DisableAfter disables an endpoint whose failure streak is older than
	// this when it fails again. Zero means DefaultDisableAfter; negative
	// never disables.
	DisableAfter time.Duration
	// Workers bounds the attempts this process makes at once, across every
	// endpoint. Default 512: under herald bench's load (100 busy endpoints
	// of MaxInFlight 8), 256 left CPU idle and delivered about a tenth less
	// on both stores (docs/performance.md).
	Workers int
	// PollInterval is how often due retries and expired leases are looked
	// for; new deliveries are claimed through Notify, within ClaimInterval.
	// Default 1 s.
	PollInterval time.Duration
	// ClaimInterval is the least time between a claim and the next.
	// Under load, attempts finish and new deliveries commit many times a
	// millisecond; waiting this long gathers what they free and bring into
	// one claim, so that claims stay few and large rather than many of one
	// delivery each (each claim costs a few hundred microseconds of CPU
	// whatever it takes). A claim asked for after a quiet interval runs at
	// once. Default 2 ms; negative means no wait.
	ClaimInterval time.Duration
	// LeaseMargin is added to an endpoint's timeout to make each claim's
	// lease. Default 10 s.
	LeaseMargin time.Duration
	// ShutdownGrace is how long in-flight attempts may finish once Run's
	// context ends; then they are cut and their deliveries released.
	// Default 10 s.
	ShutdownGrace time.Duration
	// Breaker tunes the circuit breakers.
	Breaker BreakerConfig
	// UserAgent is sent with every request, such as "Herald/1.2.0".
	UserAgent string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Metrics, when not nil, is updated with every attempt.
	Metrics *Metrics
}

// Dispatcher delivers due deliveries until its Run ends.
type Dispatcher struct {
	store         hook.Store
	send          *sender.Client
	log           *slog.Logger
	schedule      []time.Duration
	disableAfter  time.Duration
	workers       int
	poll          time.Duration
	claimGap      time.Duration
	leaseMargin   time.Duration
	grace         time.Duration
	breakerConfig BreakerConfig
	userAgent     string
	nowFunc       func() time.Time
	metrics       *Metrics

	share int           // the most attempts one endpoint may have in flight here
	wake  chan struct{} // new deliveries: claim (within claimGap)
	freed chan struct{} // a worker or an endpoint slot freed: claim within ClaimInterval
	// tookAll is set when the last claim took fewer deliveries than it
	// had workers for: the store had no more it could give then, so a
	// finished attempt frees nothing a claim could use unless its endpoint
	// was at a limit (see finished).
	tookAll  atomic.Bool
	inFlight atomic.Int64
	lastOK   atomic.Int64 // unix nanoseconds of the last claim that worked, or of a turn with no free worker

	mu    sync.Mutex
	gates map[string]*gate // by endpoint id
}

// gate is one endpoint's share of the dispatcher: its rate limiter and its
// circuit breaker. The in-flight cap is kept by the store's claims.
type gate struct {
	limiter     *rate.Limiter // nil when the endpoint has no rate limit
	breaker     *breaker
	inFlight    int       // attempts of this process
	maxInFlight int       // the endpoint's, as of its last claim
	used        time.Time // last claim, for pruning
	// signed is the endpoint's last signer (see signer); read and set
	// without the lock by the attempts.
	signed atomic.Pointer[signed]
}

// New returns a Dispatcher for cfg.
func New(cfg Config) (*Dispatcher, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("dispatch: Config.Store is required")
	case cfg.Sender == nil:
		return nil, errors.New("dispatch: Config.Sender is required")
	case cfg.Workers < 0, cfg.PollInterval < 0, cfg.LeaseMargin < 0, cfg.ShutdownGrace < 0:
		return nil, errors.New("dispatch: Workers, PollInterval, LeaseMargin and ShutdownGrace must not be negative")
	}
	if cfg.RetrySchedule != nil {
		if err := hook.ValidateSchedule(cfg.RetrySchedule); err != nil {
			return nil, fmt.Errorf("dispatch: retry schedule %w", err)
		}
	}
	d := &Dispatcher{
		store:         cfg.Store,
		send:          cfg.Sender,
		log:           cfg.Logger,
		schedule:      cfg.RetrySchedule,
		disableAfter:  cfg.DisableAfter,
		workers:       cfg.Workers,
		poll:          cfg.PollInterval,
		claimGap:      cfg.ClaimInterval,
		leaseMargin:   cfg.LeaseMargin,
		grace:         cfg.ShutdownGrace,
		breakerConfig: cfg.Breaker.withDefaults(),
		userAgent:     cfg.UserAgent,
		nowFunc:       cfg.Now,
		metrics:       cfg.Metrics,
		wake:          make(chan struct{}, 1),
		freed:         make(chan struct{}, 1),
		gates:         make(map[string]*gate),
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.schedule == nil {
		d.schedule = hook.DefaultRetrySchedule
	}
	switch {
	case d.disableAfter == 0:
		d.disableAfter = DefaultDisableAfter
	case d.disableAfter < 0:
		d.disableAfter = 0 // the store's "never"
	}
	if d.workers == 0 {
		d.workers = DefaultWorkers
	}
	if d.poll == 0 {
		d.poll = DefaultPollInterval
	}
	switch {
	case d.claimGap == 0:
		d.claimGap = DefaultClaimInterval
	case d.claimGap < 0:
		d.claimGap = 0
	}
	if d.leaseMargin == 0 {
		d.leaseMargin = DefaultLeaseMargin
	}
	if d.grace == 0 {
		d.grace = DefaultShutdownGrace
	}
	if d.nowFunc == nil {
		d.nowFunc = time.Now
	}
	if d.userAgent == "" {
		d.userAgent = "Herald"
	}
	// However large an endpoint's MaxInFlight, it gets at most a quarter of
	// this process's workers, so that endpoints that hang cannot take them
	// all before their breakers open.
	d.share = max(1, d.workers/4)
	d.lastOK.Store(d.nowFunc().UnixNano())
	return d, nil
}

func (d *Dispatcher) now() time.Time { return hook.Timestamp(d.nowFunc()) }

// Notify wakes the dispatcher to claim new deliveries: at once after a
// quiet ClaimInterval, else when it ends. It never blocks; it fits
// server.Config.Ingested.
func (d *Dispatcher) Notify(r hook.IngestResult) {
	if len(r.Deliveries) > 0 {
		d.poke()
	}
}

// Wake makes the dispatcher look for due deliveries as Notify does, such as
// when another process sharing the database has ingested some. It never
// blocks.
func (d *Dispatcher) Wake() { d.poke() }

func (d *Dispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Healthy returns an error when the dispatcher has not claimed (or found
// every worker busy) for longer than three poll intervals (at least a
// second): it is stuck, not running, or its claims fail.
func (d *Dispatcher) Healthy() error {
	last := time.Unix(0, d.lastOK.Load())
	if since := d.nowFunc().Sub(last); since > max(3*d.poll, time.Second) {
		return fmt.Errorf("the dispatcher has not claimed deliveries for %s", since.Round(time.Millisecond))
	}
	return nil
}

// Run claims and delivers until ctx ends. Then it stops claiming, lets
// in-flight attempts finish for up to the shutdown grace, cuts the rest and
// releases their deliveries, and returns nil.
func (d *Dispatcher) Run(ctx context.Context) error {
	// Attempts run under their own context, which outlives ctx by the grace.
	attemptCtx, cut := context.WithCancel(context.WithoutCancel(ctx))
	defer cut()
	var wg sync.WaitGroup
	ticker := time.NewTicker(d.poll)
	defer ticker.Stop()
	lastPrune := d.nowFunc()

	var lastClaim time.Time // monotonic, whatever Now says
	for ctx.Err() == nil {
		d.claim(ctx, attemptCtx, &wg)
		lastClaim = time.Now()
		if now := d.nowFunc(); now.Sub(lastPrune) > time.Minute {
			d.prune(now.Add(-10 * time.Minute))
			lastPrune = now
		}
		select {
		case <-ctx.Done():
		case <-d.wake:
		case <-ticker.C:
		case <-d.freed:
		}
		// Under load, attempts finish and ingests commit many times a
		// millisecond; the claim waits out the rest of the interval so
		// that it takes all the deliveries and free workers of that time
		// at once. After a quiet interval it runs at once.
		if wait := d.claimGap - time.Since(lastClaim); wait > 0 && ctx.Err() == nil {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
		// The claim takes what the wakes and freed slots of the wait were
		// for (their deliveries committed, their slots freed, before they
		// were sent), so they are spent: left, each would cost one more
		// claim, finding nothing, an interval later.
		select {
		case <-d.wake:
		default:
		}
		select {
		case <-d.freed:
		default:
		}
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	timer := time.NewTimer(d.grace)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		d.log.Info("shutdown grace over; cutting in-flight attempts", "inFlight", d.inFlight.Load())
		cut()
		<-done
	}
	return nil
}

// claim claims what the free workers can take and starts an attempt for
// each. Whatever is left due waits for the next: workers that finish ask
// for it (freed).
func (d *Dispatcher) claim(ctx, attemptCtx context.Context, wg *sync.WaitGroup) {
	free := d.workers - int(d.inFlight.Load())
	if free <= 0 {
		d.tookAll.Store(false)
		d.lastOK.Store(d.nowFunc().UnixNano()) // busy, not stuck
		return                                 // a finishing attempt pokes the loop
	}
	now := d.now()
	// A claim that commits must reach its attempts, so it is not cut by a
	// shutdown; the leases it takes would otherwise wait to expire.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	claims, err := d.store.ClaimDeliveries(cctx, hook.ClaimParams{
		Now:            now,
		Limit:          free,
		LeaseMargin:    d.leaseMargin,
		MaxPerEndpoint: d.share,
		EndpointLimits: d.limits(now),
	})
	if err != nil {
		d.log.Error("claim deliveries", "err", err)
		return
	}
	d.lastOK.Store(d.nowFunc().UnixNano())
	d.tookAll.Store(len(claims) < free)
	bodies := make(map[string][]byte)
	for _, c := range claims {
		body, ok := bodies[c.Event.ID]
		if !ok {
			body = envelope(c.Event)
			bodies[c.Event.ID] = body
		}
		g := d.gate(c.Endpoint, now)
		d.inFlight.Add(1)
		d.metrics.inFlight(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer d.finished(g)
			d.attempt(attemptCtx, c, g, body)
		}()
	}
}

func (d *Dispatcher) finished(g *gate) {
	d.mu.Lock()
	// An endpoint at its MaxInFlight or its share of the workers, behind
	// a breaker that is not closed, or rate limited, may have deliveries
	// that the last claim left for want of room: its freed slot is worth a
	// claim. Otherwise it is only if the last claim was short of workers.
	// (Under load most claims after a finished attempt found nothing: at
	// 2,000 deliveries/s four in five.) Whatever is left is found by the
	// next ingest's wake or the poll.
	atLimit := g.inFlight >= min(g.maxInFlight, d.share) || g.limiter != nil || g.breaker.state != circuitClosed
	g.inFlight--
	d.mu.Unlock()
	d.inFlight.Add(-1)
	d.metrics.inFlight(-1)
	if !atLimit && d.tookAll.Load() {
		return
	}
	select { // a worker and an endpoint slot are free
	case d.freed <- struct{}{}:
	default:
	}
}

// limits returns the claim limits of endpoints whose breaker is not closed
// and of those using part of their share of the workers.
func (d *Dispatcher) limits(now time.Time) map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	var m map[string]int
	open := 0
	for id, g := range d.gates {
		n := g.breaker.limit(now)
		if n >= 0 {
			open++
		}
		if g.inFlight > 0 && (n < 0 || d.share-g.inFlight < n) {
			n = max(0, d.share-g.inFlight)
		}
		if n >= 0 {
			if m == nil {
				m = make(map[string]int)
			}
			m[id] = n
		}
	}
	d.metrics.openCircuits(open)
	return m
}

// gate returns the endpoint's gate for a new attempt, counted in its
// inFlight, with its rate limiter set to the endpoint's current limit.
func (d *Dispatcher) gate(ep hook.Endpoint, now time.Time) *gate {
	d.mu.Lock()
	defer d.mu.Unlock()
	now = d.nowFunc() // under the lock: the limiter's clock must not go back
	g := d.gates[ep.ID]
	if g == nil {
		g = &gate{breaker: newBreaker(d.breakerConfig)}
		d.gates[ep.ID] = g
	}
	g.used = now
	g.inFlight++
	g.maxInFlight = ep.MaxInFlight
	switch {
	case ep.RateLimit <= 0:
		g.limiter = nil
	case g.limiter == nil:
		g.limiter = rate.NewLimiter(rate.Limit(ep.RateLimit), 1)
	case g.limiter.Limit() != rate.Limit(ep.RateLimit):
		g.limiter.SetLimitAt(now, rate.Limit(ep.RateLimit))
	}
	return g
}

// prune forgets gates unused since before and whose breaker is closed.
func (d *Dispatcher) prune(before time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, g := range d.gates {
		if g.used.Before(before) && g.breaker.state == circuitClosed && g.inFlight == 0 {
			delete(d.gates, id)
		}
	}
}

// jitter returns a uniform number in [0, 1) for hook.RetryDelay.
func jitter() float64 { return rand.Float64() }
