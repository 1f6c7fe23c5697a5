package webhook_test

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/webhook"
)

// stores lists a constructor of each Store, each returning an empty one.
var stores = []struct {
	name string
	open func(t *testing.T) webhook.Store
}{
	{"memory", func(t *testing.T) webhook.Store { return webhook.NewMemoryStore(1000) }},
	{"sqlite", func(t *testing.T) webhook.Store { return openSQLite(t) }},
	{"postgres", func(t *testing.T) webhook.Store { return openPostgres(t) }},
}

func openSQLite(t *testing.T) *webhook.SQLStore {
	t.Helper()
	// Concurrent deliveries write at once; the busy timeout makes them
	// wait for SQLite's one writer instead of failing.
	dsn := "file:" + filepath.Join(t.TempDir(), "dedupe.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
	return openSQL(t, "sqlite", dsn, webhook.NewSQLiteStore)
}

func openPostgres(t *testing.T) *webhook.SQLStore {
	t.Helper()
	return openSQL(t, "pgx", pgtest.URL(t), webhook.NewPostgresStore)
}

func openSQL(t *testing.T, driver, dsn string, newStore func(*sql.DB) *webhook.SQLStore) *webhook.SQLStore {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := newStore(db)
	for range 2 { // twice: CreateTable is idempotent
		if err := s.CreateTable(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// t0 is whole seconds, which every store keeps exactly.
var t0 = time.Date(2026, 5, 8, 10, 15, 0, 0, time.UTC)

func TestStore(t *testing.T) {
	t.Parallel()
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			testStore(t, st.open(t))
		})
	}
}

// testStore checks the behaviour every Store must have.
func testStore(t *testing.T, s webhook.Store) {
	ctx := t.Context()
	claim := func(id, token string, now time.Time, want webhook.ClaimState, wantUntil time.Time) {
		t.Helper()
		got, err := s.Claim(ctx, id, token, now, now.Add(5*time.Minute))
		if err != nil {
			t.Fatalf("Claim(%s, %s): %v", id, token, err)
		}
		if got.State != want || !got.Until.Equal(wantUntil) {
			t.Fatalf("Claim(%s, %s) = %v until %v, want %v until %v", id, token, got.State, got.Until, want, wantUntil)
		}
	}
	lease := t0.Add(5 * time.Minute)

	// A claim holds until it is released by its holder.
	claim("a", "tok1", t0, webhook.Claimed, lease)
	claim("a", "tok2", t0.Add(time.Minute), webhook.InProgress, lease)
	if err := s.Release(ctx, "a", "tok2"); err != nil {
		t.Fatal(err)
	}
	claim("a", "tok2", t0.Add(time.Minute), webhook.InProgress, lease)
	if err := s.Release(ctx, "a", "tok1"); err != nil {
		t.Fatal(err)
	}
	claim("a", "tok3", t0, webhook.Claimed, lease)

	// Done is remembered until its time, whatever claims come.
	kept := t0.Add(7 * 24 * time.Hour)
	if err := s.Done(ctx, "a", kept); err != nil {
		t.Fatal(err)
	}
	claim("a", "tok4", t0.Add(time.Hour), webhook.Processed, kept)
	if err := s.Release(ctx, "a", "tok3"); err != nil {
		t.Fatal(err)
	}
	claim("a", "tok4", kept.Add(-time.Second), webhook.Processed, kept)
	claim("a", "tok4", kept, webhook.Claimed, kept.Add(5*time.Minute))

	// An expired claim is taken over, and its old holder cannot release
	// the new one.
	claim("b", "old", t0, webhook.Claimed, lease)
	claim("b", "new", lease, webhook.Claimed, lease.Add(5*time.Minute))
	if err := s.Release(ctx, "b", "old"); err != nil {
		t.Fatal(err)
	}
	claim("b", "third", lease.Add(time.Minute), webhook.InProgress, lease.Add(5*time.Minute))
	// The old holder finishing still counts: the work was done.
	if err := s.Done(ctx, "b", kept); err != nil {
		t.Fatal(err)
	}
	claim("b", "third", lease.Add(time.Minute), webhook.Processed, kept)

	// Done without a claim (one purged, say) records the id too.
	if err := s.Done(ctx, "c", kept); err != nil {
		t.Fatal(err)
	}
	claim("c", "tok", t0, webhook.Processed, kept)

	// Of concurrent claims exactly one wins.
	const n = 10
	var wg sync.WaitGroup
	results := make(chan webhook.ClaimState, n)
	for i := range n {
		wg.Go(func() {
			c, err := s.Claim(ctx, "d", fmt.Sprint("tok", i), t0, lease)
			if err != nil {
				t.Error(err)
			}
			results <- c.State
		})
	}
	wg.Wait()
	close(results)
	count := map[webhook.ClaimState]int{}
	for st := range results {
		count[st]++
	}
	if count[webhook.Claimed] != 1 || count[webhook.InProgress] != n-1 {
		t.Errorf("%d concurrent claims: %v, want 1 claimed and %d in progress", n, count, n-1)
	}
}

func TestSQLStorePurge(t *testing.T) {
	t.Parallel()
	for _, st := range []struct {
		name string
		open func(*testing.T) *webhook.SQLStore
	}{{"sqlite", openSQLite}, {"postgres", openPostgres}} {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			s := st.open(t)
			ctx := t.Context()
			for i := range 1500 { // more than one purge batch
				if err := s.Done(ctx, fmt.Sprint("old", i), t0); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Done(ctx, "new", t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			n, err := s.Purge(ctx, t0)
			if err != nil || n != 1500 {
				t.Fatalf("Purge = %d, %v; want 1500, nil", n, err)
			}
			if c, err := s.Claim(ctx, "new", "tok", t0, t0.Add(time.Minute)); err != nil || c.State != webhook.Processed {
				t.Errorf("Claim(new) after purge = %v, %v; want processed", c.State, err)
			}
		})
	}
}

func TestMemoryStoreBounded(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := webhook.NewMemoryStore(3)
	kept := t0.Add(time.Hour)
	for _, id := range []string{"a", "b", "c"} {
		if err := s.Done(ctx, id, kept); err != nil {
			t.Fatal(err)
		}
	}
	// Full: a new claim evicts the oldest processed id.
	if c, err := s.Claim(ctx, "d", "tok", t0, t0.Add(time.Minute)); err != nil || c.State != webhook.Claimed {
		t.Fatalf("Claim(d) on a full store = %v, %v; want claimed", c.State, err)
	}
	if got := s.Len(); got != 3 {
		t.Errorf("Len = %d, want 3", got)
	}
	for id, want := range map[string]webhook.ClaimState{"b": webhook.Processed, "c": webhook.Processed, "d": webhook.InProgress} {
		if c, _ := s.Claim(ctx, id, "other", t0, t0.Add(time.Minute)); c.State != want {
			t.Errorf("Claim(%s) = %v, want %v", id, c.State, want)
		}
	}
	// Claims are never evicted while they hold.
	for _, id := range []string{"e", "f"} {
		if _, err := s.Claim(ctx, id, "tok", t0, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Claim(ctx, "g", "tok", t0, t0.Add(time.Minute)); !errors.Is(err, webhook.ErrStoreFull) {
		t.Fatalf("Claim on a store full of claims: %v, want ErrStoreFull", err)
	}
	// Once they expire, they make room.
	if c, err := s.Claim(ctx, "g", "tok", t0.Add(time.Minute), t0.Add(2*time.Minute)); err != nil || c.State != webhook.Claimed {
		t.Fatalf("Claim once the claims expired = %v, %v; want claimed", c.State, err)
	}
	// Processed ids are forgotten once they expire.
	s = webhook.NewMemoryStore(10)
	for i := range 5 {
		s.Done(ctx, fmt.Sprint(i), t0.Add(time.Duration(i)*time.Second))
	}
	s.Claim(ctx, "x", "tok", t0.Add(3*time.Second), t0.Add(time.Hour))
	if got := s.Len(); got != 2 { // "4" and "x"
		t.Errorf("Len after 4 of 5 ids expired and one claim = %d, want 2", got)
	}
}

func TestClaimStateString(t *testing.T) {
	t.Parallel()
	for st, want := range map[webhook.ClaimState]string{
		webhook.Claimed: "claimed", webhook.InProgress: "in progress", webhook.Processed: "processed", 0: "ClaimState(0)",
	} {
		if got := st.String(); got != want {
			t.Errorf("ClaimState(%d).String() = %q, want %q", int(st), got, want)
		}
	}
}
