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
)

// benchMaxInFlight is the benchmark endpoint's cap on attempts in flight,
// above the default of 8 so that the cap is not what is measured.
const benchMaxInFlight = 64

// BenchmarkDelivery measures delivery end to end on SQLite: events posted
// to `herald serve` (run in this process) through real HTTP, claimed,
// signed and delivered to a receiver on 127.0.0.1 that verifies each
// signature. One tenant, one endpoint matching every event. It reports
// deliveries/s over the whole run (the timer stops once every event of the
// run has arrived) and the 50th and 99th percentile time from just before
// the POST of an event to its arrival at the receiver.
//
//	go test -run '^$' -bench Delivery -benchtime 3s -count 3 ./cmd/herald/
func BenchmarkDelivery(b *testing.B) {
	rc := newReceiver(b, nil)
	srv := startServe(b, b.TempDir(), "--allow-destinations", "127.0.0.1/32")
	if code := call(b, "POST", srv.url+"/v1/tenants", srv.adminKey, map[string]any{"id": "acme"}, nil); code != 201 {
		b.Fatalf("create tenant: %d", code)
	}
	var key struct{ Key string }
	if code := call(b, "POST", srv.url+"/v1/tenants/acme/api-keys", srv.adminKey, nil, &key); code != 201 {
		b.Fatalf("create key: %d", code)
	}
	addEndpoint(b, srv.url, key.Key, rc, "/hooks", map[string]any{
		"events": []string{"payout.*"}, "maxInFlight": benchMaxInFlight,
	})
	p := &producer{
		url: srv.url + "/v1/events", key: key.Key,
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
	url, key string
	client   *http.Client
	seq      atomic.Int64
}

// post posts one event and returns its id and the time just before the
// POST; on failure it reports the error and returns "".
func (p *producer) post(b *testing.B) (string, time.Time) {
	id := fmt.Sprintf("evt_bench_%d", p.seq.Add(1))
	body, err := json.Marshal(map[string]any{
		"id": id, "type": "payout.paid", "data": map[string]any{"payoutId": id, "amountPaise": 250000, "currency": "INR"},
	})
	if err != nil {
		b.Error(err)
		return "", time.Time{}
	}
	req, err := http.NewRequest("POST", p.url, bytes.NewReader(body))
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

// reportDelivery waits until the receiver has every event of sent (it had
// base distinct deliveries before), stops the timer and reports
// deliveries/s and the ingest-to-receipt percentiles.
func reportDelivery(b *testing.B, rc *receiver, base int, sent map[string]time.Time) {
	b.Helper()
	if b.Failed() {
		return
	}
	if !rc.waitUntil(60*time.Second, func() bool { return len(rc.first) >= base+len(sent) }) {
		b.Fatalf("only %d of %d deliveries arrived within 60s", rc.distinct()-base, len(sent))
	}
	b.StopTimer()

	rc.mu.Lock()
	lat := make([]time.Duration, 0, len(sent))
	for id, at := range sent {
		got, ok := rc.first[receipt{"/hooks", id}]
		if !ok {
			rc.mu.Unlock()
			b.Fatalf("event %s never arrived", id)
		}
		lat = append(lat, got.Sub(at))
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
