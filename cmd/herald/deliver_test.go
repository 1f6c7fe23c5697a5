package main

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// attemptJSON is an attempt as GET /v1/deliveries/{id}/attempts shows it.
type attemptJSON struct {
	ID             string
	DeliveryID     string
	EndpointID     string
	Attempt        int
	RequestHeaders map[string]string
	StatusCode     *int
	Error          *string
	NextRetryAt    *time.Time
}

// deliveryJSON is a delivery as GET /v1/events/{id}/deliveries shows it.
type deliveryJSON struct {
	ID, EndpointID, Status string
	AttemptCount           int
}

// addEndpoint creates the endpoint body describes, delivering to rc at
// path, and makes rc trust its secret as the API shows it. It returns the
// endpoint id.
func addEndpoint(t testing.TB, base, key string, rc *receiver, path string, body map[string]any) string {
	t.Helper()
	body["url"] = rc.url + path
	var ep struct{ ID, Secret string }
	if code := call(t, "POST", base+"/v1/webhook-endpoints", key, body, &ep); code != 201 {
		t.Fatalf("create endpoint %s: status %d, want 201", path, code)
	}
	var got struct{ Secret string }
	if code := call(t, "GET", base+"/v1/webhook-endpoints/"+ep.ID+"/secret", key, nil, &got); code != 200 || got.Secret != ep.Secret {
		t.Fatalf("GET secret of %s: status %d, %q; want 200 and the secret given at creation", ep.ID, code, got.Secret)
	}
	rc.trust(path, got.Secret)
	return ep.ID
}

// deliveryOf returns the event's one delivery.
func deliveryOf(t testing.TB, base, key, eventID string) deliveryJSON {
	t.Helper()
	var dl struct{ Data []deliveryJSON }
	if code := call(t, "GET", base+"/v1/events/"+eventID+"/deliveries", key, nil, &dl); code != 200 || len(dl.Data) != 1 {
		t.Fatalf("deliveries of %s: status %d, %+v; want 200 and one delivery", eventID, code, dl.Data)
	}
	return dl.Data[0]
}

// waitDelivered waits until the event's one delivery succeeded and returns
// it with its attempts.
func waitDelivered(t testing.TB, base, key, eventID string) (deliveryJSON, []attemptJSON) {
	t.Helper()
	var d deliveryJSON
	eventually(t, 10*time.Second, "delivery of "+eventID+" succeeded", func() bool {
		d = deliveryOf(t, base, key, eventID)
		return d.Status == "succeeded"
	})
	var page struct {
		Data       []attemptJSON
		NextCursor *string
	}
	if code := call(t, "GET", base+"/v1/deliveries/"+d.ID+"/attempts", key, nil, &page); code != 200 {
		t.Fatalf("GET attempts of %s: status %d, want 200", d.ID, code)
	}
	if page.NextCursor != nil {
		t.Errorf("attempts of %s: nextCursor %q, want null for a short list", d.ID, *page.NextCursor)
	}
	return d, page.Data
}

