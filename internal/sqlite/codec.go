package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/heraldhq/herald/internal/hook"
)

// Times are INTEGER unix microseconds in UTC, the precision hook.Timestamp
// promises, so a time read back equals the time written.

func micros(t time.Time) int64 { return hook.Timestamp(t).UnixMicro() }

// nullMicros stores the zero time, which means never, as NULL.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return micros(t)
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func fromNullMicros(us sql.NullInt64) time.Time {
	if !us.Valid {
		return time.Time{}
	}
	return fromMicros(us.Int64)
}

// jsonText encodes maps and lists. A nil value becomes "null" and an empty
// one "{}" or "[]", so each reads back as it was written.
func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// schedule encodes a retry schedule as a JSON list of nanoseconds; nil (the
// server's default schedule) is NULL, distinct from an empty list (a single
// attempt).
func schedule(s []time.Duration) (any, error) {
	if s == nil {
		return nil, nil
	}
	ns := make([]int64, len(s))
	for i, d := range s {
		ns[i] = int64(d)
	}
	return jsonText(ns)
}

func parseSchedule(s sql.NullString) ([]time.Duration, error) {
	if !s.Valid {
		return nil, nil
	}
	var ns []int64
	if err := json.Unmarshal([]byte(s.String), &ns); err != nil {
		return nil, fmt.Errorf("retry schedule: %w", err)
	}
	out := make([]time.Duration, len(ns))
	for i, n := range ns {
		out[i] = time.Duration(n)
	}
	return out, nil
}

// translate turns driver errors into the domain's, by SQLite's extended
// result code. The driver error stays in the chain for logs.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return hook.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", hook.ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			// The row refers to a parent that does not exist, such as an
			// endpoint of a tenant that does not.
			return fmt.Errorf("%w: %w", hook.ErrNotFound, err)
		}
	}
	return err
}

// Cursor list names.
const (
	listTenants    = "tenants"
	listAPIKeys    = "keys"
	listEndpoints  = "endpoints"
	listEvents     = "events"
	listDeliveries = "deliveries"
	listEventTypes = "types"
	listAttempts   = "attempts"
)

// where accumulates the conditions and arguments of a list query.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// queryer is a *sql.DB (the readers) or a *wtx (inside a write).
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
