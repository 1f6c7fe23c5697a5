package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// migrations are numbered SQL files, NNNN_name.sql, applied in order. They
// only move forward: a released file is never edited, a change is a new file.
//
//go:embed migrations/*.sql
var migrations embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, f := range files {
		base := path.Base(f)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and _", base)
		}
		b, err := migrations.ReadFile(f)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share a number", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// errMigrated ends the loop of Migrate: nothing is pending.
var errMigrated = errors.New("migrated")

// Migrate applies every pending migration, each in its own transaction with
// its row in schema_migrations. Every transaction first takes an advisory
// lock, and only then reads what is applied, so of several processes
// migrating at once each migration runs exactly once and the others wait
// for it and find it done. It refuses a database that a newer Herald has
// migrated further than this one knows.
func (db *DB) Migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	for {
		var applied *migration
		err := db.tx(ctx, func(tx pgx.Tx) error {
			var err error
			applied, err = migrateOne(ctx, tx, ms)
			return err
		})
		if errors.Is(err, errMigrated) {
			db.warnVacuum(ctx)
			return nil
		}
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		db.log.Info("applied migration", "migration", applied.name)
	}
}

// migrateOne applies the first pending migration and returns it, or
// errMigrated when none is pending.
func migrateOne(ctx context.Context, tx pgx.Tx, ms []migration) (*migration, error) {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", lockClass, lockMigrate); err != nil {
		return nil, err
	}
	_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, err
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, err
	}
	for _, v := range versions {
		if !slices.ContainsFunc(ms, func(m migration) bool { return m.version == int(v) }) {
			return nil, fmt.Errorf("the database has migration %d, which this version of Herald does not know; use a newer Herald", v)
		}
	}
	for i := range ms {
		m := &ms[i]
		if slices.Contains(versions, int32(m.version)) {
			continue
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
		_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
		return m, nil
	}
	return nil, errMigrated
}

// vacuumedTables are the tables whose rows every delivery rewrites or
// deletes: each claim and completion leaves a dead version of a deliveries
// row behind, each lease writes and deletes a row of leases, and retention
// deletes events, deliveries and attempts.
var vacuumedTables = []string{"attempts", "deliveries", "events", "jobs", "leases"}

// warnVacuum logs a warning when nothing will vacuum Herald's busiest
// tables: autovacuum (or the statistics it needs) off on the server, or
// autovacuum_enabled off on one of them. Their dead row versions are then
// never reclaimed nor their index entries removed, so claims read more and
// the tables grow. It only warns: a server whose operators vacuum by hand
// is theirs to run. A failed check is logged at debug level.
func (db *DB) warnVacuum(ctx context.Context) {
	var (
		server bool
		off    []string
	)
	err := db.pool.QueryRow(ctx, `SELECT current_setting('autovacuum')::bool AND current_setting('track_counts')::bool,
		coalesce((SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
			WHERE c.oid IN (SELECT to_regclass(t) FROM unnest($1::text[]) AS t)
				AND EXISTS (SELECT 1 FROM unnest(c.reloptions) AS o
					WHERE split_part(o, '=', 1) = 'autovacuum_enabled' AND NOT split_part(o, '=', 2)::bool)), '{}')`,
		vacuumedTables).Scan(&server, &off)
	if err != nil {
		db.log.Debug("check autovacuum", "err", err)
		return
	}
	why := "autovacuum_enabled is off on these tables"
	if !server {
		why, off = "autovacuum or track_counts is off on the server", vacuumedTables
	}
	if len(off) > 0 {
		db.log.Warn("nothing vacuums Herald's busiest tables: the dead row versions that claims, completions and retention leave are never reclaimed; turn autovacuum on, or VACUUM these tables regularly",
			"reason", why, "tables", strings.Join(off, ","))
	}
}
