// Package pgtest gives each PostgreSQL test a database of its own.
//
// Tests that need PostgreSQL call URL. They run when HERALD_TEST_POSTGRES_URL
// names a server, for example
//
//	HERALD_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' go test ./...
//
// and skip otherwise, unless HERALD_REQUIRE_SERVICES=1 (as in CI), where a
// missing server fails them instead, so that a misconfigured CI cannot pass
// by skipping.
package pgtest

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables read by URL.
const (
	EnvURL             = "HERALD_TEST_POSTGRES_URL"
	EnvRequireServices = "HERALD_REQUIRE_SERVICES"
)

// adminTimeout bounds each CREATE or DROP, so that a server that hangs fails
// the test instead of the whole test binary timing out.
const adminTimeout = 30 * time.Second

// URL returns the URL of a new, empty database that exists for the duration
// of t, on the server that HERALD_TEST_POSTGRES_URL names. The URL's user
// must be allowed to create databases. When t ends, URL ends the connections
// to that database, and only those, and drops it; the server and its other
// databases are never touched, so tests may run in parallel, in several
// packages at once.
//
// Without HERALD_TEST_POSTGRES_URL, URL skips t, or fails it if
// HERALD_REQUIRE_SERVICES=1.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		const how = "set " + EnvURL + " (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) to run them"
		if os.Getenv(EnvRequireServices) == "1" {
			t.Fatal("PostgreSQL tests cannot run: " + EnvRequireServices + "=1 requires them, but " + EnvURL + " is unset; " + how)
		}
		t.Skip("PostgreSQL tests skipped: " + how)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: %s is not a URL: %v", EnvURL, err)
	}
	name := databaseName(t)
	exec(t, base, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	t.Cleanup(func() {
		// Connections a test left open (a pool not closed, a leaked
		// transaction) would make DROP DATABASE fail. End them, and only
		// them: the same server may be serving other tests' databases.
		exec(t, base, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name)
		exec(t, base, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	})
	u.Path = "/" + name
	return u.String()
}

// databaseName makes a unique database name that also says which test made
// it, for whoever finds one that a killed test run left behind.
func databaseName(t testing.TB) string {
	var b strings.Builder
	b.WriteString("herald_test_")
	for _, r := range strings.ToLower(t.Name()) {
		if b.Len() >= 40 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	// PostgreSQL names hold 63 bytes; 40 + "_" + 22 fits.
	b.WriteByte('_')
	b.WriteString(strings.ToLower(rand.Text()[:22]))
	return b.String()
}

// exec runs one statement on the server named by base, on a connection of
// its own: CREATE and DROP DATABASE cannot run in a transaction or in the
// database they drop.
func exec(t testing.TB, base, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", redact(base), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}

// redact hides the password of a URL printed in a failure.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the server"
	}
	return u.Redacted()
}
