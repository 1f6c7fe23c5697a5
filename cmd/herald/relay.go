package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for a PostgreSQL source
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", for a SQLite source

	"github.com/heraldhq/herald/outbox"
)

// relayFlags are the raw values of `herald relay`'s flags.
type relayFlags struct {
	source, server, key, table, afterRelay          string
	batchSize, pollInterval, minBackoff, maxBackoff string
	requestTimeout                                  string
	createTable                                     bool
	env                                             serveFlags // reads HERALD_* variables and names them in errors
}

func (f *relayFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.source, "source", "", "the producer's database holding the outbox: a postgres:// URL or a SQLite file")
	fs.StringVar(&f.server, "server", "", "Herald's URL, such as http://127.0.0.1:8080 (also HERALD_URL)")
	fs.StringVar(&f.key, "key", "", "an admin API key of that Herald")
	fs.StringVar(&f.table, "table", outbox.DefaultTable, "the outbox table; refused rows go to <table>_dead")
	fs.StringVar(&f.afterRelay, "after-relay", string(outbox.Delete), "what to do with a row Herald took: delete, or mark (set relayed_at and keep it)")
	fs.StringVar(&f.batchSize, "batch-size", strconv.Itoa(outbox.DefaultBatchSize), "rows read and posted at once, 1 to 500")
	fs.StringVar(&f.pollInterval, "poll-interval", outbox.DefaultPollInterval.String(), "how often the outbox is read when nothing woke the relay (PostgreSQL wakes it with NOTIFY)")
	fs.StringVar(&f.minBackoff, "min-backoff", outbox.DefaultMinBackoff.String(), "first pause after Herald answered 429 or 5xx or was unreachable; doubles on each failure")
	fs.StringVar(&f.maxBackoff, "max-backoff", outbox.DefaultMaxBackoff.String(), "longest such pause, unless Herald's Retry-After asks for more")
	fs.StringVar(&f.requestTimeout, "request-timeout", outbox.DefaultRequestTimeout.String(), "bound on each request to Herald")
	fs.BoolVar(&f.createTable, "create-table", false, "create the outbox tables in the source when missing")
}

// parse checks every value and returns the relay's configuration, without
// its Outbox and DB.
func (f *relayFlags) parse() (outbox.RelayConfig, error) {
	var c outbox.RelayConfig
	bad := func(flag string, err error) (outbox.RelayConfig, error) { return c, f.env.invalid(flag, err) }
	if f.source == "" {
		return c, usageError{errors.New("relay: --source (or HERALD_RELAY_SOURCE) is required: the producer's database, a postgres:// URL or a SQLite file")}
	}
	if f.server == "" {
		return c, usageError{errors.New("relay: --server (or HERALD_URL) is required: Herald's URL, such as http://127.0.0.1:8080")}
	}
	if err := checkPublicURL(f.server); err != nil {
		return bad("server", err)
	}
	if f.key == "" {
		return c, usageError{errors.New("relay: --key (or HERALD_KEY) is required: an admin API key")}
	}
	c.Server, c.Key = f.server, f.key
	if _, err := outbox.New(outbox.SQLite, outbox.WithTable(f.table)); err != nil {
		return bad("table", errors.New("must be a lowercase SQL identifier of at most 48 characters ([a-z_][a-z0-9_]*)"))
	}
	switch a := outbox.AfterRelay(f.afterRelay); a {
	case outbox.Delete, outbox.Mark:
		c.AfterRelay = a
	default:
		return bad("after-relay", errors.New("must be delete or mark"))
	}
	var err error
	if c.BatchSize, err = strconv.Atoi(f.batchSize); err != nil || c.BatchSize < 1 || c.BatchSize > outbox.DefaultBatchSize {
		return bad("batch-size", fmt.Errorf("must be a whole number from 1 to %d", outbox.DefaultBatchSize))
	}
	for _, d := range []struct {
		flag, value string
		to          *time.Duration
	}{
		{"poll-interval", f.pollInterval, &c.PollInterval},
		{"min-backoff", f.minBackoff, &c.MinBackoff},
		{"max-backoff", f.maxBackoff, &c.MaxBackoff},
		{"request-timeout", f.requestTimeout, &c.RequestTimeout},
	} {
		if *d.to, err = time.ParseDuration(d.value); err != nil || *d.to <= 0 {
			return bad(d.flag, errors.New("must be a positive duration such as 1s"))
		}
	}
	if c.MaxBackoff < c.MinBackoff {
		return bad("max-backoff", fmt.Errorf("%v is less than --min-backoff %v", c.MaxBackoff, c.MinBackoff))
	}
	return c, nil
}

