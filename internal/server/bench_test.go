package server

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkIngest measures POST /v1/events through real HTTP on the SQLite
// store, with one endpoint that matches every event, so each event commits
// with one delivery. It reports events/s and the 99th percentile latency.
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
		for b.Loop() {
			start := time.Now()
			res, err := e.send(post)
			if err != nil || res.status != http.StatusAccepted {
				b.Fatalf("POST /v1/events = %d %s, %v", res.status, res.body, err)
			}
			lat = append(lat, time.Since(start))
		}
		report(b, lat)
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
