package webhook

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// SQLTable is the table an SQLStore keeps its ids in. CreateTable makes it.
const SQLTable = "webhook_dedupe"

// purgeEvery is how often Claim deletes expired rows as a side effect, so
// that the table stays small without a background goroutine to own.
const purgeEvery = time.Minute

// purgeBatch bounds one DELETE, so that on SQLite a large purge does not
// hold the single write lock for long.
const purgeBatch = 1000

var _ Store = (*SQLStore)(nil)

// SQLStore is a Store in a SQL database, shared by every process of a
// receiver and kept across restarts. NewSQLiteStore and NewPostgresStore
// make one; CreateTable makes its table, SQLTable. Times are stored as Unix
// milliseconds, taken from the receiver's clock, never the database's, so
// that the two cannot disagree.
//
// Claim deletes expired rows now and then; Purge does it on demand.
type SQLStore struct {
	db *sql.DB
	q  sqlQueries

	mu         sync.Mutex
	lastPurged time.Time
}

// sqlQueries are the statements of one SQL dialect. Placeholders ($1 or ?),
// booleans and the DDL differ between SQLite and PostgreSQL; the upsert
// with a WHERE on the conflicting row is the same in both.
type sqlQueries struct {
	create []string
	// claim takes id, token, until and now, and touches a row only if the
	// id is new or its record expired: one atomic statement, so that two
	// concurrent deliveries cannot both claim.
	claim   string
	lookup  string // id → done, until
	done    string // id, until
	release string // id, token
	purge   string // now
}

// NewSQLiteStore returns a Store on a SQLite database. Concurrent
// deliveries write concurrently, so open the database with a busy timeout
// (for modernc.org/sqlite: "?_pragma=busy_timeout(5000)").
func NewSQLiteStore(db *sql.DB) *SQLStore {
	return &SQLStore{db: db, q: sqlQueries{
		create: []string{
			`CREATE TABLE IF NOT EXISTS ` + SQLTable + ` (
				id       TEXT PRIMARY KEY,
				token    TEXT NOT NULL,    -- of the claim holder; '' once processed
				done     INTEGER NOT NULL, -- 0 claimed, 1 processed
				until_ms INTEGER NOT NULL  -- Unix milliseconds
			) WITHOUT ROWID`,
			`CREATE INDEX IF NOT EXISTS ` + SQLTable + `_until_ms ON ` + SQLTable + ` (until_ms)`,
		},
		claim: `INSERT INTO ` + SQLTable + ` (id, token, done, until_ms) VALUES (?1, ?2, 0, ?3)
			ON CONFLICT (id) DO UPDATE SET token = excluded.token, done = 0, until_ms = excluded.until_ms
			WHERE ` + SQLTable + `.until_ms <= ?4`,
		lookup: `SELECT done, until_ms FROM ` + SQLTable + ` WHERE id = ?1`,
		done: `INSERT INTO ` + SQLTable + ` (id, token, done, until_ms) VALUES (?1, '', 1, ?2)
			ON CONFLICT (id) DO UPDATE SET token = '', done = 1, until_ms = excluded.until_ms`,
		release: `DELETE FROM ` + SQLTable + ` WHERE id = ?1 AND token = ?2 AND done = 0`,
		purge: `DELETE FROM ` + SQLTable + ` WHERE id IN (
			SELECT id FROM ` + SQLTable + ` WHERE until_ms <= ?1 LIMIT ` + fmt.Sprint(purgeBatch) + `)`,
	}}
}

