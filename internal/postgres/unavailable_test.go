package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/postgres"
)

// terminate ends every connection to the database of url but the caller's
// own, from a connection of its own.
func terminate(t *testing.T, url string) int {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestUnavailable ends the store's connections under it: a query in flight
// fails as unavailable (hook.ErrUnavailable), and the pool then recovers.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	db := openTest(t, url)
	ctx := t.Context()

	// A query in flight when its backend is terminated.
	errc := make(chan error, 1)
	go func() {
		_, err := db.Pool().Exec(ctx, "SELECT pg_sleep(30)")
		errc <- err
	}()
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for {
		var n int
		err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'SELECT pg_sleep(30)' AND state = 'active'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		select {
		case err := <-errc:
			t.Fatalf("pg_sleep ended before it was terminated: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	err = <-errc
	if !postgres.IsUnavailable(err) {
		t.Errorf("IsUnavailable(%v) = false for a query whose backend was terminated", err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code != "57P01" {
		t.Errorf("SQLSTATE = %s, want 57P01 admin_shutdown", pe.Code)
	}

	// Every idle connection terminated: the next calls either fail as
	// unavailable (a connection the pool thought alive) or succeed on a new
	// one; within a few, the pool has replaced them all.
	terminate(t, url)
	recovered := false
	for i := range 20 {
		_, err := db.Tenant(ctx, hook.OperationalTenant)
		if err == nil {
			recovered = true
			break
		}
		if !errors.Is(err, hook.ErrUnavailable) || !postgres.IsUnavailable(err) {
			t.Fatalf("call %d after terminate: %v; want success or hook.ErrUnavailable", i, err)
		}
	}
	if !recovered {
		t.Error("the pool did not recover after its connections were terminated")
	}
	if err := db.Ping(ctx); err != nil {
		t.Errorf("Ping after recovery: %v", err)
	}
}

// TestUnavailableErrors classifies errors without a server.
func TestUnavailableErrors(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1: Open fails as unavailable.
	_, err := postgres.Open(t.Context(), "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=5",
		postgres.Options{Secrets: newBox(t)})
	if !errors.Is(err, hook.ErrUnavailable) || !postgres.IsUnavailable(err) {
		t.Errorf("Open of a closed port = %v; want hook.ErrUnavailable", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "57P01"}, true},
		{fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: "08006"}), true},
		{&pgconn.PgError{Code: "53300"}, true},
		{&pgconn.PgError{Code: "23505"}, false},
		{&pgconn.PgError{Code: "28P01"}, false}, // a wrong password is not an outage
		{&pgconn.PgError{Code: "57014"}, false}, // query_canceled
		{ctx.Err(), false},
		{errors.New("something else"), false},
		{nil, false},
		{hook.ErrUnavailable, true},
	} {
		if got := postgres.IsUnavailable(tc.err); got != tc.want {
			t.Errorf("IsUnavailable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestListen wakes on an ingest that made deliveries, and again after its
// connection was terminated and it reconnected.
func TestListen(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	db := openTest(t, url)
	setup(t, db, 1, 0)
	ctx, cancel := context.WithCancel(t.Context())
	wakes := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- db.Listen(ctx, func() {
			select {
			case wakes <- struct{}{}:
			default: // one pending wake is enough
			}
		})
	}()
	wait := func(what string) {
		t.Helper()
		select {
		case <-wakes:
		case <-time.After(20 * time.Second):
			t.Fatalf("no wake %s", what)
		}
	}
	ingestOne := func() {
		t.Helper()
		ev := hook.Event{ID: hook.NewID(hook.PrefixEvent), TenantID: "acme", Type: "a.b", Data: json.RawMessage(`{}`), CreatedAt: t0}
		if _, err := db.Ingest(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	wait("on connecting") // Listen is listening once it has woken
	ingestOne()
	wait("after an ingest")

	// Only the listener's connection: the store's own would fail the
	// next ingest (see TestUnavailable).
	var n int
	err := db.Pool().QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN herald_deliveries'`).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("terminate the listener: %d terminated, %v; want 1", n, err)
	}
	wait("on reconnecting")
	ingestOne()
	wait("after an ingest on the new connection")

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Listen = %v, want nil once its context ended", err)
	}
}
