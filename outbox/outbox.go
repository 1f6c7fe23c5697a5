// Package outbox lets a producer hand events to Herald without ever sending
// a ghost (an event about a change that rolled back) or losing one (an event
// about a change that committed).
//
// The producer writes the event into a table of its own database, in the
// same transaction as the business change: the event exists exactly when the
// change does. A Relay (or the `herald relay` command) reads the table
// afterwards, posts the events to Herald and deletes (or marks) the rows it
// relayed. The row's id is the event's id in Herald, so a relay that dies
// after posting and before deleting posts the same event again after its
// restart, and Herald answers that repeat with the first event instead of
// storing a second one.
//
// Rows Herald refuses as invalid (an unknown tenant, an invalid type) move to
// a dead table, <table>_dead, with Herald's reason: never retried, never lost.
//
// The tables, for the default name herald_outbox, are created by Migrate;
// DDL returns the same statements for those who run migrations their own
// way.
package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/hook"
)

// Dialect is the SQL dialect of the producer's database.
type Dialect string

// Dialects an Outbox supports.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// DefaultTable is the outbox table's name unless WithTable gives another.
// The dead table is the same name with "_dead" appended.
const DefaultTable = "herald_outbox"

// IDPrefix begins the event ids Write generates, as Herald's own do.
const IDPrefix = hook.PrefixEvent

// Event is one event to hand to Herald: the body of POST /v1/events.
type Event struct {
	// ID is the event's id in Herald; empty generates one ("evt_" and a
	// ULID, so ids sort by creation time). A given id must be 1 to 255
	// characters of A-Z, a-z, 0-9, _ and -, unique across Herald.
	ID string
	// TenantID names the Herald tenant the event is addressed to.
	TenantID string
	// Type is the event type, such as "order.shipped".
	Type string
	// Data is the event's payload, a JSON object: json.RawMessage or []byte
	// are stored as they are, anything else is encoded with json.Marshal.
	Data any
}

// Outbox writes events into the outbox table of one database.
type Outbox struct {
	dialect Dialect
	table   string
	sql     statements
}

// Option changes an Outbox made by New.
type Option func(*Outbox)

// WithTable names the outbox table (default DefaultTable): a lowercase SQL
// identifier of at most 48 characters, [a-z_][a-z0-9_]*, that needs no
// quoting.
func WithTable(name string) Option { return func(o *Outbox) { o.table = name } }

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,47}$`)

// New returns the Outbox of a database of the given dialect.
func New(d Dialect, opts ...Option) (*Outbox, error) {
	o := &Outbox{dialect: d, table: DefaultTable}
	for _, opt := range opts {
		opt(o)
	}
	if !tableName.MatchString(o.table) {
		// The name is spliced into SQL: only plain identifiers pass.
		return nil, fmt.Errorf("outbox: table name %q is not a lowercase identifier of at most 48 characters ([a-z_][a-z0-9_]*)", o.table)
	}
	switch d {
	case Postgres:
		o.sql = postgresStatements(o.table)
	case SQLite:
		o.sql = sqliteStatements(o.table)
	default:
		return nil, fmt.Errorf("outbox: unknown dialect %q, want %q or %q", d, Postgres, SQLite)
	}
	return o, nil
}

// Dialect returns the outbox's dialect.
func (o *Outbox) Dialect() Dialect { return o.dialect }

// Table returns the name of the outbox table.
func (o *Outbox) Table() string { return o.table }

// DeadTable returns the name of the table of rows Herald refused.
func (o *Outbox) DeadTable() string { return o.table + "_dead" }

// Write inserts e into the outbox inside the caller's transaction and
// returns its id. The event reaches Herald if and only if tx commits.
//
// e is checked as Herald would check it (id, type, a JSON object as data),
// so that a mistake fails the producer's transaction rather than reaching
// the dead table later. Whether the tenant exists only Herald knows.
func (o *Outbox) Write(ctx context.Context, tx *sql.Tx, e Event) (string, error) {
	id, data, err := o.prepare(e)
	if err != nil {
		return "", err
	}
	if _, err := tx.ExecContext(ctx, o.sql.insert, id, e.TenantID, e.Type, data); err != nil {
		return "", fmt.Errorf("outbox: write event %s: %w", id, err)
	}
	return id, nil
}

// WritePgx is Write for a pgx transaction (pgx.Tx, from a pgx.Conn or a
// pgxpool.Pool). The outbox must be of the Postgres dialect.
func (o *Outbox) WritePgx(ctx context.Context, tx pgx.Tx, e Event) (string, error) {
	if o.dialect != Postgres {
		return "", fmt.Errorf("outbox: WritePgx needs a %s outbox, this one is %s", Postgres, o.dialect)
	}
	id, data, err := o.prepare(e)
	if err != nil {
		return "", err
	}
	if _, err := tx.Exec(ctx, o.sql.insert, id, e.TenantID, e.Type, data); err != nil {
		return "", fmt.Errorf("outbox: write event %s: %w", id, err)
	}
	return id, nil
}

// prepare checks e and returns its id (generated when empty) and its data
// as JSON text.
func (o *Outbox) prepare(e Event) (string, string, error) {
	var data []byte
	switch d := e.Data.(type) {
	case json.RawMessage:
		data = d
	case []byte:
		data = d
	case nil:
	default:
		var err error
		if data, err = json.Marshal(d); err != nil {
			return "", "", fmt.Errorf("outbox: encode data: %w", err)
		}
	}
	id := e.ID
	if id == "" {
		id = hook.NewID(IDPrefix)
	}
	err := hook.Event{ID: id, TenantID: e.TenantID, Type: e.Type, Data: data}.Validate()
	var problems []string
	var ve *hook.ValidationError
	if errors.As(err, &ve) {
		for _, f := range ve.Fields {
			problems = append(problems, f.Field+" "+f.Message)
		}
	} else if err != nil {
		problems = append(problems, err.Error())
	}
	if !hook.ValidID(e.TenantID) {
		problems = append(problems, "tenantId must be 1 to 255 characters of A-Z, a-z, 0-9, _ and -")
	}
	if len(problems) > 0 {
		return "", "", fmt.Errorf("outbox: invalid event: %s", strings.Join(problems, "; "))
	}
	return id, string(data), nil
}

// Migrate creates the outbox table, its dead table and (on PostgreSQL) the
// trigger that wakes relays, unless they exist. It is safe to call at every
// start, from several processes at once.
func (o *Outbox) Migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("outbox: migrate: %w", err)
	}
	defer tx.Rollback()
	for _, stmt := range o.sql.migrate {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("outbox: migrate: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("outbox: migrate: %w", err)
	}
	return nil
}

// DDL returns the statements Migrate runs, separated by semicolons, for
// those who apply migrations with their own tool.
func (o *Outbox) DDL() string {
	var b strings.Builder
	for _, stmt := range o.sql.migrate {
		if strings.HasPrefix(stmt, "SELECT pg_advisory_xact_lock") {
			continue // only for Migrate's concurrent callers
		}
		b.WriteString(stmt)
		b.WriteString(";\n")
	}
	return b.String()
}
