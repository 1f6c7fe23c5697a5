package main

import (
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
