package postgres_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/postgres"
)

// syncBuffer is a bytes.Buffer for a logger shared with other goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMigrateWarnsWithoutVacuum checks that Migrate warns when nothing will
// vacuum Herald's tables: always when the server's autovacuum is off (as
// on the machines this project's CI runs on), and naming the table when
// autovacuum_enabled is turned off on deliveries alone.
func TestMigrateWarnsWithoutVacuum(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	var logs syncBuffer
	db, err := postgres.Open(ctx, url, postgres.Options{Secrets: newBox(t),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var server bool
	if err := conn.QueryRow(ctx, `SELECT current_setting('autovacuum')::bool
		AND current_setting('track_counts')::bool`).Scan(&server); err != nil {
		t.Fatal(err)
	}

	warned := func() string {
		t.Helper()
		for line := range strings.Lines(logs.String()) {
			if strings.Contains(line, "level=WARN") && strings.Contains(line, "vacuum") {
				return line
			}
		}
		return ""
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if got := warned(); server != (got == "") {
		t.Fatalf("server autovacuum on: %v; warning after Migrate: %q", server, got)
	}

	if _, err := conn.Exec(ctx, "ALTER TABLE deliveries SET (autovacuum_enabled = off)"); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	got := warned()
	if !strings.Contains(got, "deliveries") {
		t.Fatalf("autovacuum_enabled off on deliveries: warning %q does not name it", got)
	}
	if server && strings.Contains(got, "attempts") {
		t.Fatalf("only deliveries has autovacuum off, warning names attempts too: %q", got)
	}
}
