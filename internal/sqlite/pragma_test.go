package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/seal"
)

// TestPragmas checks the settings every connection is opened with: they
// are per connection in SQLite, so a pooled connection without them would
// silently drop foreign keys or durability.
func TestPragmas(t *testing.T) {
	t.Parallel()
	box, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "herald.db"), Options{Secrets: box, ReadConns: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	type querier interface {
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
	check := func(name string, q querier, want map[string]string) {
		t.Helper()
		for pragma, w := range want {
			var got string
			if err := q.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatalf("%s: PRAGMA %s: %v", name, pragma, err)
			}
			if got != w {
				t.Errorf("%s: PRAGMA %s = %s, want %s", name, pragma, got, w)
			}
		}
	}
	err = db.w.exclusive(t.Context(), func(ctx context.Context, c *sql.Conn) error {
		check("writer", c, map[string]string{
			"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "busy_timeout": "5000", "query_only": "0", "temp_store": "2",
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Hold every reader at once, so each pooled connection is checked.
	var conns []*sql.Conn
	for range 3 {
		c, err := db.read.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		check("reader", c, map[string]string{"foreign_keys": "1", "busy_timeout": "5000", "query_only": "1"})
		if _, err := c.ExecContext(t.Context(), "CREATE TABLE t (x)"); err == nil {
			t.Error("a reader wrote")
		}
	}
	for _, c := range conns {
		c.Close()
	}
}
