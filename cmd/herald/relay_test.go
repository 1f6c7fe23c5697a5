package main

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// TestRelayEndToEnd: a producer commits an event into a SQLite outbox and
// rolls another back; `herald relay` hands the committed one to `herald
// serve`, which delivers it to a real receiver. The rolled-back one never
// exists in Herald.
func TestRelayEndToEnd(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	srv := startServe(t, t.TempDir(), "--allow-destinations", "127.0.0.1/32")
	if code := call(t, "POST", srv.url+"/v1/tenants", srv.adminKey, map[string]any{"id": "acme"}, nil); code != 201 {
		t.Fatalf("create tenant: %d", code)
	}
	var key struct{ Key string }
	if code := call(t, "POST", srv.url+"/v1/tenants/acme/api-keys", srv.adminKey, nil, &key); code != 201 {
		t.Fatalf("create key: %d", code)
	}
	addEndpoint(t, srv.url, key.Key, rc, "/orders", map[string]any{"events": []string{"order.shipped"}})

	shop := filepath.Join(t.TempDir(), "shop.db")
	db, err := sql.Open("sqlite", "file:"+shop+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ob, err := outbox.New(outbox.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := ob.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	write := func(commit bool, orderID string) string {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		id, err := ob.Write(ctx, tx, outbox.Event{TenantID: "acme", Type: "order.shipped", Data: map[string]string{"orderId": orderID}})
		if err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	shipped := write(true, "o_1")
	ghost := write(false, "o_2")

	rctx, stop := context.WithCancel(ctx)
	var logs bytes.Buffer
	done := make(chan int, 1)
	env := map[string]string{"HERALD_URL": srv.url, "HERALD_KEY": srv.adminKey}
	go func() {
		done <- run(rctx, []string{"relay", "--source", shop, "--poll-interval", "20ms"}, func(k string) string { return env[k] }, &bytes.Buffer{}, &logs)
	}()
	if !rc.waitUntil(30*time.Second, func() bool { return rc.got[receipt{"/orders", shipped}] > 0 }) {
		stop()
		<-done
		t.Fatalf("event %s was not delivered within 30s; relay log:\n%s", shipped, logs.String())
	}
	stop()
	if code := <-done; code != 0 {
		t.Fatalf("relay exited with %d:\n%s", code, logs.String())
	}
	if code := call(t, "GET", srv.url+"/v1/events/"+ghost, srv.adminKey, nil, nil); code != 404 {
		t.Errorf("GET the rolled-back event: %d, want 404", code)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM herald_outbox").Scan(&n); err != nil || n != 0 {
		t.Errorf("outbox rows: %d, %v; want 0", n, err)
	}
	if !strings.Contains(logs.String(), "relayed=1") {
		t.Errorf("the relay did not report 1 relayed:\n%s", logs.String())
	}
}

var relayingRe = regexp.MustCompile(`msg=(relaying)`)

// Bad command lines stop `herald relay` with one line and a non-zero code.
func TestRelayCommandErrors(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nope.db")
	for _, tc := range []struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		{[]string{"relay", "--server", "http://127.0.0.1:1", "--key", "k"}, nil, exitUsage, "--source (or HERALD_RELAY_SOURCE) is required"},
		{[]string{"relay", "--source", missing, "--key", "k"}, nil, exitUsage, "--server (or HERALD_URL) is required"},
		{[]string{"relay", "--source", missing, "--server", "http://127.0.0.1:1"}, nil, exitUsage, "--key (or HERALD_KEY) is required"},
		{[]string{"relay", "--source", missing, "--server", "ftp://x", "--key", "k"}, nil, exitUsage, "invalid --server"},
		{[]string{"relay", "--source", missing, "--key", "k", "--after-relay", "keep"}, map[string]string{"HERALD_URL": "http://127.0.0.1:1"}, exitUsage, "invalid --after-relay: must be delete or mark"},
		{[]string{"relay", "--source", missing, "--server", "http://127.0.0.1:1", "--key", "k"}, map[string]string{"HERALD_RELAY_BATCH_SIZE": "501"}, exitUsage, "invalid HERALD_RELAY_BATCH_SIZE (--batch-size)"},
		{[]string{"relay", "--source", missing, "--server", "http://127.0.0.1:1", "--key", "k", "--poll-interval", "0s"}, nil, exitUsage, "invalid --poll-interval"},
		{[]string{"relay", "--source", missing, "--server", "http://127.0.0.1:1", "--key", "k", "--table", "Bad-Name"}, nil, exitUsage, "invalid --table"},
		{[]string{"relay", "--source", missing, "--server", "http://127.0.0.1:1", "--key", "k"}, nil, exitError, "no such file"},
	} {
		var stderr bytes.Buffer
		code := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, &bytes.Buffer{}, &stderr)
		out := stderr.String()
		if code != tc.code || !strings.Contains(out, tc.want) || strings.Count(out, "\n") != 1 {
			t.Errorf("%v: exit %d, %q; want exit %d and one line with %q", tc.args, code, out, tc.code, tc.want)
		}
	}
}

// A source without the outbox table is one clear error, unless
// --create-table creates it.
func TestRelayMissingTable(t *testing.T) {
	t.Parallel()
	shop := filepath.Join(t.TempDir(), "shop.db")
	db, err := sql.Open("sqlite", "file:"+shop)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE orders (id TEXT)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"relay", "--source", shop, "--server", "http://127.0.0.1:1", "--key", "k"}, func(string) string { return "" }, &bytes.Buffer{}, &stderr)
	if code != exitError || !strings.Contains(stderr.String(), "--create-table") || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("exit %d, %q; want exit 1 naming --create-table", code, stderr.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := newLogBuffer()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"relay", "--source", shop, "--server", "http://127.0.0.1:1", "--key", "k", "--create-table"}, func(string) string { return "" }, &bytes.Buffer{}, log)
	}()
	log.wait(t, relayingRe, done)
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("with --create-table: exit %d:\n%s", code, log)
	}
}
