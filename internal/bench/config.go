// Package bench is the harness behind `herald bench`: it starts a Herald
// server as a child process (or targets a running one), registers tenants
// and endpoints that point at a verifying receiver of its own, sends events
// at a given rate, waits for every delivery, and reports throughput,
// ingest-to-receipt latency, lost and duplicate deliveries, and the server's
// peak memory and CPU time. Before Herald is measured, the same receiver is
// driven by a plain Go HTTP client, so that every figure comes with the
// limit of the machine it was measured on.
package bench

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Config is everything a run is told. Zero values take the defaults of
// Defaults where a zero would make no sense (see withDefaults).
type Config struct {
	// Server is the base URL of a running Herald to measure; empty starts
	// a child process of Binary instead.
	Server string
	// Key is an admin API key of Server (tenants are created with it).
	Key string
	// Binary is the herald executable the child runs as `Binary serve`.
	Binary string
	// Database is the child's database: empty for a SQLite file in a
	// temporary directory, or a postgres:// URL of a server on which a fresh
	// database is created for the run and dropped after it.
	Database string
	// ServerFlags are passed to the child's `serve` after the harness's own
	// flags, such as "--workers=512".
	ServerFlags []string
	// ReadyTimeout bounds the wait for the child's /readyz.
	ReadyTimeout time.Duration
	// StopTimeout is how long the child may take to stop after SIGTERM
	// before it is killed.
	StopTimeout time.Duration

	Tenants   int // tenants registered
	Endpoints int // endpoints per tenant
	Fanout    int // endpoints each event matches (1 to Endpoints)
	Payload   int // bytes of each event's data (a JSON object)

	Rate        float64       // events per second across producers; 0: as fast as they can
	Duration    time.Duration // of the send phase
	Concurrency int           // producers (and raw-phase clients)
	Batch       int           // events per request; 1 posts to /v1/events, more to /v1/events/batch

	FailRate      float64         // fraction of deliveries the receiver answers 500
	SlowEndpoints int             // endpoints that answer after SlowDelay
	SlowDelay     time.Duration   // how long a slow endpoint holds each request
	RetrySchedule []time.Duration // each endpoint's retry schedule
	MaxInFlight   int             // each endpoint's maxInFlight; 0: the server's default

	RawDuration    time.Duration // of the raw-limit phase; 0 skips it
	DrainTimeout   time.Duration // how long after the send phase deliveries may still arrive
	RequestTimeout time.Duration // of each API request the harness makes

	// Progress, when not nil, gets a progress line every ProgressInterval;
	// with Redraw the line is redrawn in place with \r (for a terminal).
	Progress         io.Writer
	ProgressInterval time.Duration
	Redraw           bool
}

// Defaults is the configuration `herald bench` starts from.
var Defaults = Config{
	ReadyTimeout:     60 * time.Second,
	StopTimeout:      30 * time.Second,
	Tenants:          10,
	Endpoints:        10,
	Fanout:           1,
	Payload:          1024,
	Duration:         10 * time.Second,
	Concurrency:      16,
	Batch:            50,
	SlowDelay:        2 * time.Second,
	RetrySchedule:    []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, time.Second, 2 * time.Second, 2 * time.Second, 5 * time.Second, 5 * time.Second},
	RawDuration:      3 * time.Second,
	DrainTimeout:     60 * time.Second,
	RequestTimeout:   30 * time.Second,
	ProgressInterval: time.Second,
}

// Limits of the configuration, so that a typo cannot ask for a million
// endpoints or a batch the API refuses.
const (
	maxEndpointsTotal = 10000
	maxBatch          = 500
	maxPayload        = 1 << 20
	maxConcurrency    = 4096
	maxSlowDelay      = 25 * time.Second
)

