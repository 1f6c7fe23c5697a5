package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// TestClaimEndpointNeverOlderThanCommitted: while endpoints are updated on
// the writer and, in turn, by another connection (a sqlite3 shell), every
// claim returns each endpoint's URL, secret and headers as new as the
// last update committed before the claim began (db.endpoints, whose
// version and full read are separate queries on the read pool), and a
// caller changing the claim's maps and lists changes nothing the next
// claim returns.
func TestClaimEndpointNeverOlderThanCommitted(t *testing.T) {
	ctx := context.Background()
	db, eps, now := claimSetup(t, Options{}, 3, 1000)
	shell := otherConn(t, db)
	var committed [3]atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := int64(1); ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				url := fmt.Sprintf("https://example.com/%d", n)
				if n%3 == 0 {
					if _, err := shell.ExecContext(ctx, `UPDATE endpoints SET url = ? WHERE id = ?`, url, eps[i].ID); err != nil {
						t.Error(err)
						return
					}
				} else {
					e := eps[i]
					e.URL = url
					e.Secrets = []hook.Secret{{Key: "whsec_" + strconv.FormatInt(n, 10)}}
					e.Headers = map[string]string{"X-N": strconv.FormatInt(n, 10)}
					if err := db.UpdateEndpoint(ctx, e); err != nil {
						t.Error(err)
						return
					}
				}
				committed[i].Store(n)
			}
		}()
	}
	deadline := time.Now().Add(3 * time.Second)
	claims := 0
	for time.Now().Before(deadline) && !t.Failed() {
		var before [3]int64
		for i := range eps {
			before[i] = committed[i].Load()
			ingestTo(t, db, i, 2, now)
		}
		for _, c := range claimAt(t, db, now.Add(time.Second), 100) {
			claims++
			i, _ := strconv.Atoi(strings.TrimPrefix(c.Endpoint.ID, "ep_"))
			n := int64(0)
			if s := strings.TrimPrefix(c.Endpoint.URL, "https://example.com/"); s != "hook" {
				n, _ = strconv.ParseInt(s, 10, 64)
			}
			if n < before[i] {
				t.Errorf("claim returned %s with URL %s; %d was committed before the claim", c.Endpoint.ID, c.Endpoint.URL, before[i])
			}
			// A caller that changes what it was given.
			if c.Endpoint.Headers != nil {
				c.Endpoint.Headers["X-Mutated"] = "yes"
			}
			if len(c.Endpoint.Secrets) > 0 {
				c.Endpoint.Secrets[0].Key = "mutated"
			}
			c.Endpoint.Events[0] = "mutated"
			complete(t, db, c, now, hook.DeliverySucceeded, time.Time{})
		}
		for _, c := range claimAt(t, db, now.Add(time.Second), 100) {
			if c.Endpoint.Headers["X-Mutated"] != "" || (len(c.Endpoint.Secrets) > 0 && c.Endpoint.Secrets[0].Key == "mutated") || c.Endpoint.Events[0] == "mutated" {
				t.Errorf("a caller's change reached the next claim: %+v", c.Endpoint)
			}
			complete(t, db, c, now, hook.DeliverySucceeded, time.Time{})
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d claims checked", claims)
}

// otherConn opens the database file on a connection of its own, as a
// sqlite3 shell would.
func otherConn(t *testing.T, db *DB) *sql.DB {
	t.Helper()
	var seq int
	var name, path string
	if err := db.read.QueryRow("PRAGMA database_list").Scan(&seq, &name, &path); err != nil {
		t.Fatal(err)
	}
	shell, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shell.Close() })
	return shell
}

// TestEndpointCacheBound: claims keep at most the cache's limit of
// endpoints, however many one claim opens (the default limit is
// versionedLimit; this test lowers it so as not to create thousands).
func TestEndpointCacheBound(t *testing.T) {
	ctx := context.Background()
	db, _, now := claimSetup(t, Options{}, 0, 1)
	const limit = 50
	db.endpoints.limit = limit
	const n = limit + 30
	for i := range n {
		ep := hook.Endpoint{
			ID: fmt.Sprintf("ep_%05d", i), TenantID: "acme", URL: "https://example.com/hook",
			Events: []string{"t.all"}, Secrets: []hook.Secret{{Key: "whsec_x"}}, SignatureScheme: hook.SchemeStandard,
			MaxInFlight: 1, Timeout: time.Second, Status: hook.EndpointActive, CreatedAt: now, UpdatedAt: now,
		}
		if err := db.CreateEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
	}
	ev := hook.Event{ID: hook.NewID(hook.PrefixEvent), TenantID: "acme", Type: "t.all", Data: []byte(`{}`), CreatedAt: now}
	if _, err := db.IngestBatch(ctx, []hook.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if cs := claimAt(t, db, now.Add(time.Second), n); len(cs) != n {
		t.Fatalf("claimed %d, want %d", len(cs), n)
	}
	if kept := db.endpoints.len(); kept != limit {
		t.Errorf("claims keep %d endpoints, want the limit %d", kept, limit)
	}
}
