package server

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/seal"
	"github.com/heraldhq/herald/internal/sqlite"
)

// openStore opens a migrated SQLite store in a temp dir.
func openStore(t testing.TB) hook.Store {
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