// NewPostgresStore returns a Store on a PostgreSQL database.
func NewPostgresStore(db *sql.DB) *SQLStore {
	return &SQLStore{db: db, q: sqlQueries{
		create: []string{
			`CREATE TABLE IF NOT EXISTS ` + SQLTable + ` (
				id       TEXT PRIMARY KEY,
				token    TEXT NOT NULL,    -- of the claim holder; '' once processed
				done     BOOLEAN NOT NULL,
				until_ms BIGINT NOT NULL   -- Unix milliseconds
			)`,
			`CREATE INDEX IF NOT EXISTS ` + SQLTable + `_until_ms ON ` + SQLTable + ` (until_ms)`,
		},
		claim: `INSERT INTO ` + SQLTable + ` (id, token, done, until_ms) VALUES ($1, $2, false, $3)
			ON CONFLICT (id) DO UPDATE SET token = excluded.token, done = false, until_ms = excluded.until_ms
			WHERE ` + SQLTable + `.until_ms <= $4`,
		lookup: `SELECT done, until_ms FROM ` + SQLTable + ` WHERE id = $1`,
		done: `INSERT INTO ` + SQLTable + ` (id, token, done, until_ms) VALUES ($1, '', true, $2)
			ON CONFLICT (id) DO UPDATE SET token = '', done = true, until_ms = excluded.until_ms`,
		release: `DELETE FROM ` + SQLTable + ` WHERE id = $1 AND token = $2 AND NOT done`,
		purge: `DELETE FROM ` + SQLTable + ` WHERE id IN (
			SELECT id FROM ` + SQLTable + ` WHERE until_ms <= $1 LIMIT ` + fmt.Sprint(purgeBatch) + `)`,
	}}
}

// CreateTable creates the store's table and index if they do not exist.
func (s *SQLStore) CreateTable(ctx context.Context) error {
	for _, q := range s.q.create {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("create table %s: %w", SQLTable, err)
		}
	}
	return nil
}

// Claim implements Store.
func (s *SQLStore) Claim(ctx context.Context, id, token string, now, until time.Time) (Claim, error) {
	if err := s.purgeNowAndThen(ctx, now); err != nil {
		return Claim{}, err
	}
	// The claim and the lookup that explains a refusal are two statements;
	// the row may be released or expire between them. Then claim again:
	// each round that fails to claim saw a record change, so few rounds
	// ever run.
	for range 3 {
		res, err := s.db.ExecContext(ctx, s.q.claim, id, token, until.UnixMilli(), now.UnixMilli())
		if err != nil {
			return Claim{}, fmt.Errorf("claim %q: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return Claim{}, fmt.Errorf("claim %q: %w", id, err)
		} else if n == 1 {
			return Claim{State: Claimed, Until: until}, nil
		}
		var done bool
		var untilMS int64
		err = s.db.QueryRowContext(ctx, s.q.lookup, id).Scan(&done, &untilMS)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue // released since
		case err != nil:
			return Claim{}, fmt.Errorf("claim %q: look up: %w", id, err)
		case untilMS <= now.UnixMilli():
			continue // expired since
		case done:
			return Claim{State: Processed, Until: time.UnixMilli(untilMS)}, nil
		default:
			return Claim{State: InProgress, Until: time.UnixMilli(untilMS)}, nil
		}
	}
	return Claim{}, fmt.Errorf("claim %q: record keeps changing under concurrent deliveries", id)
}

// Done implements Store.
func (s *SQLStore) Done(ctx context.Context, id string, until time.Time) error {
	if _, err := s.db.ExecContext(ctx, s.q.done, id, until.UnixMilli()); err != nil {
		return fmt.Errorf("mark %q done: %w", id, err)
	}
	return nil
}

// Release implements Store.
func (s *SQLStore) Release(ctx context.Context, id, token string) error {
	if _, err := s.db.ExecContext(ctx, s.q.release, id, token); err != nil {
		return fmt.Errorf("release %q: %w", id, err)
	}
	return nil
}

// Purge deletes the records that expired at now and returns how many.
func (s *SQLStore) Purge(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, s.q.purge, now.UnixMilli())
		if err != nil {
			return total, fmt.Errorf("purge %s: %w", SQLTable, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("purge %s: %w", SQLTable, err)
		}
		total += n
		if n < purgeBatch {
			return total, nil
		}
	}
}

// purgeNowAndThen purges at most once every purgeEvery of now. The mutex
// is held only to decide, so concurrent claims never wait on a purge.
func (s *SQLStore) purgeNowAndThen(ctx context.Context, now time.Time) error {
	s.mu.Lock()
	due := now.Sub(s.lastPurged) >= purgeEvery
	if due {
		s.lastPurged = now
	}
	s.mu.Unlock()
	if !due {
		return nil
	}
	if _, err := s.Purge(ctx, now); err != nil {
		s.mu.Lock()
		s.lastPurged = time.Time{} // try again on the next claim
		s.mu.Unlock()
		return err
	}
	return nil
}
