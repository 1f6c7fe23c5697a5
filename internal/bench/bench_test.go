package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/testbin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Remove()
	os.Exit(code)
}

// buildHerald builds the herald binary once for the tests that run it as a
// separate process.
var buildHerald = testbin.Herald

// small is a short run against a child server: a few seconds in all.
func small(t *testing.T) Config {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the herald binary")
	}
	bin, err := buildHerald()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Defaults
	cfg.Binary = bin
	cfg.Tenants, cfg.Endpoints = 2, 3
	cfg.Duration = time.Second
	cfg.RawDuration = 300 * time.Millisecond
	cfg.Rate = 300
	cfg.Concurrency = 4
	cfg.Batch = 1
	cfg.DrainTimeout = 30 * time.Second
	return cfg
}

func TestRunSQLite(t *testing.T) {
	t.Parallel()
	cfg := small(t)
	cfg.Fanout = 2
	cfg.Batch = 10 // POST /v1/events/batch; the other runs post one event at a time
	var progress bytes.Buffer
	cfg.Progress, cfg.ProgressInterval = &syncWriter{w: &progress}, 200*time.Millisecond
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Check(); err != nil {
		t.Fatal(err)
	}
	if res.Accepted == 0 || res.Delivered != res.Accepted*2 || res.Expected != res.Delivered {
		t.Errorf("accepted %d, expected %d, delivered %d; want every accepted event delivered twice (fanout 2)", res.Accepted, res.Expected, res.Delivered)
	}
	if res.Lost != 0 || res.BadSignatures != 0 || res.Unexpected != 0 || res.Rejected != 0 || res.Failed != 0 {
		t.Errorf("lost %d, bad signatures %d, unexpected %d, rejected %d, failed %d; want all 0 (last error %q)",
			res.Lost, res.BadSignatures, res.Unexpected, res.Rejected, res.Failed, res.LastError)
	}
	if res.RawPerSec == nil || *res.RawPerSec <= 0 || res.RatioToRaw == nil {
		t.Errorf("rawPerSec %v, ratioToRaw %v; want both measured", res.RawPerSec, res.RatioToRaw)
	}
	if res.PeakRSSMB == nil || *res.PeakRSSMB <= 0 || res.CPUSeconds == nil || *res.CPUSeconds <= 0 {
		t.Errorf("peakRssMB %v, cpuSeconds %v; want both measured on Linux", res.PeakRSSMB, res.CPUSeconds)
	}
	if !(res.P50Ms > 0 && res.P50Ms <= res.P99Ms && res.P99Ms <= res.MaxMs) {
		t.Errorf("p50 %v, p99 %v, max %v ms; want 0 < p50 <= p99 <= max", res.P50Ms, res.P99Ms, res.MaxMs)
	}
	checkJSON(t, res)
	checkPlot(t, res)
	sum := 0
	for _, s := range res.Timeline {
		sum += s.Deliveries
	}
	if int64(sum) != res.Delivered {
		t.Errorf("timeline counts %d deliveries, want %d", sum, res.Delivered)
	}
	if !strings.Contains(progress.String(), "deliveries") {
		t.Errorf("progress output has no line with deliveries:\n%s", progress.String())
	}
	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"lost        0", "raw limit", "peak RSS"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

// TestRunWithFailures makes the receiver fail a share of the requests and
// hold those of one endpoint: Herald retries, and still nothing is lost.
func TestRunWithFailures(t *testing.T) {
	t.Parallel()
	cfg := small(t)
	// Not much more: failures at random open an endpoint's circuit breaker
	// when at least half of its last 20 or more attempts failed, which at
	// 0.3 happens to one endpoint in some runs (about 5% of windows of 20),
	// and its cool-offs (5 s, 10 s, 20 s while probes keep failing) can
	// outlast the drain: those runs lost an endpoint's share, about 40 of
	// 300. At 0.1 a window of 20 reaches half in about 1 in 150,000.
	cfg.FailRate = 0.1
	cfg.SlowEndpoints, cfg.SlowDelay = 1, 50*time.Millisecond
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Lost != 0 || res.Delivered == 0 {
		t.Fatalf("lost %d of %d; want none lost", res.Lost, res.Expected)
	}
	if res.InjectedFailures == 0 || res.Requests < res.Delivered+res.InjectedFailures {
		t.Errorf("%d requests, %d failures injected, %d delivered; want failures retried", res.Requests, res.InjectedFailures, res.Delivered)
	}
	if res.OtherP99Ms == nil {
		t.Error("otherP99Ms is null with a slow endpoint")
	}
}

// TestRunAgainstServer measures a server the harness did not start: its
// memory and CPU are unknown.
func TestRunAgainstServer(t *testing.T) {
	t.Parallel()
	cfg := small(t)
	ch, err := startChild(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ch.stop(); err != nil {
			t.Error(err)
		}
	})
	cfg.Binary, cfg.Server, cfg.Key = "", ch.url, ch.adminKey
	cfg.RawDuration = 0
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Check(); err != nil {
		t.Fatal(err)
	}
	if res.PeakRSSMB != nil || res.CPUSeconds != nil || res.RawPerSec != nil || res.RatioToRaw != nil {
		t.Errorf("peakRssMB %v, cpuSeconds %v, rawPerSec %v, ratioToRaw %v; want all unknown", res.PeakRSSMB, res.CPUSeconds, res.RawPerSec, res.RatioToRaw)
	}
	checkJSON(t, res)
}

