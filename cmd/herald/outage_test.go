package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/seal"
)

// TestDatabaseOutage takes a node's PostgreSQL database away mid-run: it
// refuses new connections to that database (and only that one) and ends
// its connections, for a while, then lets it back. Meanwhile ingest
// answers 503 with Retry-After, never 202; afterwards the same node, never
// restarted, delivers every event it accepted.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the herald binary")
	}
	db := pgtest.URL(t)
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	rc := newReceiver(t, nil)
	const admin = "outage-test-admin-key-0123456789"
	n := startProcess(t, "--database", db, "--secret-key", seal.NewKey(), "--admin-key", admin,
		"--allow-destinations", "127.0.0.1/32", "--poll-interval", "50ms", "--lease-margin", "1s")
	if code := call(t, "POST", n.url+"/v1/tenants", admin, map[string]any{"id": "acme"}, nil); code != 201 {
		t.Fatalf("create tenant: %d", code)
	}
	addEndpoint(t, n.url, admin, rc, "/a", map[string]any{"tenantId": "acme", "events": []string{"order.*"}, "timeout": "2s"})

	var (
		mu       sync.Mutex
		accepted []string
		statuses = map[string]map[int]int{} // phase → status → count
		phase    = "before"
	)
	post := func(i int) {
		id := fmt.Sprintf("ord_%d", i)
		code, retryAfter := postEvent(t, n.url, admin, id)
		mu.Lock()
		defer mu.Unlock()
		if statuses[phase] == nil {
			statuses[phase] = map[int]int{}
		}
		statuses[phase][code]++
		switch {
		case code == 202:
			accepted = append(accepted, id)
			if phase == "down" {
				t.Errorf("event %s answered 202 while the database was away", id)
			}
		case code == 503 && retryAfter == "":
			t.Errorf("503 without Retry-After")
		case code != 503:
			t.Errorf("event %s answered %d", id, code)
		}
	}
	setPhase := func(p string) {
		mu.Lock()
		phase = p
		mu.Unlock()
	}

	i := 0
	for ; i < 100; i++ {
		post(i)
	}
	// Away: no new connections to this database, and its current ones
	// ended. The in-between phase covers requests that raced the cut.
	setPhase("cutting")
	adminExec(t, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" ALLOW_CONNECTIONS false")
	t.Cleanup(func() { adminExec(t, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" ALLOW_CONNECTIONS true") })
	adminExec(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name)
	for j := 0; j < 5; j, i = j+1, i+1 {
		post(i)
	}
	setPhase("down")
	for j := 0; j < 50; j, i = j+1, i+1 {
		post(i)
	}
	adminExec(t, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" ALLOW_CONNECTIONS true")
	setPhase("after")
	// Back: the node reconnects by itself; ingest and delivery resume.
	deadline := time.Now().Add(30 * time.Second)
	for ok := false; !ok; i++ {
		code, _ := postEvent(t, n.url, admin, fmt.Sprintf("ord_%d", i))
		if code == 202 {
			mu.Lock()
			accepted = append(accepted, fmt.Sprintf("ord_%d", i))
			mu.Unlock()
			ok = true
		}
		if !ok && time.Now().After(deadline) {
			t.Fatalf("ingest did not recover within 30s; last status %d", code)
		}
		if !ok {
			time.Sleep(20 * time.Millisecond)
		}
	}
	for j := 0; j < 100; j, i = j+1, i+1 {
		post(i)
	}

	mu.Lock()
	defer mu.Unlock()
	if statuses["down"][503] == 0 {
		t.Errorf("no 503 while the database was away: %v", statuses)
	}
	if !rc.waitUntil(30*time.Second, func() bool { return rc.missing(accepted, []string{"/a"}) == 0 }) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		t.Fatalf("%d of %d accepted events were not delivered", rc.missing(accepted, []string{"/a"}), len(accepted))
	}
	if n.cmd.ProcessState != nil {
		t.Errorf("the node exited: %v", n.cmd.ProcessState)
	}
	t.Logf("statuses by phase: %v; %d accepted, all delivered", statuses, len(accepted))
}

// postEvent posts one event and returns its status and Retry-After.
func postEvent(t testing.TB, base, key, id string) (int, string) {
	t.Helper()
	body := fmt.Sprintf(`{"id": %q, "tenantId": "acme", "type": "order.shipped", "data": {}}`, id)
	req, err := http.NewRequest("POST", base+"/v1/events", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post event: %v", err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Retry-After")
}

// adminExec runs one statement on the test server's own database, outside
// the test's database.
func adminExec(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, os.Getenv(pgtest.EnvURL))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
