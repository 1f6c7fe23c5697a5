// Package postgres implements hook.Store on PostgreSQL with pgx.
//
// Unlike the SQLite store, several Herald processes may share one database:
// migrations run under an advisory lock, the first admin key is created
// under another, and the delivery engine's claims serialize per endpoint
// (see ClaimDeliveries), so that an endpoint's in-flight cap holds for the
// whole deployment. Leases are never cleared at start: another process may
// hold them; a dead process's leases simply expire.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/seal"
)

var _ hook.Store = (*DB)(nil)

// Options configure Open.
type Options struct {
	// Secrets seals endpoint secrets and headers at rest. Required.
	Secrets *seal.Box
	// Logger receives migration and listener notices; nil discards them.
	Logger *slog.Logger
	// MaxConns is the size of the connection pool; zero means the URL's
	// pool_max_conns or, without it, max(8, GOMAXPROCS).
	MaxConns int32
}

// minConns is the least default pool size. A busy server holds a
// connection for its claim loop and up to maxFlushes for completions,
// while ingest requests take one each; with pgxpool's default of 4 on two
// cores, a third of the acquisitions of a throughput run waited for a
// connection.
const minConns = 8

// DB is a Herald store in a PostgreSQL database. It is safe for concurrent
// use, also by several processes.
type DB struct {
	box  *seal.Box
	log  *slog.Logger
	pool *pgxpool.Pool

	completer completer
}

// Open connects to the database at url (a postgres:// URL or a key=value
// string) and checks that it answers; an error for which IsUnavailable is
// true means the server could not be reached. It does not migrate; call
// Migrate before use. The caller must Close the DB.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	if opts.Secrets == nil {
		return nil, errors.New("postgres: Options.Secrets is required")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err) // pgx redacts the password
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = opts.MaxConns
	case !strings.Contains(url, "pool_max_conns"):
		cfg.MaxConns = max(cfg.MaxConns, minConns)
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		registerArrays(c.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := &DB{box: opts.Secrets, log: orDiscard(opts.Logger), pool: pool}
	if err := db.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	db.startCompleter()
	return db, nil
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// Close closes every connection of the pool, waiting for those in use to
// be returned. It is safe to call twice.
func (db *DB) Close() error {
	db.stopCompleter()
	db.pool.Close()
	return nil
}

// Ping checks that the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping: %w", translate(err))
	}
	return nil
}

// tx runs fn in a transaction (READ COMMITTED, the server's default),
// committed when fn returns nil; its error is translated.
//
// A transaction that PostgreSQL aborted to break a deadlock is run again,
// up to deadlockTries times in all: a claim or a delete can deadlock with a
// batch of completions (see completer), and a retry then succeeds. fn must
// start from scratch each time it runs.
func (db *DB) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	var err error
	for range deadlockTries {
		err = pgx.BeginFunc(ctx, db.pool, fn)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != codeDeadlockDetected {
			break
		}
	}
	return translate(err)
}

// deadlockTries is how many times tx runs a transaction that deadlocks.
const deadlockTries = 3

// Advisory lock keys: the two-int form, with classID naming Herald and
// objID the lock. Claims lock endpoints under claimClass, keyed by the hash
// of the endpoint id; a collision only makes two endpoints skip each other.
const (
	lockClass      = 0x48524c44 // "HRLD"
	claimClass     = lockClass + 1
	lockMigrate    = 1
	lockFirstAdmin = 2
)
