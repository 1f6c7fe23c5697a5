package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchArgs are the flags of a short `herald bench` run against the built
// binary.
func benchArgs(t *testing.T, extra ...string) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the herald binary")
	}
	bin, err := buildHerald()
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{"bench", "--server-binary", bin, "--tenants", "2", "--endpoints", "2",
		"--duration", "1s", "--raw-duration", "200ms", "--rate", "200", "--concurrency", "4", "--batch", "1"}, extra...)
}

func TestBenchCommandJSON(t *testing.T) {
	t.Parallel()
	plot := filepath.Join(t.TempDir(), "run.svg")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), benchArgs(t, "--json", "--plot", plot), func(string) string { return "" }, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr.String())
	}
	var got map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout.String())
	}
	for _, k := range []string{"eventsPerSec", "deliveriesPerSec", "rawPerSec", "ratioToRaw", "p50Ms", "p99Ms", "maxMs", "lost", "duplicates", "peakRssMB", "cpuSeconds"} {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if got["lost"] != 0.0 || got["delivered"] == 0.0 {
		t.Errorf("lost %v, delivered %v; want 0 lost, some delivered", got["lost"], got["delivered"])
	}
	if !strings.Contains(stderr.String(), "deliveries") {
		t.Errorf("no progress line on stderr:\n%s", stderr.String())
	}
	f, err := os.Open(plot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("plot is not well-formed XML: %v", err)
		}
	}
}

// TestBenchCommandLost ends the drain before a slow endpoint answers: the
// command prints its table, then fails with one line.
func TestBenchCommandLost(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	args := benchArgs(t, "--raw-duration", "0", "--slow-endpoints", "1", "--slow-delay", "5s", "--drain-timeout", "100ms")
	code := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr)
	if code != exitError {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitError, stderr.String())
	}
	if !strings.Contains(stdout.String(), "lost") {
		t.Errorf("no table on stdout:\n%s", stdout.String())
	}
	last := lastLine(stderr.String())
	if !strings.HasPrefix(last, "herald: ") || !strings.Contains(last, "deliveries lost") {
		t.Errorf("last line of stderr %q, want one naming the lost deliveries", last)
	}
}

func TestBenchCommandUsage(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"bench", "--fanout", "0"}, nil, "--fanout"},
		{[]string{"bench", "--fail-rate", "2"}, nil, "--fail-rate"},
		{[]string{"bench", "--server", "http://127.0.0.1:1"}, nil, "--key"},
		{[]string{"bench", "--database", "bench.db"}, nil, "--database"},
		{[]string{"bench", "--retry-schedule", "soon"}, nil, "--retry-schedule"},
		{[]string{"bench"}, map[string]string{"HERALD_BENCH_TENANTS": "many"}, "HERALD_BENCH_TENANTS"},
		{[]string{"bench", "--rate", "fast"}, nil, "--rate"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), c.args, func(k string) string { return c.env[k] }, &stdout, &stderr)
		msg := stderr.String()
		if code != exitUsage || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, c.want) {
			t.Errorf("%v with %v: exit %d, stderr %q; want exit %d and one line naming %s", c.args, c.env, code, msg, exitUsage, c.want)
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}