func newRelayCmd(getenv func(string) string, stderr io.Writer) *cobra.Command {
	var f relayFlags
	cmd := &cobra.Command{
		Use:   "relay --source DATABASE --server URL --key KEY",
		Short: "Send the events of a database's outbox table to Herald",
		Long: `Relay reads the outbox table that producers fill with the outbox Go package
(github.com/heraldhq/herald/outbox), in insertion order and in batches, posts
the events to Herald, and deletes (or marks) the rows Herald took. A row
Herald refuses moves to <table>_dead with the reason; when Herald answers 429
or 5xx, or cannot be reached, the relay backs off and tries again.

--server and --key may be set by HERALD_URL and HERALD_KEY, as for the
other commands that call a server; every other flag by its variable
HERALD_RELAY_<FLAG> (HERALD_RELAY_SOURCE, HERALD_RELAY_POLL_INTERVAL, ...),
apart from the variables of herald serve.

On PostgreSQL several relays may share one table, and a commit wakes them at
once (LISTEN/NOTIFY). On SQLite run one relay per database; it polls.`,
		Example: `  herald relay --source ./shop.db --server http://127.0.0.1:8080 --key "$HERALD_ADMIN_KEY"
  herald relay --source 'postgres://shop@db:5432/shop' --server https://herald.internal --key "$KEY"`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.env.envNames = relayEnvName
			if err := f.env.applyEnv(cmd.Flags(), getenv); err != nil {
				return err
			}
			cfg, err := f.parse()
			if err != nil {
				return err
			}
			return relay(cmd.Context(), f, cfg, stderr)
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// relayEnvName is the environment variable of a relay flag: HERALD_URL and
// HERALD_KEY for --server and --key, HERALD_RELAY_<FLAG> for the rest, so
// that none is read by herald serve too (HERALD_POLL_INTERVAL is serve's).
func relayEnvName(flag string) string {
	switch flag {
	case "server":
		return "HERALD_URL"
	case "key":
		return "HERALD_KEY"
	}
	return "HERALD_RELAY_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// relay runs a relay until ctx ends.
func relay(ctx context.Context, f relayFlags, cfg outbox.RelayConfig, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	db, dialect, err := openSource(f.source)
	if err != nil {
		return err
	}
	defer db.Close()
	ob, err := outbox.New(dialect, outbox.WithTable(f.table))
	if err != nil {
		return usageError{fmt.Errorf("invalid --table: %v", err)}
	}
	if f.createTable {
		if err := ob.Migrate(ctx, db); err != nil {
			return fmt.Errorf("relay: create the outbox tables: %w", err)
		}
	}
	cfg.Outbox, cfg.DB, cfg.Logger = ob, db, log.With("source", redactSource(f.source))
	r, err := outbox.NewRelay(cfg)
	if err != nil {
		return usageError{err}
	}
	if err := r.Run(ctx); err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	s := r.Stats()
	log.Info("relay stopped", "relayed", s.Relayed, "dead", s.Dead)
	return nil
}

// openSource opens the producer's database: PostgreSQL through pgx, so
// that the relay can LISTEN, or an existing SQLite file, waiting up to 10s
// for the producer's write lock.
func openSource(source string) (*sql.DB, outbox.Dialect, error) {
	if isPostgres(source) {
		db, err := sql.Open("pgx", source)
		if err != nil {
			return nil, "", fmt.Errorf("relay: open the source: %w", err) // the URL may hold a password: not repeated
		}
		return db, outbox.Postgres, nil
	}
	path := strings.TrimPrefix(source, "sqlite://")
	if _, err := os.Stat(path); err != nil {
		return nil, "", fmt.Errorf("relay: the source %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, "", fmt.Errorf("relay: the source %s: %w", path, err)
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: url.Values{"_pragma": {"busy_timeout(10000)"}}.Encode()}
	if !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path
	}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, "", fmt.Errorf("relay: open the source %s: %w", path, err)
	}
	return db, outbox.SQLite, nil
}

// redactSource hides the password of a PostgreSQL URL in logs.
func redactSource(s string) string {
	if !isPostgres(s) {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "postgres://…"
	}
	return u.Redacted()
}
