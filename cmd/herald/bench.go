package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/heraldhq/herald/internal/bench"
)

// newBenchCmd returns "herald bench", which measures a Herald server end to
// end; the harness is package bench.
func newBenchCmd(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	cfg := bench.Defaults
	var (
		asJSON   bool
		plotFile string
		schedule string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure Herald end to end: throughput, latency, nothing lost",
		Long: `Bench starts a Herald server as a child process (this binary's "serve") on a
temporary database, or targets --server, and a receiver on 127.0.0.1 that
verifies every signature. It registers --tenants x --endpoints endpoints,
measures the raw limit (a plain Go client driving the same receiver), sends
events for --duration and waits for every delivery. It reports events and
deliveries per second, the ratio to the raw limit, latency from the send of
an event to its receipt, lost and duplicate deliveries, and the server's peak
RSS and CPU time. It exits with status 1 when a delivery was lost.

Every flag may also be set by HERALD_BENCH_<NAME>: --rate reads
HERALD_BENCH_RATE. See docs/performance.md.`,
		Example: `  herald bench --duration 10s
  herald bench --rate 2000 --json
  herald bench --fail-rate 0.1 --slow-endpoints 5 --plot run.svg
  herald bench --database postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
  herald bench --server-flag=--workers=512`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := benchEnv(cmd.Flags(), getenv); err != nil {
				return err
			}
			var err error
			if cfg.RetrySchedule, err = parseSchedule(schedule); err != nil {
				return usageError{fmt.Errorf("invalid --retry-schedule: %v", err)}
			}
			if cfg.Server == "" && cfg.Binary == "" {
				if cfg.Binary, err = os.Executable(); err != nil {
					return fmt.Errorf("bench: find this executable: %w", err)
				}
			}
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			cfg.Progress, cfg.Redraw = stderr, isTerminal(stderr)
			res, err := bench.Run(cmd.Context(), cfg)
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			if plotFile != "" {
				if err := writePlot(plotFile, res); err != nil {
					return fmt.Errorf("bench: --plot: %w", err)
				}
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else if err := res.WriteTable(stdout); err != nil {
				return err
			}
			return res.Check()
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Server, "server", "", "base URL of a running Herald to measure instead of starting one (needs --key)")
	f.StringVar(&cfg.Key, "key", "", "an admin API key of --server")
	f.StringVar(&cfg.Database, "database", "", "a postgres:// URL: run the child on a fresh database on that server, dropped after (default: a temporary SQLite file)")
	f.StringArrayVar(&cfg.ServerFlags, "server-flag", nil, "a flag for the child's serve, such as --server-flag=--workers=512 (repeatable)")
	f.StringVar(&cfg.Binary, "server-binary", "", "the herald executable the child runs (default: this one)")
	f.IntVar(&cfg.Tenants, "tenants", cfg.Tenants, "tenants to register")
	f.IntVar(&cfg.Endpoints, "endpoints", cfg.Endpoints, "endpoints per tenant, each subscribed to a type of its own")
	f.IntVar(&cfg.Fanout, "fanout", cfg.Fanout, "endpoints each event is delivered to")
	f.IntVar(&cfg.Payload, "payload", cfg.Payload, "bytes of each event's data")
	f.Float64Var(&cfg.Rate, "rate", cfg.Rate, "events per second to send (0: as fast as the producers can)")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long to send events")
	f.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "producers sending at once (and clients of the raw phase)")
	f.IntVar(&cfg.Batch, "batch", cfg.Batch, "events per request to POST /v1/events/batch (1: POST /v1/events, one at a time)")
	f.Float64Var(&cfg.FailRate, "fail-rate", cfg.FailRate, "fraction of delivery requests the receiver answers 500, so that Herald retries (0 to 0.9)")
	f.IntVar(&cfg.SlowEndpoints, "slow-endpoints", cfg.SlowEndpoints, "endpoints that answer only after --slow-delay")
	f.DurationVar(&cfg.SlowDelay, "slow-delay", cfg.SlowDelay, "how long a slow endpoint holds each request")
	f.StringVar(&schedule, "retry-schedule", joinDurations(cfg.RetrySchedule), "each endpoint's retry schedule (short, so that failures are retried within the run)")
	f.IntVar(&cfg.MaxInFlight, "max-in-flight", cfg.MaxInFlight, "each endpoint's maxInFlight (0: the server's default)")
	f.DurationVar(&cfg.RawDuration, "raw-duration", cfg.RawDuration, "how long to measure the raw limit (0: skip it)")
	f.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "how long to wait for deliveries after sending; what has not arrived then is lost")
	f.DurationVar(&cfg.RequestTimeout, "request-timeout", cfg.RequestTimeout, "timeout of each request to the API and of the raw phase")
	f.DurationVar(&cfg.ReadyTimeout, "ready-timeout", cfg.ReadyTimeout, "how long the child may take to become ready")
	f.DurationVar(&cfg.StopTimeout, "stop-timeout", cfg.StopTimeout, "how long the child may take to stop before it is killed")
	f.DurationVar(&cfg.ProgressInterval, "progress-interval", cfg.ProgressInterval, "how often the progress line is written, and the server's memory sampled")
	f.BoolVar(&asJSON, "json", false, "print one JSON object instead of the table")
	f.StringVar(&plotFile, "plot", "", "write throughput and latency over time to this SVG file")
	return cmd
}

// benchEnv gives every bench flag not set on the command line the value of
// HERALD_BENCH_<NAME>, if set. The prefix keeps serve's variables, such as
// HERALD_DATABASE, from steering a benchmark.
func benchEnv(fs *pflag.FlagSet, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || err != nil || fl.Name == "help" {
			return
		}
		name := "HERALD_BENCH_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if e := fs.Set(fl.Name, v); e != nil {
				err = usageError{fmt.Errorf("invalid %s: %v", name, e)}
			}
		}
	})
	return err
}

func writePlot(name string, res *bench.Result) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := res.WritePlot(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func joinDurations(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.String()
	}
	return strings.Join(s, ",")
}

// isTerminal reports whether w is a terminal, where the progress line is
// redrawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