// TestDeliveryEndToEnd follows events through `herald serve` to a receiver
// on 127.0.0.1 that verifies every signature, and reads the attempts, the
// metrics and the readiness back from the API.
func TestDeliveryEndToEnd(t *testing.T) {
	t.Parallel()
	flaky := func(path string, n int) int {
		if path == "/flaky" && n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	rc := newReceiver(t, flaky)
	srv := startServe(t, t.TempDir(), "--allow-destinations", "127.0.0.1/32",
		"--retry-schedule", "50ms,50ms", "--poll-interval", "20ms")
	admin := srv.adminKey

	keys := map[string]string{}
	for _, tenant := range []string{"acme", "globex"} {
		if code := call(t, "POST", srv.url+"/v1/tenants", admin, map[string]any{"id": tenant}, nil); code != 201 {
			t.Fatalf("create tenant %s: %d", tenant, code)
		}
		var key struct{ Key string }
		if code := call(t, "POST", srv.url+"/v1/tenants/"+tenant+"/api-keys", admin, nil, &key); code != 201 {
			t.Fatalf("create key of %s: %d", tenant, code)
		}
		keys[tenant] = key.Key
	}
	acme := keys["acme"]
	okEP := addEndpoint(t, srv.url, acme, rc, "/ok", map[string]any{"events": []string{"order.shipped"}})
	flakyEP := addEndpoint(t, srv.url, acme, rc, "/flaky", map[string]any{"events": []string{"order.refunded"}})

	post := func(typ string) string {
		var ev struct{ ID string }
		if code := call(t, "POST", srv.url+"/v1/events", acme, map[string]any{"type": typ, "data": map[string]any{"n": 1}}, &ev); code != 202 {
			t.Fatalf("post %s: status %d, want 202", typ, code)
		}
		return ev.ID
	}

	t.Run("first attempt succeeds", func(t *testing.T) {
		ev := post("order.shipped")
		d, attempts := waitDelivered(t, srv.url, acme, ev)
		if d.EndpointID != okEP || d.AttemptCount != 1 {
			t.Errorf("delivery = %+v, want endpoint %s with 1 attempt", d, okEP)
		}
		if len(attempts) != 1 {
			t.Fatalf("attempts = %+v, want exactly one", attempts)
		}
		a := attempts[0]
		if a.Attempt != 1 || a.StatusCode == nil || *a.StatusCode != 200 || a.Error != nil || a.NextRetryAt != nil ||
			a.DeliveryID != d.ID || a.EndpointID != okEP {
			t.Errorf("attempt = %s, want attempt 1 of %s to %s: status 200, no error, no retry", show(a), d.ID, okEP)
		}
		if got := a.RequestHeaders["Webhook-Id"]; got != ev {
			t.Errorf("attempt's Webhook-Id header = %q, want the event id %s", got, ev)
		}
		if n := rc.count("/ok", ev); n != 1 {
			t.Errorf("receiver got %s %d times, want 1", ev, n)
		}
	})

	t.Run("retried after a 500", func(t *testing.T) {
		ev := post("order.refunded")
		d, attempts := waitDelivered(t, srv.url, acme, ev)
		if d.EndpointID != flakyEP || d.AttemptCount != 2 || len(attempts) != 2 {
			t.Fatalf("delivery = %+v with attempts %+v, want 2 attempts to %s", d, attempts, flakyEP)
		}
		first, second := attempts[0], attempts[1]
		if first.Attempt != 1 || first.StatusCode == nil || *first.StatusCode != 500 ||
			first.Error == nil || *first.Error != "http_status" || first.NextRetryAt == nil {
			t.Errorf("first attempt = %s, want attempt 1: status 500, error http_status, a nextRetryAt", show(first))
		}
		if second.Attempt != 2 || second.StatusCode == nil || *second.StatusCode != 200 || second.Error != nil || second.NextRetryAt != nil {
			t.Errorf("second attempt = %s, want attempt 2: status 200, no error, no retry", show(second))
		}
		if n := rc.count("/flaky", ev); n != 2 {
			t.Errorf("receiver got %s %d times, want 2", ev, n)
		}

		// Another tenant does not see the delivery; nobody sees one that
		// does not exist.
		if code := call(t, "GET", srv.url+"/v1/deliveries/"+d.ID+"/attempts", keys["globex"], nil, nil); code != 404 {
			t.Errorf("attempts of acme's delivery with globex's key: status %d, want 404", code)
		}
		if code := call(t, "GET", srv.url+"/v1/deliveries/"+d.ID+"/attempts", admin, nil, nil); code != 200 {
			t.Errorf("attempts with the admin key: status %d, want 200", code)
		}
	})

	t.Run("unknown delivery", func(t *testing.T) {
		resp := get(t, srv.url+"/v1/deliveries/dlv_nosuchdelivery/attempts", acme)
		if resp.code != 404 || resp.contentType != "application/problem+json" {
			t.Errorf("unknown delivery: status %d, %q; want 404 application/problem+json", resp.code, resp.contentType)
		}
	})

	t.Run("metrics and readiness", func(t *testing.T) {
		m := get(t, srv.url+"/metrics", "")
		if m.code != 200 || !strings.HasPrefix(m.contentType, "text/plain") {
			t.Fatalf("GET /metrics: status %d, %q; want 200 text/plain", m.code, m.contentType)
		}
		for _, want := range []string{`herald_attempts_total{result="success"}`, `herald_attempts_total{result="http_status"} 1`,
			`herald_queue_deliveries{state="pending"} 0`, `herald_attempts_in_flight`, `herald_open_circuits`} {
			if !strings.Contains(m.body, want) {
				t.Errorf("GET /metrics has no %s", want)
			}
		}
		if r := get(t, srv.url+"/readyz", ""); r.code != 200 {
			t.Errorf("GET /readyz: status %d, want 200: %s", r.code, r.body)
		}
	})

	if code := srv.stop(); code != 0 {
		t.Errorf("serve exited with %d, want 0:\n%s", code, srv.log)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.badSigs != 0 {
		t.Errorf("%d requests failed verification; last: %v", rc.badSigs, rc.lastBad)
	}
}

func show(a attemptJSON) string {
	s := fmt.Sprintf("attempt %d", a.Attempt)
	if a.StatusCode != nil {
		s += fmt.Sprintf(", status %d", *a.StatusCode)
	}
	if a.Error != nil {
		s += ", error " + *a.Error
	}
	if a.NextRetryAt != nil {
		s += ", next retry " + a.NextRetryAt.String()
	}
	return s
}

// answer is a raw HTTP answer.
type answer struct {
	code              int
	contentType, body string
}

// get sends a GET with key (none if "") and returns the raw answer.
func get(t testing.TB, url, key string) answer {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

// TestCrashDeliversEverything posts events to a herald process while it
// delivers them to two endpoints, kills it with SIGKILL mid-stream,
// restarts it on the same database, and checks that every event answered
// 202 reaches every endpoint it matched: at least once, so duplicates are
// counted and logged but allowed.
func TestCrashDeliversEverything(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the herald binary")
	}
	rc := newReceiver(t, nil)
	dir := t.TempDir()
	db := filepath.Join(dir, "herald.db") // its key file, herald.db.key, sits beside it
	const admin = "crash-test-admin-key-0123456789"
	args := []string{"--database", db, "--admin-key", admin,
		"--allow-destinations", "127.0.0.1/32", "--poll-interval", "50ms", "--lease-margin", "1s"}
	p := startProcess(t, args...)

	if code := call(t, "POST", p.url+"/v1/tenants", admin, map[string]any{"id": "acme"}, nil); code != 201 {
		t.Fatalf("create tenant: %d", code)
	}
	// Both endpoints take order.*: a fan-out of 2. Their timeout makes
	// leases of 31s, longer than the wait after the restart: the deliveries
	// in flight at the kill arrive in time only if the restart ends their
	// leases rather than waiting for them to expire.
	paths := []string{"/a", "/b"}
	for _, path := range paths {
		addEndpoint(t, p.url, admin, rc, path, map[string]any{
			"tenantId": "acme", "events": []string{"order.*"}, "timeout": "30s", "maxInFlight": 32,
		})
	}

	accepted := produce(t, []string{p.url}, admin, 250, func() {
		rc.mu.Lock()
		before := rc.total
		rc.mu.Unlock()
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Error(err)
		}
		_ = p.cmd.Wait()
		t.Logf("killed with %d requests received", before)
	})

	restart := time.Now()
	startProcess(t, args...)
	if !rc.waitUntil(25*time.Second, func() bool { return rc.missing(accepted, paths) == 0 }) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		t.Fatalf("%d of %d deliveries did not arrive within 25s of the restart (were leases of the killed process left to expire?)",
			rc.missing(accepted, paths), len(accepted)*len(paths))
	}
	took := time.Since(restart)

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.badSigs != 0 {
		t.Errorf("%d requests failed verification; last: %v", rc.badSigs, rc.lastBad)
	}
	dups, most := rc.duplicates()
	t.Logf("%d events accepted, %d deliveries expected, %d distinct received, %d requests in all; "+
		"%d duplicates (at most %d of one); all arrived %s after the restart",
		len(accepted), len(accepted)*len(paths), len(rc.got), rc.total, dups, most, took.Round(time.Millisecond))
}

// produce posts order.shipped events of tenant acme from 16 goroutines, each
// to one of targets in turn and at most perWorker times, and returns the ids
// of those answered 202. Once half of all were answered it calls kill,
// once; a goroutine whose target stops answering stops.
func produce(t testing.TB, targets []string, admin string, perWorker int, kill func()) []string {
	t.Helper()
	const workers = 16
	var (
		mu       sync.Mutex
		accepted []string
		answered atomic.Int64
		wg       sync.WaitGroup
		half     = make(chan struct{})
		once     sync.Once
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target := targets[w%len(targets)]
			for i := range perWorker {
				id := fmt.Sprintf("ord_%d_%d", w, i)
				code, err := tryPost(target+"/v1/events", admin, map[string]any{
					"id": id, "tenantId": "acme", "type": "order.shipped", "data": map[string]any{"n": i},
				})
				if err != nil {
					return // the server is gone
				}
				if code == 202 {
					mu.Lock()
					accepted = append(accepted, id)
					mu.Unlock()
				}
				if answered.Add(1) == workers*int64(perWorker)/2 {
					once.Do(func() { close(half) })
				}
			}
		}()
	}
	select {
	case <-half:
		kill()
	case <-time.After(60 * time.Second):
		t.Errorf("only %d requests answered in 60s", answered.Load())
		kill()
	}
	wg.Wait()
	if len(accepted) < workers*perWorker/4 {
		t.Fatalf("only %d events accepted", len(accepted))
	}
	return accepted
}
