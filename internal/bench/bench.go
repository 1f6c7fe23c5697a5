package bench

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Result is what a run measured. Its JSON is what `herald bench --json`
// prints. Figures that could not be measured (the server's memory and CPU
// with --server, the raw limit with --raw-duration 0) are null.
type Result struct {
	EventsPerSec     float64  `json:"eventsPerSec"`     // events accepted per second of the send phase
	DeliveriesPerSec float64  `json:"deliveriesPerSec"` // deliveries received per second, from the first send to the last receipt
	RawPerSec        *float64 `json:"rawPerSec"`        // requests per second of the raw phase
	RatioToRaw       *float64 `json:"ratioToRaw"`       // DeliveriesPerSec / RawPerSec
	P50Ms            float64  `json:"p50Ms"`            // ingest to receipt, see latency
	P99Ms            float64  `json:"p99Ms"`
	MaxMs            float64  `json:"maxMs"`
	Lost             int64    `json:"lost"`             // accepted deliveries not received by the end of the drain
	Duplicates       int64    `json:"duplicates"`       // 2xx answers beyond the first per (endpoint, webhook-id)
	PeakRSSMB        *float64 `json:"peakRssMB"`        // the child's VmHWM, MiB
	CPUSeconds       *float64 `json:"cpuSeconds"`       // the child's user+system CPU time, at the end of the drain
	CPUMsPerDelivery *float64 `json:"cpuMsPerDelivery"` // the child's CPU time from the start of sending to the end of the drain, per delivery
	// HarnessCPUSeconds is the CPU time of the harness itself (producers,
	// receiver, signature checks) over the same span: it shares the machine
	// with the server.
	HarnessCPUSeconds *float64 `json:"harnessCpuSeconds"`

	// With --slow-endpoints: the latency of the other endpoints' deliveries.
	OtherP50Ms *float64 `json:"otherP50Ms,omitempty"`
	OtherP99Ms *float64 `json:"otherP99Ms,omitempty"`

	Sent             int64   `json:"sent"`     // events sent
	Accepted         int64   `json:"accepted"` // answered 202 (or 200)
	Rejected         int64   `json:"rejected"` // answered anything else
	Failed           int64   `json:"failed"`   // in requests that got no answer
	Expected         int64   `json:"expected"` // deliveries the accepted events call for
	Delivered        int64   `json:"delivered"`
	Unexpected       int64   `json:"unexpected"` // received deliveries of events not known to be accepted
	Requests         int64   `json:"requests"`   // requests the receiver got from Herald, retries included
	InjectedFailures int64   `json:"injectedFailures"`
	BadSignatures    int64   `json:"badSignatures"`
	SendSeconds      float64 `json:"sendSeconds"`
	DrainSeconds     float64 `json:"drainSeconds"` // from the end of sending to the last expected receipt (or the drain timeout)
	LastError        string  `json:"lastError,omitempty"`

	Config   Echo     `json:"config"`
	Timeline []Second `json:"timeline"`
}

// Echo is the configuration a result was measured with.
type Echo struct {
	Target        string   `json:"target"` // sqlite, postgres or server
	Tenants       int      `json:"tenants"`
	Endpoints     int      `json:"endpoints"`
	Fanout        int      `json:"fanout"`
	Payload       int      `json:"payload"`
	Rate          float64  `json:"rate"`
	Duration      string   `json:"duration"`
	Concurrency   int      `json:"concurrency"`
	Batch         int      `json:"batch"`
	FailRate      float64  `json:"failRate"`
	SlowEndpoints int      `json:"slowEndpoints"`
	SlowDelay     string   `json:"slowDelay"`
	ServerFlags   []string `json:"serverFlags"`
}

// Second is one second of the run, counted from the start of the send
// phase: events accepted whose request was sent in it, deliveries first
// received in it, and their latency.
type Second struct {
	Second     int     `json:"second"`
	Events     int     `json:"events"`
	Deliveries int     `json:"deliveries"`
	P50Ms      float64 `json:"p50Ms"`
	P99Ms      float64 `json:"p99Ms"`
}

// ErrLost is wrapped by the error Check returns when deliveries were lost.
var ErrLost = errors.New("deliveries lost")

// Check returns an error when the run shows Herald misbehaving: a delivery
// lost, a request whose signature did not verify, or no event accepted.
func (r *Result) Check() error {
	if r.Accepted == 0 {
		return fmt.Errorf("no event was accepted (%d sent; last error: %s)", r.Sent, cmp.Or(r.LastError, "none"))
	}
	if r.Lost > 0 {
		return fmt.Errorf("%w: %d of %d accepted deliveries never arrived within the drain timeout", ErrLost, r.Lost, r.Expected)
	}
	if r.BadSignatures > 0 {
		return fmt.Errorf("%d deliveries failed signature verification", r.BadSignatures)
	}
	return nil
}

