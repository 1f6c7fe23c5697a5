// Package sqlitetest opens real SQLite stores for the tests of other
// packages: a migrated database in the test's temporary directory, closed
// when the test ends.
package sqlitetest

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/seal"
	"github.com/heraldhq/herald/internal/sqlite"
)

// Open opens a migrated store in t.TempDir(), with a fixed sealing key.
func Open(t testing.TB) *sqlite.DB {
	t.Helper()
	ctx := context.Background()
	box, err := seal.New(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "herald.db"), sqlite.Options{Secrets: box})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}
