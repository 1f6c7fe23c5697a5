package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/seal"
)

// BenchmarkThroughput measures deliveries as fast as they go: `herald
// serve` (in this process) with 10 tenants of 10 endpoints each, every
// endpoint subscribed to a type of its own; producers post events of about
// 1 KiB in batches of 50 through POST /v1/events/batch, each event matching
// one endpoint, round robin. The receiver verifies every signature. It
// reports deliveries/s (the timer stops once all have arrived) and the
// ingest-to-receipt percentiles, measured from just before each batch's
// POST.
//
//	go test -run '^$' -bench Throughput -benchtime 20000x -count 3 ./cmd/herald/
func BenchmarkThroughput(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchThroughput(b, false, 50, 8) })
	b.Run("postgres", func(b *testing.B) { benchThroughput(b, true, 50, 8) })
}

// BenchmarkThroughputSingle is BenchmarkThroughput with each event posted
// on its own to POST /v1/events, by 16 producers, as a platform that sends
// each event when it happens would: the cost of a request, its ingest and
// its claim falls on one delivery.
//
//	go test -run '^$' -bench ThroughputSingle -benchtime 10000x -count 3 ./cmd/herald/
func BenchmarkThroughputSingle(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchThroughput(b, false, 1, 16) })
	b.Run("postgres", func(b *testing.B) { benchThroughput(b, true, 1, 16) })
}

// benchThroughput posts b.N events, batch to a request (one alone to POST
// /v1/events), from producers at once.
func benchThroughput(b *testing.B, postgres bool, batch, producers int) {
	const (
		tenants   = 10
		endpoints = 10
	)
	rc := newReceiver(b, nil)
	const admin = "bench-admin-key-0123456789abcdef"
	args := []string{"--allow-destinations", "127.0.0.1/32", "--admin-key", admin}
	if postgres {
		args = append(args, "--database", pgtest.URL(b), "--secret-key", seal.NewKey())
	}
	url := startServe(b, b.TempDir(), args...).url
	type target struct{ tenant, typ, path string }
	var targets []target
	for t := range tenants {
		tenant := fmt.Sprintf("t%d", t)
		if code := call(b, "POST", url+"/v1/tenants", admin, map[string]any{"id": tenant}, nil); code != 201 {
			b.Fatalf("create tenant: %d", code)
		}
		for e := range endpoints {
			typ := fmt.Sprintf("bench.e%d", e)
			path := fmt.Sprintf("/%s/e%d", tenant, e)
			addEndpoint(b, url, admin, rc, path, map[string]any{"tenantId": tenant, "events": []string{typ}, "maxInFlight": 64})
			targets = append(targets, target{tenant, typ, path})
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 60 * time.Second}
	b.Cleanup(client.CloseIdleConnections)
	pad := strings.Repeat("x", 900)

	var (
		next atomic.Int64
		mu   sync.Mutex
		all  []sentEvent
		run  = time.Now().UnixNano()
	)
	base := rc.distinct()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range producers {
		wg.Go(func() {
			var mine []sentEvent
			for {
				first := int(next.Add(int64(batch))) - batch
				if first >= b.N {
					break
				}
				n := min(batch, b.N-first)
				evs := make([]map[string]any, n)
				ids := make([]sentEvent, n)
				for i := range n {
					tg := targets[(first+i)%len(targets)]
					id := fmt.Sprintf("evt_%d_%d", run, first+i)
					evs[i] = map[string]any{"id": id, "tenantId": tg.tenant, "type": tg.typ,
						"data": map[string]any{"n": first + i, "pad": pad}}
					ids[i] = sentEvent{path: tg.path, id: id}
				}
				path, want := "/v1/events/batch", 200
				body, _ := json.Marshal(map[string]any{"events": evs})
				if batch == 1 {
					path, want = "/v1/events", 202
					body, _ = json.Marshal(evs[0])
				}
				req, _ := http.NewRequest("POST", url+path, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+admin)
				at := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Errorf("POST batch: %v", err)
					return
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want || batch > 1 && bytes.Count(raw, []byte(`"status":202`)) != n {
					b.Errorf("POST %s: %d %.300s", path, resp.StatusCode, raw)
					return
				}
				for i := range ids {
					ids[i].at = at
				}
				mine = append(mine, ids...)
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	reportSent(b, rc, base, all)
}