func TestRunPostgres(t *testing.T) {
	t.Parallel()
	cfg := small(t)
	cfg.Database = pgtest.URL(t)
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Check(); err != nil {
		t.Fatal(err)
	}
	if res.Config.Target != "postgres" || res.Delivered == 0 {
		t.Errorf("target %q, delivered %d; want postgres, some", res.Config.Target, res.Delivered)
	}
}

// TestLost lets the drain end before a slow endpoint answers: its
// deliveries are lost, and Check says so.
func TestLost(t *testing.T) {
	t.Parallel()
	cfg := small(t)
	cfg.RawDuration = 0
	cfg.SlowEndpoints, cfg.SlowDelay = 1, 5*time.Second
	cfg.DrainTimeout = 100 * time.Millisecond
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res == nil || res.Lost == 0 || !errors.Is(res.Check(), ErrLost) {
		t.Fatalf("result %+v; want deliveries lost and Check to say so", res)
	}
}

// checkJSON checks that the JSON of res has every key the issue names.
func checkJSON(t *testing.T, res *Result) {
	t.Helper()
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"eventsPerSec", "deliveriesPerSec", "rawPerSec", "ratioToRaw", "p50Ms", "p99Ms", "maxMs", "lost", "duplicates", "peakRssMB", "cpuSeconds"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
}

// checkPlot checks that the plot is well-formed XML with an svg root and
// a line per series.
func checkPlot(t *testing.T, res *Result) {
	t.Helper()
	var buf bytes.Buffer
	if err := res.WritePlot(&buf); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&buf)
	var root string
	lines := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("plot is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			if se.Name.Local == "polyline" {
				lines++
			}
		}
	}
	if root != "svg" || lines != 4 {
		t.Errorf("plot root %q with %d polylines; want svg with 4", root, lines)
	}
}

// syncWriter serializes writes for a buffer read after the run.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestMatchesSubscriptions(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ endpoints, fanout int }{{1, 1}, {10, 1}, {10, 3}, {4, 4}} {
		cfg := Config{Tenants: 2, Endpoints: c.endpoints, Fanout: c.fanout}
		for tn := range cfg.Tenants {
			for k := range cfg.Endpoints {
				var subscribed []int
				for j := range cfg.Endpoints {
					if slices.Contains(cfg.subscriptions(j), typeName(k)) {
						subscribed = append(subscribed, tn*cfg.Endpoints+j)
					}
				}
				got := cfg.matches(tn, k)
				slices.Sort(got)
				if !slices.Equal(got, subscribed) || len(got) != c.fanout {
					t.Errorf("%+v: type %d of tenant %d matches %v, but %v subscribe to it; want the same %d", c, k, tn, got, subscribed, c.fanout)
				}
			}
		}
	}
}