// Validate checks c and returns an error naming the first bad setting by
// its `herald bench` flag.
func (c Config) Validate() error {
	bad := func(flag, format string, a ...any) error {
		return fmt.Errorf("invalid --%s: %s", flag, fmt.Sprintf(format, a...))
	}
	switch {
	case c.Server != "" && !strings.HasPrefix(c.Server, "http://") && !strings.HasPrefix(c.Server, "https://"):
		return bad("server", "%q is not an http:// or https:// URL", c.Server)
	case c.Server != "" && c.Key == "":
		return errors.New("--server needs --key, an admin API key of that server")
	case c.Server != "" && (c.Database != "" || len(c.ServerFlags) > 0):
		return errors.New("--database and --server-flag configure the child server; they cannot be used with --server")
	case c.Server == "" && c.Binary == "":
		return errors.New("no herald binary to start (--server-binary)")
	case c.Database != "" && !isPostgres(c.Database):
		return bad("database", "want a postgres:// URL (the default is a SQLite file in a temporary directory)")
	case c.Tenants < 1 || c.Endpoints < 1 || c.Tenants*c.Endpoints > maxEndpointsTotal:
		return bad("tenants", "--tenants and --endpoints must be at least 1, and their product at most %d", maxEndpointsTotal)
	case c.Fanout < 1 || c.Fanout > c.Endpoints:
		return bad("fanout", "must be from 1 to --endpoints (%d)", c.Endpoints)
	case c.Payload < 0 || c.Payload > maxPayload:
		return bad("payload", "must be from 0 to %d bytes", maxPayload)
	case c.Rate < 0 || c.Rate > 1e7:
		return bad("rate", "must be from 0 (as fast as possible) to 10000000 events/s")
	case c.Duration <= 0:
		return bad("duration", "must be positive")
	case c.Concurrency < 1 || c.Concurrency > maxConcurrency:
		return bad("concurrency", "must be from 1 to %d", maxConcurrency)
	case c.Batch < 1 || c.Batch > maxBatch:
		return bad("batch", "must be from 1 to %d", maxBatch)
	case !(c.FailRate >= 0 && c.FailRate <= 0.9):
		return bad("fail-rate", "must be from 0 to 0.9")
	case c.SlowEndpoints < 0 || c.SlowEndpoints >= c.Tenants*c.Endpoints:
		return bad("slow-endpoints", "must be from 0 to one less than all endpoints (%d)", c.Tenants*c.Endpoints)
	case c.SlowDelay < 0 || c.SlowDelay > maxSlowDelay:
		return bad("slow-delay", "must be from 0 to %s (an endpoint's timeout is at most 30s)", maxSlowDelay)
	case len(c.RetrySchedule) == 0:
		return bad("retry-schedule", "needs at least one delay")
	case c.MaxInFlight < 0 || c.MaxInFlight > 1000:
		return bad("max-in-flight", "must be from 1 to 1000, or 0 for the server's default")
	case c.RawDuration < 0:
		return bad("raw-duration", "must not be negative (0 skips the raw phase)")
	case c.DrainTimeout <= 0:
		return bad("drain-timeout", "must be positive")
	case c.RequestTimeout <= 0:
		return bad("request-timeout", "must be positive")
	case c.ReadyTimeout <= 0:
		return bad("ready-timeout", "must be positive")
	case c.StopTimeout <= 0:
		return bad("stop-timeout", "must be positive")
	case c.ProgressInterval <= 0:
		return bad("progress-interval", "must be positive")
	}
	for _, d := range c.RetrySchedule {
		if d <= 0 {
			return bad("retry-schedule", "each delay must be positive")
		}
	}
	return nil
}

func isPostgres(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// totalEndpoints is how many endpoints the run registers.
func (c Config) totalEndpoints() int { return c.Tenants * c.Endpoints }

// matches returns the global indexes of the endpoints an event of tenant t
// and type number k is delivered to. Endpoint j of a tenant subscribes to
// the types j, j-1, …, j-Fanout+1 (mod Endpoints), so the type k matches
// the endpoints k, k+1, …, k+Fanout-1 (mod Endpoints): exactly Fanout of
// them, and every endpoint gets the same share of the load.
func (c Config) matches(t, k int) []int {
	out := make([]int, c.Fanout)
	for i := range c.Fanout {
		out[i] = t*c.Endpoints + (k+i)%c.Endpoints
	}
	return out
}

// subscriptions returns the event types endpoint j of a tenant subscribes
// to.
func (c Config) subscriptions(j int) []string {
	out := make([]string, c.Fanout)
	for i := range c.Fanout {
		out[i] = typeName((j - i + c.Endpoints) % c.Endpoints)
	}
	return out
}

// typeName is the event type number k.
func typeName(k int) string { return fmt.Sprintf("bench.type%d", k) }
