package outbox

import (
	"fmt"
	"strings"
)

// statements is the SQL of one dialect for one table name. Each dialect's
// SQL is written out whole rather than assembled from shared fragments.
type statements struct {
	migrate []string
	insert  string // id, tenant_id, type, data
	// claim reads the oldest rows not yet relayed; one argument, the limit.
	// On PostgreSQL it locks them, skipping rows another relay holds.
	claim string
	// exists returns a row when the table exists; no arguments.
	exists string
	// kill copies one row to the dead table with a status and reason:
	// seq, status, reason.
	kill string
	// remove, mark: the rows whose seqs are listed (see in).
	remove, mark string
	// in returns the condition "seq in the list" and its arguments.
	in func(seqs []int64) (string, []any)
}

// postgresStatements: seq (bigserial) is the insertion order; data is text,
// so that the producer's bytes reach Herald unchanged (jsonb would reorder
// keys). The trigger sends a NOTIFY on the table's name once per inserting
// statement, delivered at commit, which wakes the relays at once.
func postgresStatements(t string) statements {
	dead := t + "_dead"
	return statements{
		migrate: []string{
			// Concurrent CREATE ... IF NOT EXISTS can still collide in
			// the catalogue: callers of Migrate take turns.
			fmt.Sprintf("SELECT pg_advisory_xact_lock(hashtext('%s'))", t),
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	seq        bigserial PRIMARY KEY,
	id         text NOT NULL UNIQUE,
	tenant_id  text NOT NULL,
	type       text NOT NULL,
	data       text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	relayed_at timestamptz
)`, t),
			fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s_pending ON %s (seq) WHERE relayed_at IS NULL", t, t),
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	seq        bigint PRIMARY KEY,
	id         text NOT NULL,
	tenant_id  text NOT NULL,
	type       text NOT NULL,
	data       text NOT NULL,
	created_at timestamptz NOT NULL,
	dead_at    timestamptz NOT NULL DEFAULT now(),
	status     integer NOT NULL,
	reason     text NOT NULL
)`, dead),
			fmt.Sprintf(`CREATE OR REPLACE FUNCTION %s_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('%s', '');
	RETURN NULL;
END
$$`, t, t),
			fmt.Sprintf("DROP TRIGGER IF EXISTS %s_notify ON %s", t, t),
			fmt.Sprintf("CREATE TRIGGER %s_notify AFTER INSERT ON %s FOR EACH STATEMENT EXECUTE FUNCTION %s_notify()", t, t, t),
		},
		insert: fmt.Sprintf("INSERT INTO %s (id, tenant_id, type, data) VALUES ($1, $2, $3, $4)", t),
		claim: fmt.Sprintf(`SELECT seq, id, tenant_id, type, data FROM %s
WHERE relayed_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`, t),
		exists: fmt.Sprintf("SELECT 1 FROM %s LIMIT 1", t),
		kill: fmt.Sprintf(`INSERT INTO %s (seq, id, tenant_id, type, data, created_at, status, reason)
SELECT seq, id, tenant_id, type, data, created_at, $2, $3 FROM %s WHERE seq = $1
ON CONFLICT (seq) DO NOTHING`, dead, t),
		remove: fmt.Sprintf("DELETE FROM %s WHERE ", t),
		mark:   fmt.Sprintf("UPDATE %s SET relayed_at = now() WHERE ", t),
		in: func(seqs []int64) (string, []any) {
			return "seq = ANY($1)", []any{seqs}
		},
	}
}

// sqliteStatements: AUTOINCREMENT keeps seq growing after deletes, so that
// seq is the insertion order (SQLite has one writer at a time).
func sqliteStatements(t string) statements {
	dead := t + "_dead"
	const now = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
	return statements{
		migrate: []string{
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	id         TEXT NOT NULL UNIQUE,
	tenant_id  TEXT NOT NULL,
	type       TEXT NOT NULL,
	data       TEXT NOT NULL,
	created_at TEXT NOT NULL DEFAULT (%s),
	relayed_at TEXT
)`, t, now),
			fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s_pending ON %s (seq) WHERE relayed_at IS NULL", t, t),
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	seq        INTEGER PRIMARY KEY,
	id         TEXT NOT NULL,
	tenant_id  TEXT NOT NULL,
	type       TEXT NOT NULL,
	data       TEXT NOT NULL,
	created_at TEXT NOT NULL,
	dead_at    TEXT NOT NULL DEFAULT (%s),
	status     INTEGER NOT NULL,
	reason     TEXT NOT NULL
)`, dead, now),
		},
		insert: fmt.Sprintf("INSERT INTO %s (id, tenant_id, type, data) VALUES (?, ?, ?, ?)", t),
		claim:  fmt.Sprintf("SELECT seq, id, tenant_id, type, data FROM %s WHERE relayed_at IS NULL ORDER BY seq LIMIT ?", t),
		exists: fmt.Sprintf("SELECT 1 FROM %s LIMIT 1", t),
		kill: fmt.Sprintf(`INSERT INTO %s (seq, id, tenant_id, type, data, created_at, status, reason)
SELECT seq, id, tenant_id, type, data, created_at, ?2, ?3 FROM %s WHERE seq = ?1
ON CONFLICT (seq) DO NOTHING`, dead, t),
		remove: fmt.Sprintf("DELETE FROM %s WHERE ", t),
		mark:   fmt.Sprintf("UPDATE %s SET relayed_at = %s WHERE ", t, now),
		in: func(seqs []int64) (string, []any) {
			args := make([]any, len(seqs))
			for i, s := range seqs {
				args[i] = s
			}
			return "seq IN (?" + strings.Repeat(", ?", len(seqs)-1) + ")", args
		},
	}
}
