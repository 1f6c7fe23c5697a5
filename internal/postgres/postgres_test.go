package postgres_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/postgres"
	"github.com/heraldhq/herald/internal/seal"
	"github.com/heraldhq/herald/internal/storetest"
)

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) hook.Store { return openTest(t, pgtest.URL(t)) })
}

// testKey is the key every test database is sealed with.
var testKey = bytes.Repeat([]byte{7}, seal.KeySize)

func newBox(t testing.TB) *seal.Box {
	t.Helper()
	box, err := seal.New(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// openTest opens and migrates the database at url, closed when the test
// ends.
func openTest(t testing.TB, url string) *postgres.DB {
	t.Helper()
	db := openNoMigrate(t, url)
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// openNoMigrate opens the database at url, closed when the test ends.
func openNoMigrate(t testing.TB, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url, postgres.Options{Secrets: newBox(t), MaxConns: 8})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}
