// Package sqlite implements hook.Store on an embedded SQLite database with
// the pure-Go driver modernc.org/sqlite.
//
// Every write goes through one writer connection, owned by one goroutine,
// which commits concurrent writes together (group commit, see writer.go).
// Reads use a pool of read-only connections; in WAL mode they never wait for
// the writer. Only one process may open a database at a time: Open takes an
// exclusive lock on a file beside it.
package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/seal"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

var _ hook.Store = (*DB)(nil)

// ErrInUse means another process (or another DB in this one) has the
// database open.
var ErrInUse = errors.New("in use by another process")

// ErrClosed is returned by operations on a closed DB.
var ErrClosed = errors.New("sqlite: database is closed")

// Options configure Open.
type Options struct {
	// Secrets seals endpoint secrets at rest. Required.
	Secrets *seal.Box
	// ReadConns is the size of the reader pool; zero means
	// max(4, GOMAXPROCS).
	ReadConns int
	// BatchWindow is how long the writer waits after the first write of a
	// batch for others to join it. Zero (the default) adds no delay: writes
	// that arrive while a batch commits form the next batch, which is
	// where group commit gains most.
	BatchWindow time.Duration
	// MaxBatch bounds the writes committed together; zero means 128.
	MaxBatch int
	// BusyTimeout is how long a connection waits for a lock held elsewhere
	// (a checkpoint, or a sqlite3 shell) before failing; zero means 5s.
	BusyTimeout time.Duration
	// CheckpointInterval is how often a connection of its own copies the
	// write-ahead log into the database file (a passive checkpoint, which
	// never blocks the writer). Zero means 1s. Negative leaves checkpoints
	// to SQLite, which runs them inside the writer's commits: every few
	// thousand pages, one commit, and every write queued behind it, then
	// waits for the copy.
	CheckpointInterval time.Duration
	// Logger receives migration notices and checkpoint failures; nil
	// discards them.
	Logger *slog.Logger
}

