package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/seal"
)

// TestCheckpointer: with checkpoints of its own, the log is copied into the
// database file while the DB is open and the writer never checkpoints; left
// to SQLite, a small log stays in the log.
func TestCheckpointer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		interval time.Duration
		copied   bool
	}{{"own", 5 * time.Millisecond, true}, {"sqlite", -1, false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			box, err := seal.New(make([]byte, seal.KeySize))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "herald.db")
			ctx := context.Background()
			db, err := Open(ctx, path, Options{Secrets: box, CheckpointInterval: tc.interval})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if err := db.CreateTenant(ctx, hook.Tenant{ID: "acme", CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			size := func() int64 {
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				return fi.Size()
			}
			before := size()
			for i := range 50 {
				ev := hook.Event{ID: fmt.Sprintf("evt_%d", i), TenantID: "acme", Type: "a.b",
					Data: fmt.Appendf(nil, `{"n":%d,"pad":"%0512d"}`, i, 0)}
				if _, err := db.Ingest(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for tc.copied && size() == before && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if tc.copied {
				time.Sleep(50 * time.Millisecond) // let a few more checkpoints run
			}
			if grew := size() > before; grew != tc.copied {
				t.Errorf("database file %d bytes, %d before the writes: copied = %v, want %v", size(), before, grew, tc.copied)
			}
		})
	}
}
