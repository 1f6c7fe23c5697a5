package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/seal"
)

// benchMaxInFlight is the benchmark endpoint's cap on attempts in flight,
// above the default of 8 so that the cap is not what is measured.
const benchMaxInFlight = 64

// BenchmarkDelivery measures delivery end to end: events posted to `herald
// serve` (run in this process) through real HTTP, claimed, signed and
// delivered to a receiver on 127.0.0.1 that verifies each signature. One
// tenant, one endpoint matching every event; on SQLite, on PostgreSQL with
// one node, and on PostgreSQL with two nodes sharing the database (events
// posted to both in turn). It reports deliveries/s over the whole run (the
// timer stops once every event of the run has arrived) and the 50th and
// 99th percentile time from just before the POST of an event to its
// arrival at the receiver. The PostgreSQL runs need HERALD_TEST_POSTGRES_URL.
//
//	go test -run '^$' -bench Delivery -benchtime 3s -count 3 ./cmd/herald/
func BenchmarkDelivery(b *testing.B) {
	for _, tc := range []struct {
		name     string
		nodes    int
		postgres bool
	}{{"sqlite", 1, false}, {"postgres-1node", 1, true}, {"postgres-2nodes", 2, true}} {
		b.Run(tc.name, func(b *testing.B) { benchDelivery(b, tc.nodes, tc.postgres) })
	}
}

func benchDelivery(b *testing.B, nodes int, postgres bool) {
	rc := newReceiver(b, nil)
	const admin = "bench-admin-key-0123456789abcdef"
	args := []string{"--allow-destinations", "127.0.0.1/32", "--admin-key", admin}
	if postgres {
		args = append(args, "--database", pgtest.URL(b), "--secret-key", seal.NewKey())
	}
	var urls []string
	for range nodes {
		urls = append(urls, startServe(b, b.TempDir(), args...).url)
	}
	if code := call(b, "POST", urls[0]+"/v1/tenants", admin, map[string]any{"id": "acme"}, nil); code != 201 {
		b.Fatalf("create tenant: %d", code)
	}
	var key struct{ Key string }
	if code := call(b, "POST", urls[0]+"/v1/tenants/acme/api-keys", admin, nil, &key); code != 201 {
		b.Fatalf("create key: %d", code)
	}
	addEndpoint(b, urls[0], key.Key, rc, "/hooks", map[string]any{
		"events": []string{"payout.*"}, "maxInFlight": benchMaxInFlight,
	})
	p := &producer{
		urls: urls, key: key.Key,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 30 * time.Second},
	}
	b.Cleanup(p.client.CloseIdleConnections)

	b.Run("serial", func(b *testing.B) {
		sent := make(map[string]time.Time, b.N)
		base := rc.distinct()
		b.ResetTimer()
		for range b.N {
			id, at := p.post(b)
			sent[id] = at
		}
		reportDelivery(b, rc, base, sent)
	})

	b.Run("parallel", func(b *testing.B) {
		var mu sync.Mutex
		sent := make(map[string]time.Time, b.N)
		base := rc.distinct()
		b.SetParallelism(4) // 4×GOMAXPROCS producers
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			mine := map[string]time.Time{}
			for pb.Next() {
				id, at := p.post(b)
				if id == "" {
					return
				}
				mine[id] = at
			}
			mu.Lock()
			defer mu.Unlock()
			for id, at := range mine {
				sent[id] = at
			}
		})
		reportDelivery(b, rc, base, sent)
	})
}

// producer posts benchmark events, each with an id of its own.
type producer struct {
	urls   []string // the nodes, posted to in turn
	key    string
	client *http.Client
	seq    atomic.Int64
}

// post posts one event and returns its id and the time just before the
// POST; on failure it reports the error and returns "".
func (p *producer) post(b *testing.B) (string, time.Time) {
	n := p.seq.Add(1)
	id := fmt.Sprintf("evt_bench_%d", n)
	body, err := json.Marshal(map[string]any{
		"id": id, "type": "payout.paid", "data": map[string]any{"payoutId": id, "amountPaise": 250000, "currency": "INR"},
	})
	if err != nil {
		b.Error(err)
		return "", time.Time{}
	}
	req, err := http.NewRequest("POST", p.urls[int(n)%len(p.urls)]+"/v1/events", bytes.NewReader(body))
	if err != nil {
		b.Error(err)
		return "", time.Time{}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.key)
	at := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		b.Errorf("POST /v1/events: %v", err)
		return "", time.Time{}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b.Errorf("POST /v1/events: status %d, want 202", resp.StatusCode)
		return "", time.Time{}
	}
	return id, at
}

// distinct returns how many distinct deliveries have arrived.
func (rc *receiver) distinct() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.first)
}

// reportDelivery waits until the receiver has every event of sent, posted
// to its endpoint /hooks (it had base distinct deliveries before), stops
// the timer and reports deliveries/s and the ingest-to-receipt
// percentiles.
func reportDelivery(b *testing.B, rc *receiver, base int, sent map[string]time.Time) {
	b.Helper()
	all := make([]sentEvent, 0, len(sent))
	for id, at := range sent {
		all = append(all, sentEvent{path: "/hooks", id: id, at: at})
	}
	reportSent(b, rc, base, all)
}

// sentEvent is an event posted for the endpoint at path, at the time just
// before the POST that carried it.
type sentEvent struct {
	path, id string
	at       time.Time
}

// reportSent waits until the receiver has every event of sent (it had base
// distinct deliveries before), stops the timer and reports deliveries/s and
// the ingest-to-receipt percentiles.
func reportSent(b *testing.B, rc *receiver, base int, sent []sentEvent) {
	b.Helper()
	if b.Failed() {
		return
	}
	if !rc.waitUntil(120*time.Second, func() bool { return len(rc.first) >= base+len(sent) }) {
		b.Fatalf("only %d of %d deliveries arrived within 120s", rc.distinct()-base, len(sent))
	}
	b.StopTimer()
	rc.mu.Lock()
	lat := make([]time.Duration, 0, len(sent))
	for _, s := range sent {
		got, ok := rc.first[receipt{s.path, s.id}]
		if !ok {
			rc.mu.Unlock()
			b.Fatalf("event %s never arrived at %s", s.id, s.path)
		}
		lat = append(lat, got.Sub(s.at))
	}
	bad := rc.badSigs
	rc.mu.Unlock()
	if bad != 0 {
		b.Fatalf("%d requests failed verification", bad)
	}
	slices.Sort(lat)
	ms := func(q int) float64 { return float64(lat[min(len(lat)-1, len(lat)*q/100)].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(ms(50), "p50-ms")
	b.ReportMetric(ms(99), "p99-ms")
}
