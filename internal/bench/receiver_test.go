package bench

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// testReceiver starts a receiver with n endpoints, each trusting a secret
// of its own, and returns it with signers of those secrets.
func testReceiver(tb testing.TB, cfg Config, n int) (*receiver, []*webhook.Signer) {
	tb.Helper()
	cfg.Tenants, cfg.Endpoints = 1, n
	rc, err := startReceiver(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(rc.close)
	signers := make([]*webhook.Signer, n)
	for g := range n {
		secret := webhook.NewSecret()
		if err := rc.trust(g, secret); err != nil {
			tb.Fatal(err)
		}
		if signers[g], err = webhook.NewSigner(webhook.SchemeStandard, secret); err != nil {
			tb.Fatal(err)
		}
	}
	return rc, signers
}

// post sends body to endpoint g of rc with headers h and returns the
// status of the answer.
func post(tb testing.TB, rc *receiver, g string, h http.Header, body []byte) int {
	tb.Helper()
	req, err := http.NewRequest("POST", rc.url+"/e/"+g, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReceiver sends the receiver genuine, tampered and unsigned requests:
// each tampered or unsigned one is refused and counted as a bad
// signature, each genuine one recorded once per webhook-id.
func TestReceiver(t *testing.T) {
	t.Parallel()
	rc, signers := testReceiver(t, Defaults, 2)
	body := []byte(`{"id":"evt_1","type":"bench.type0","createdAt":"2026-12-06T10:00:00Z","data":{"seq":1}}`)
	sign := func(g int, id string, at time.Time, b []byte) http.Header {
		h, err := signers[g].Sign(id, at, b)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	tampered := bytes.Clone(body)
	tampered[len(tampered)-3] = '2'
	wrongID := sign(0, "evt_1", time.Now(), body)
	wrongID.Set(webhook.HeaderID, "evt_2")
	for _, tc := range []struct {
		name string
		g    string
		h    http.Header
		body []byte
		want int // status
		bad  int64
	}{
		{"genuine", "0", sign(0, "evt_1", time.Now(), body), body, http.StatusNoContent, 0},
		{"again", "0", sign(0, "evt_1", time.Now(), body), body, http.StatusNoContent, 0},
		{"tampered body", "0", sign(0, "evt_1", time.Now(), body), tampered, http.StatusUnauthorized, 1},
		{"other id", "0", wrongID, body, http.StatusUnauthorized, 2},
		{"other endpoint's secret", "1", sign(0, "evt_1", time.Now(), body), body, http.StatusUnauthorized, 3},
		{"too old", "0", sign(0, "evt_1", time.Now().Add(-time.Hour), body), body, http.StatusUnauthorized, 4},
		{"unsigned", "0", http.Header{webhook.HeaderID: {"evt_1"}}, body, http.StatusUnauthorized, 5},
		{"genuine on the other endpoint", "1", sign(1, "evt_1", time.Now(), body), body, http.StatusNoContent, 5},
		{"raw", "1", sign(1, rawPrefix+"1", time.Now(), body), body, http.StatusNoContent, 5},
		{"unknown endpoint", "2", sign(0, "evt_1", time.Now(), body), body, http.StatusNotFound, 5},
		{"not a number", "x", sign(0, "evt_1", time.Now(), body), body, http.StatusNotFound, 5},
	} {
		if got := post(t, rc, tc.g, tc.h, tc.body); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
		if got := rc.badSigs.Load(); got != tc.bad {
			t.Errorf("%s: %d bad signatures counted, want %d", tc.name, got, tc.bad)
		}
	}
	if a, ok := rc.arrival(0, "evt_1"); !ok || a.n != 2 {
		t.Errorf("endpoint 0 has evt_1 %v %d times, want 2 (one duplicate)", ok, a.n)
	}
	if a, ok := rc.arrival(1, "evt_1"); !ok || a.n != 1 {
		t.Errorf("endpoint 1 has evt_1 %v %d times, want 1", ok, a.n)
	}
	if got, want := rc.delivered.Load(), int64(2); got != want {
		t.Errorf("delivered %d, want %d", got, want)
	}
	if got, want := rc.raw.Load(), int64(1); got != want {
		t.Errorf("raw %d, want %d", got, want)
	}
	if err := rc.badSignatureError(); err == nil {
		t.Error("no bad signature error after bad signatures")
	}
}

// BenchmarkReceiver drives the receiver as the raw phase does, 16
// requests at once to 100 endpoints, and reports the process's CPU time
// per request (the client's share included; -cpuprofile separates them).
func BenchmarkReceiver(b *testing.B) {
	cfg := Defaults
	rc, signers := testReceiver(b, cfg, 100)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency, DisableCompression: true}}
	defer client.CloseIdleConnections()
	pad := bytes.Repeat([]byte("x"), cfg.Payload)
	var seq atomic.Int64
	cpu0, err := cpuSeconds(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Go(func() {
			var body bytes.Buffer
			for {
				n := seq.Add(1)
				if n > int64(b.N) {
					return
				}
				g := int(n % int64(len(signers)))
				id := "evt_" + strconv.FormatInt(n, 10)
				envelope(&body, id, n, pad, cfg.Payload)
				if err := rawPost(context.Background(), client, rc.url+"/e/"+strconv.Itoa(g), signers[g], id, body.Bytes()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	cpu1, err := cpuSeconds(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric((cpu1-cpu0)*1e6/float64(b.N), "cpu-µs/op")
	if n := rc.badSigs.Load(); n > 0 {
		b.Fatalf("%d bad signatures: %v", n, rc.badSignatureError())
	}
}
