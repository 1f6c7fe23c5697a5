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
