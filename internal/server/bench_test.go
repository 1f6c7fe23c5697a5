package server

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/apispec"
)

// BenchmarkIngest measures POST /v1/events through real HTTP on the SQLite
// store, with one endpoint that matches every event, so each event commits
// with one delivery. It reports events/s and the 99th percentile latency,
// and serially the CPU time of the process per event.
//
//	go test -run '^$' -bench Ingest -benchtime 5s ./internal/server/
func BenchmarkIngest(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.Now = nil })
	key := e.tenant(b, "acme")
	e.endpoint(b, key, map[string]any{"url": "https://merchant.example.com/hooks/payouts", "events": []string{"payout.*"}})
	post := req{method: "POST", path: "/v1/events", key: key,
		body: `{"type":"payout.paid","data":{"payoutId":"po_44","amountPaise":250000,"currency":"INR"}}`}

	b.Run("serial", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		before := cpuTime(b)
		for b.Loop() {
			start := time.Now()
			res, err := e.send(post)
			if err != nil || res.status != http.StatusAccepted {
				b.Fatalf("POST /v1/events = %d %s, %v", res.status, res.body, err)
			}
			lat = append(lat, time.Since(start))
		}
		report(b, lat)
		b.ReportMetric(float64((cpuTime(b)-before).Microseconds())/float64(b.N), "cpu-us/event")
	})

	b.Run("parallel", func(b *testing.B) {
		var mu sync.Mutex
		var lat []time.Duration
		b.SetParallelism(4) // 4×GOMAXPROCS producers
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			var mine []time.Duration
			for pb.Next() {
				start := time.Now()
				res, err := e.send(post)
				if err != nil || res.status != http.StatusAccepted {
					b.Errorf("POST /v1/events = %d %s, %v", res.status, res.body, err)
					return
				}
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
		report(b, lat)
	})
}

// BenchmarkIngestBatch measures POST /v1/events/batch through real HTTP on
// the SQLite store: batches of 50 events of about 1 KiB of data each, shaped
// like the events of `herald bench`, with one endpoint that matches every
// event. Besides ns/op (one batch) it reports the CPU time of the whole
// process (server, store and client) per event, which on a noisy machine
// compares better than wall time. The OpenAPI check of the test client is
// left out: it would cost more CPU than the server.
//
//	go test -run '^$' -bench IngestBatch -benchtime 400x -count 3 ./internal/server/
func BenchmarkIngestBatch(b *testing.B) {
	const batch, payload = 50, 1 << 10
	e := newEnv(b, func(c *Config) { c.Now = nil })
	e.client.Transport = e.client.Transport.(*apispec.Transport).Base
	key := e.tenant(b, "acme")
	e.endpoint(b, key, map[string]any{"url": "https://merchant.example.com/hooks/payouts", "events": []string{"payout.*"}})

	pad := strings.Repeat("x", payload)
	n := 0
	body := func() string {
		var buf bytes.Buffer
		buf.WriteString(`{"events":[`)
		for i := range batch {
			if i > 0 {
				buf.WriteByte(',')
			}
			n++
			seq := strconv.Itoa(n)
			head := `{"seq":` + seq + `,"payoutId":"po_` + seq + `","amountPaise":250000,"currency":"INR","pad":"`
			buf.WriteString(`{"id":"evt_bench_` + seq + `","tenantId":"acme","type":"payout.paid","data":`)
			buf.WriteString(head + pad[:max(0, payload-len(head)-2)] + `"}`)
			buf.WriteByte('}')
		}
		buf.WriteString(`]}`)
		return buf.String()
	}
	before := cpuTime(b)
	for b.Loop() {
		b.StopTimer()
		post := req{method: "POST", path: "/v1/events/batch", key: key, body: body()}
		b.StartTimer()
		res, err := e.send(post)
		if err != nil || res.status != http.StatusOK || bytes.Count(res.body, []byte(`"status":202`)) != batch {
			b.Fatalf("POST /v1/events/batch = %d %.300s, %v", res.status, res.body, err)
		}
	}
	cpu := cpuTime(b) - before
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*batch), "cpu-us/event")
}

// cpuTime is the CPU time, user and system, the process has used so far.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report adds events/s and the p99 latency to a benchmark's results.
func report(b *testing.B, lat []time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "events/s")
	slices.Sort(lat)
	p99 := lat[min(len(lat)-1, len(lat)*99/100)]
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
}