// Run measures Herald as cfg says.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &api{base: strings.TrimRight(cfg.Server, "/"), key: cfg.Key, client: &http.Client{
		Transport: &http.Transport{
			MaxIdleConnsPerHost: cfg.Concurrency,
			DisableCompression:  true,
			// A batch (50 events of 1 KiB: 56 KiB) goes out in one write,
			// not in the default buffer's 4 KiB pieces.
			WriteBufferSize: 64 << 10,
		},
		Timeout: cfg.RequestTimeout,
	}}
	defer a.client.CloseIdleConnections()
	var ch *child
	if cfg.Server == "" {
		if ch, err = startChild(ctx, cfg); err != nil {
			return nil, err
		}
		defer func() { err = errors.Join(err, ch.stop()) }()
		a.base, a.key = ch.url, ch.adminKey
	}
	// Started after the child, so closed before it is stopped: requests
	// still held by slow endpoints end, and the child stops at once.
	rc, err := startReceiver(cfg)
	if err != nil {
		return nil, err
	}
	defer rc.close()

	run := strings.ToLower(rand.Text()[:8])
	tenants, secrets, err := setup(ctx, cfg, a, rc, run)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	p := &progress{cfg: cfg, rc: rc}
	stopProgress := p.start()
	defer stopProgress()

	res = &Result{Config: echo(cfg)}
	if cfg.RawDuration > 0 {
		p.phase("raw", nil)
		raw, err := rawPhase(ctx, cfg, rc, secrets)
		if err != nil {
			return nil, err
		}
		res.RawPerSec = &raw
	}
	var stats *procStats
	if ch != nil {
		stats = watch(ch.pid(), cfg.ProgressInterval)
		defer stats.stop()
	}

	self0, selfErr := cpuSeconds(os.Getpid())
	l := newLoad(cfg, a, tenants, run)
	p.phase("send", l)
	events, sendTime, err := l.send(ctx)
	if err != nil {
		return nil, err
	}
	expected := int64(len(events)) * int64(cfg.Fanout)
	p.phase("drain", l)
	drainStart := time.Now()
	if err := drain(ctx, cfg, rc, ch, events, expected); err != nil {
		return nil, err
	}
	drainTime := time.Since(drainStart)
	if self1, err := cpuSeconds(os.Getpid()); err == nil && selfErr == nil {
		used := self1 - self0
		res.HarnessCPUSeconds = &used
	}
	if stats != nil {
		stats.sample()
	}
	stopProgress()

	res.fill(cfg, rc, l, events, sendTime)
	res.DrainSeconds = drainTime.Seconds()
	if stats != nil {
		res.fillProc(stats)
	}
	return res, nil
}

// drainPoll is how often the drain checks whether every delivery arrived.
const drainPoll = 20 * time.Millisecond

// drain waits until every expected delivery has arrived, the drain timeout
// passes, or the child exits.
func drain(ctx context.Context, cfg Config, rc *receiver, ch *child, events []sent, expected int64) error {
	deadline := time.NewTimer(cfg.DrainTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	var exited <-chan struct{}
	if ch != nil {
		exited = ch.exited
	}
	from := 0 // events before it have every delivery
	for {
		// Counting is cheap; the walk is done only when the count says
		// that everything may be there, and resumes where it stopped.
		if rc.delivered.Load() >= expected {
			from = complete(cfg, rc, events, from)
			if from == len(events) {
				return nil
			}
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return nil
		case <-exited:
			return fmt.Errorf("herald serve exited (%v) during the run:\n%s", ch.waitErr, ch.log)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// complete returns the index of the first event, from i on, that is missing
// a delivery, or len(events).
func complete(cfg Config, rc *receiver, events []sent, i int) int {
	for ; i < len(events); i++ {
		for _, g := range cfg.matches(int(events[i].tenant), int(events[i].typ)) {
			if _, ok := rc.arrival(g, events[i].id); !ok {
				return i
			}
		}
	}
	return i
}

func echo(cfg Config) Echo {
	target := "sqlite"
	switch {
	case cfg.Server != "":
		target = "server"
	case cfg.Database != "":
		target = "postgres"
	}
	return Echo{
		Target: target, Tenants: cfg.Tenants, Endpoints: cfg.Endpoints, Fanout: cfg.Fanout,
		Payload: cfg.Payload, Rate: cfg.Rate, Duration: cfg.Duration.String(),
		Concurrency: cfg.Concurrency, Batch: cfg.Batch, FailRate: cfg.FailRate,
		SlowEndpoints: cfg.SlowEndpoints, SlowDelay: cfg.SlowDelay.String(),
		ServerFlags: append([]string{}, cfg.ServerFlags...),
	}
}

// procStats samples the child's peak RSS while the run goes on, and its CPU
// time at the start of sending and on the last sample.
type procStats struct {
	pid      int
	mu       sync.Mutex
	peak     int64
	cpuStart float64
	cpuEnd   float64
	err      error
	done     chan struct{}
	stopped  sync.Once
	wg       sync.WaitGroup
}

func watch(pid int, every time.Duration) *procStats {
	s := &procStats{pid: pid, done: make(chan struct{})}
	s.cpuStart, s.err = cpuSeconds(pid)
	s.sample()
	s.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				s.sample()
			case <-s.done:
				return
			}
		}
	})
	return s
}

func (s *procStats) sample() {
	rss, err := peakRSS(s.pid)
	cpu, cerr := cpuSeconds(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err = errors.Join(err, cerr); err != nil {
		s.err = cmpErr(s.err, err)
		return
	}
	s.peak = max(s.peak, rss)
	s.cpuEnd = cpu
}

func (s *procStats) stop() {
	s.stopped.Do(func() { close(s.done) })
	s.wg.Wait()
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
