package postgres

import "github.com/jackc/pgx/v5/pgxpool"

// Pool returns the DB's pool, for tests that need raw SQL.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }
