package main

import (
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/seal"
)

// TestClusterSurvivesANode runs two `herald serve` processes on one
// PostgreSQL database, posts events to both, SIGKILLs one mid-flight, and
// checks that every accepted event reached each endpoint at least once, by
// way of the survivor once the dead node's leases expired, and that no
// delivery was ever being attempted twice at once.
func TestClusterSurvivesANode(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the herald binary")
	}
	db := pgtest.URL(t)
	rc := newReceiver(t, nil)
	rc.hold = 2 * time.Millisecond // attempts of one delivery that overlapped would meet here
	const admin = "cluster-test-admin-key-0123456789"
	args := []string{"--database", db, "--secret-key", seal.NewKey(), "--admin-key", admin,
		"--allow-destinations", "127.0.0.1/32", "--poll-interval", "50ms", "--lease-margin", "1s"}
	a := startProcess(t, args...)
	b := startProcess(t, args...)

	if code := call(t, "POST", a.url+"/v1/tenants", admin, map[string]any{"id": "acme"}, nil); code != 201 {
		t.Fatalf("create tenant: %d", code)
	}
	// A lease is the 2s timeout plus the 1s margin: the survivor takes the
	// dead node's deliveries 3s after it claimed them.
	paths := []string{"/a", "/b"}
	for _, path := range paths {
		addEndpoint(t, b.url, admin, rc, path, map[string]any{
			"tenantId": "acme", "events": []string{"order.*"}, "timeout": "2s", "maxInFlight": 16,
		})
	}

	accepted := produce(t, []string{a.url, b.url}, admin, 150, func() {
		if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Error(err)
		}
		_ = a.cmd.Wait()
	})
	killed := time.Now()
	if !rc.waitUntil(60*time.Second, func() bool { return rc.missing(accepted, paths) == 0 }) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		t.Fatalf("%d of %d deliveries did not arrive within 60s of the kill", rc.missing(accepted, paths), len(accepted)*len(paths))
	}
	took := time.Since(killed)

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.badSigs != 0 {
		t.Errorf("%d requests failed verification; last: %v", rc.badSigs, rc.lastBad)
	}
	if rc.overlap != 0 {
		t.Errorf("%d requests arrived while another attempt of the same delivery was in flight", rc.overlap)
	}
	dups, most := rc.duplicates()
	t.Logf("%d events accepted by two nodes, %d deliveries expected, %d distinct received, %d requests in all; "+
		"%d duplicates (at most %d of one); all arrived %s after the kill",
		len(accepted), len(accepted)*len(paths), len(rc.got), rc.total, dups, most, took.Round(time.Millisecond))
}

// TestClusterFirstStart starts two nodes on a new PostgreSQL database at
// once, with no --admin-key: one admin key is created and printed, and it
// works on both nodes.
func TestClusterFirstStart(t *testing.T) {
	t.Parallel()
	args := []string{"--database", pgtest.URL(t), "--secret-key", seal.NewKey()}
	nodes := make([]*instance, 2)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i] = startServe(t, t.TempDir(), args...)
		}()
	}
	wg.Wait()
	var keys []string
	for _, n := range nodes {
		if n.adminKey != "" {
			keys = append(keys, n.adminKey)
		}
	}
	if len(keys) != 1 {
		t.Fatalf("%d nodes printed an admin key, want exactly 1", len(keys))
	}
	for i, n := range nodes {
		if code := call(t, "GET", n.url+"/v1/tenants", keys[0], nil, nil); code != 200 {
			t.Errorf("node %d: GET /v1/tenants with the admin key: %d, want 200", i, code)
		}
	}
}

// TestRoleWorker: a worker node serves health and metrics only.
func TestRoleWorker(t *testing.T) {
	t.Parallel()
	n := startServe(t, t.TempDir(), "--database", pgtest.URL(t), "--secret-key", seal.NewKey(), "--role", "worker")
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/v1/tenants": 404, "/v1/events": 404} {
		if got := get(t, n.url+path, n.adminKey).code; got != want {
			t.Errorf("GET %s on a worker: %d, want %d", path, got, want)
		}
	}
}