func TestQuantile(t *testing.T) {
	t.Parallel()
	ds := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5}, {0.99, 10}, {1, 10}, {0.1, 1}, {0, 1}} {
		if got := quantile(ds, c.q); got != c.want {
			t.Errorf("quantile(1..10, %v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile(nil) = %v, want 0", got)
	}
}

func TestNiceScale(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ peak, max, step float64 }{{0, 1, 0.25}, {9, 10, 2}, {12345, 14000, 2000}, {35, 35, 5}, {101, 120, 20}} {
		gotMax, gotStep := niceScale(c.peak)
		if gotMax != c.max || gotStep != c.step {
			t.Errorf("niceScale(%v) = %v, %v; want %v, %v", c.peak, gotMax, gotStep, c.max, c.step)
		}
	}
}

func TestProc(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	rss, err := peakRSS(os.Getpid())
	if err != nil || rss <= 0 {
		t.Errorf("peakRSS = %d, %v; want positive", rss, err)
	}
	if _, err := cpuSeconds(os.Getpid()); err != nil {
		t.Errorf("cpuSeconds: %v", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := Defaults
	ok.Binary = "herald"
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, c := range []struct {
		change func(*Config)
		flag   string
	}{
		{func(c *Config) { c.Fanout = 11 }, "--fanout"},
		{func(c *Config) { c.Batch = 501 }, "--batch"},
		{func(c *Config) { c.FailRate = 1 }, "--fail-rate"},
		{func(c *Config) { c.Database = "x.db" }, "--database"},
		{func(c *Config) { c.Server = "http://h" }, "--key"},
		{func(c *Config) { c.SlowEndpoints = 100 }, "--slow-endpoints"},
		{func(c *Config) { c.Duration = 0 }, "--duration"},
	} {
		cfg := ok
		c.change(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.flag) {
			t.Errorf("Validate() = %v, want an error naming %s", err, c.flag)
		}
	}
}

// TestProgressRedraw checks that on a terminal each line is redrawn in
// place with \r, and that stopping ends the line once.
func TestProgressRedraw(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	p := &progress{cfg: Config{Progress: &out, Redraw: true, ProgressInterval: time.Hour}, rc: &receiver{}}
	p.phase("raw", nil)
	p.line()
	p.phase("send", &load{})
	p.line()
	stop := p.start()
	stop()
	stop() // a second stop does nothing
	got := out.String()
	if strings.Count(got, "\r") != 2 || strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\n") {
		t.Errorf("progress wrote %q; want two lines drawn with \\r and one final newline", got)
	}
	if !strings.HasPrefix(got, "\rraw ") || !strings.Contains(got, "\rsend ") {
		t.Errorf("progress wrote %q; want the raw line, then the send line", got)
	}
}

// TestNoBatchRoute checks that a server without POST /v1/events/batch
// stops the send phase with an error that says to use --batch 1.
func TestNoBatchRoute(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	cfg := Defaults
	cfg.Tenants, cfg.Endpoints, cfg.Concurrency = 1, 1, 2
	l := newLoad(cfg, &api{base: srv.URL, key: "k", client: srv.Client()}, []string{"t"}, "run")
	_, _, err := l.send(context.Background())
	if !errors.Is(err, errNoBatch) || !strings.Contains(err.Error(), "--batch 1") {
		t.Errorf("send = %v, want the error that names --batch 1", err)
	}
}

// TestNothingAccepted checks that a run in which no event was accepted
// fails its check.
func TestNothingAccepted(t *testing.T) {
	t.Parallel()
	r := &Result{Sent: 10, Rejected: 10, LastError: "POST /v1/events: status 429"}
	if err := r.Check(); err == nil || !strings.Contains(err.Error(), "429") {
		t.Errorf("Check() = %v, want an error with the last error", err)
	}
}