// DB is a Herald store in one SQLite file. It is safe for concurrent use.
type DB struct {
	box  *seal.Box
	log  *slog.Logger
	read *sql.DB // query_only connections
	wdb  *sql.DB // the one writer connection, used only by w
	w    *writer
	lock *fileLock

	hot  readStmts     // prepared queries of the read pool, for the engine's hot path
	ckpt *checkpointer // nil when SQLite checkpoints in the writer

	// claimMu makes claims one at a time (see ClaimDeliveries); leases
	// are the leases they took.
	claimMu   sync.Mutex
	leases    leaseTable
	endpoints versioned[hook.Endpoint] // the endpoints claims opened (see endpointsByID)

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the database file at path. It does not
// migrate; call Migrate before use. The caller must Close the DB.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if opts.Secrets == nil {
		return nil, errors.New("sqlite: Options.Secrets is required")
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: %q is not a database file path", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// Through a symbolic link the database is the file linked to, and so
	// is its lock file.
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		abs = resolved
	}
	// The lock is a separate file, not the database itself: SQLite holds
	// POSIX locks on the database, which the kernel drops when any
	// descriptor of that file in the process is closed, ours included.
	lock, err := lockFile(abs + "-lock")
	if errors.Is(err, errLocked) {
		return nil, fmt.Errorf("database %s is %w", path, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("lock database %s: %w", path, err)
	}
	db := &DB{
		box:  opts.Secrets,
		log:  orDiscard(opts.Logger),
		lock: lock,
	}
	if err := db.open(ctx, abs, opts); err != nil {
		if db.read != nil {
			db.read.Close()
		}
		if db.wdb != nil {
			db.wdb.Close()
		}
		lock.release()
		return nil, err
	}
	return db, nil
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

func (db *DB) open(ctx context.Context, abs string, opts Options) error {
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	// Every connection enforces foreign keys (SQLite's default is off, per
	// connection) and waits for locks instead of failing at once. Within
	// this process nothing contends for the write lock, but a checkpoint
	// or an operator's sqlite3 shell can hold it briefly.
	common := url.Values{
		"_foreign_keys": {"1"},
		"_busy_timeout": {strconv.FormatInt(busy.Milliseconds(), 10)},
	}

	// The writer: WAL lets readers run alongside it; synchronous=FULL
	// syncs the WAL on every commit, so a commit that returned survives a
	// power loss (NORMAL would only survive a process crash), and group
	// commit pays that fsync once per batch rather than once per write.
	// BEGIN IMMEDIATE takes the write lock at once rather than on the first
	// write.
	wq := cloneValues(common)
	wq.Set("_journal_mode", "WAL")
	wq.Set("_synchronous", "FULL")
	wq.Set("_txlock", "immediate")
	// Each write of a batch runs in a savepoint, whose undo log (the
	// statement journal) SQLite spills to a temporary file past 64 KiB;
	// a large batch spilled, and the writes to it cost more than the
	// savepoints. temp_store=MEMORY keeps it in memory, bounded by the
	// batch size.
	wq.Add("_pragma", "temp_store(MEMORY)")
	// The writer touches the same index pages batch after batch: a 16 MiB
	// cache (the default is 2 MiB) keeps them instead of reading them back
	// from the file. Checkpoints run apart (see checkpointer), or, when
	// left to SQLite, every 4,000 pages rather than 1,000, which copies a
	// page that many batches changed into the file once.
	wq.Add("_pragma", "cache_size(-16384)")
	if opts.CheckpointInterval >= 0 {
		// A backstop: passive checkpoints on their own connection seldom
		// finish while commits keep landing, so the log would only grow;
		// the writer's own checkpoint, past 8,192 pages, finds most of it
		// copied already, finishes, and lets the next write start the log
		// from its beginning. See checkpointer.
		wq.Add("_pragma", "wal_autocheckpoint(8192)")
	} else {
		wq.Add("_pragma", "wal_autocheckpoint(4000)")
	}
	// A log that grew under a burst is cut back to 64 MiB once restarted.
	wq.Add("_pragma", "journal_size_limit(67108864)")
	wdb, err := sql.Open("sqlite", dsn(abs, wq))
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	db.wdb = wdb
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	// journal_mode=WAL quietly stays in the old mode where WAL cannot work
	// (some network file systems); refuse rather than lose concurrency.
	var mode string
	if err := wdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("open database: journal mode is %q, want wal", mode)
	}

	// Readers: query_only makes a write through a reader an error, so every
	// write is forced through the writer and its batches.
	rq := cloneValues(common)
	rq.Set("_query_only", "1")
	rq.Set("_synchronous", "FULL")
	read, err := sql.Open("sqlite", dsn(abs, rq))
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	db.read = read
	db.hot.db = read
	n := opts.ReadConns
	if n <= 0 {
		n = max(4, runtime.GOMAXPROCS(0))
	}
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	read.SetConnMaxLifetime(0)
	if err := read.PingContext(ctx); err != nil {
		return fmt.Errorf("open database: %w", err)
	}

	maxBatch := opts.MaxBatch
	if maxBatch <= 0 {
		maxBatch = 128
	}
	db.w = newWriter(wdb, opts.BatchWindow, maxBatch)
	if opts.CheckpointInterval >= 0 {
		cq := cloneValues(common)
		cq.Set("_synchronous", "FULL")
		ck, err := sql.Open("sqlite", dsn(abs, cq))
		if err != nil {
			return fmt.Errorf("open database: %w", err)
		}
		ck.SetMaxOpenConns(1)
		db.ckpt = newCheckpointer(ck, cmp.Or(opts.CheckpointInterval, time.Second), db.log)
	}
	return nil
}

// dsn makes a file: URI, so that any character in the path is escaped
// rather than read as the start of the driver's parameters.
func dsn(abs string, q url.Values) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter: file:///C:/…
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: q.Encode()}
	return u.String()
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, s := range v {
		c[k] = append([]string(nil), s...)
	}
	return c
}

// Close stops the writer after it has committed every write already queued,
// closes the connections and releases the lock. It is safe to call twice.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		errs := []error{db.w.close(), db.ckpt.close(), db.hot.close(), db.read.Close(), db.wdb.Close(), db.lock.release()}
		db.closeErr = errors.Join(errs...)
	})
	return db.closeErr
}

// Ping checks that the database answers a query and that the writer runs.
func (db *DB) Ping(ctx context.Context) error {
	if db.w.stopped() {
		return ErrClosed
	}
	var one int
	if err := db.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}
