package server

import (
	"testing"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/sqlitetest"
)

// openStore opens a migrated SQLite store in a temp dir.
func openStore(t testing.TB) hook.Store { return sqlitetest.Open(t) }
