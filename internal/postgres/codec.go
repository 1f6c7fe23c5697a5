package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/heraldhq/herald/internal/hook"
)

// Times are timestamptz, written as hook.Timestamp (UTC, to the
// microsecond, which is timestamptz's precision) and read back in UTC, so a
// time read back equals the time written.

func ts(t time.Time) time.Time { return hook.Timestamp(t) }

// nullTS stores the zero time, which means never, as NULL.
func nullTS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return hook.Timestamp(t)
}

func fromNullTS(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// jsonText encodes maps and lists. A nil value becomes "null" and an empty
// one "{}" or "[]", so each reads back as it was written.
func jsonText(v any) (string, error) {
	if h, ok := v.(http.Header); ok {
		return string(appendHeaderJSON(nil, h)), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// appendHeaderJSON appends h as json.Marshal encodes it, without its
// reflection: every attempt stores two headers, and json.Marshal took
// about twenty allocations for each (a copy of every key and value it
// iterated over). Keys are sorted, as json.Marshal sorts them; a string
// that json.Marshal would escape is encoded by it.
func appendHeaderJSON(b []byte, h http.Header) []byte {
	if h == nil {
		return append(b, "null"...)
	}
	var array [16]string
	keys := array[:0]
	n := 2
	for k, vs := range h {
		keys = append(keys, k)
		n += len(k) + 6
		for _, v := range vs {
			n += len(v) + 3
		}
	}
	slices.Sort(keys)
	b = slices.Grow(b, n)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = hook.AppendJSONString(b, k)
		b = append(b, ':')
		vs := h[k]
		if vs == nil {
			b = append(b, "null"...)
			continue
		}
		b = append(b, '[')
		for j, v := range vs {
			if j > 0 {
				b = append(b, ',')
			}
			b = hook.AppendJSONString(b, v)
		}
		b = append(b, ']')
	}
	return append(b, '}')
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

func parseSchedule(s *string) ([]time.Duration, error) {
	if s == nil {
		return nil, nil
	}
	var ns []int64
	if err := json.Unmarshal([]byte(*s), &ns); err != nil {
		return nil, fmt.Errorf("retry schedule: %w", err)
	}
	out := make([]time.Duration, len(ns))
	for i, n := range ns {
		out[i] = time.Duration(n)
	}
	return out, nil
}

// SQLSTATE codes Herald translates.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeDeadlockDetected    = "40P01"
)

// translate turns driver errors into the domain's, by SQLSTATE and error
// type, never by message text. The driver error stays in the chain for
// logs.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return hook.ErrNotFound
	case errors.Is(err, hook.ErrNotFound), errors.Is(err, hook.ErrConflict), errors.Is(err, hook.ErrUnavailable):
		return err // translated already
	case IsUnavailable(err):
		return fmt.Errorf("%w: %w", hook.ErrUnavailable, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeUniqueViolation:
			return fmt.Errorf("%w: %w", hook.ErrConflict, err)
		case codeForeignKeyViolation:
			// The row refers to a parent that does not exist, such as an
			// endpoint of a tenant that does not.
			return fmt.Errorf("%w: %w", hook.ErrNotFound, err)
		}
	}
	return err
}

// IsUnavailable reports whether err means that the database could not be
// reached or went away: a refused or broken connection, a network timeout
// or the caller's deadline passing while waiting on the server, or the
// server shutting down, starting up or out of connection slots (SQLSTATE
// class 08, 57P01-57P03, 53300). The operation may succeed if retried; a
// write that failed so may or may not have committed. Errors the store
// returns for these conditions also match hook.ErrUnavailable with
// errors.Is, which is what callers outside this package should test; a
// server answers 503 for them.
//
// A query the server refused (a constraint, a syntax error) is not
// unavailable, nor is a context the caller canceled; but every failure to
// connect is, whatever the server said (a database not accepting
// connections answers 55000; a failed password too keeps the node from its
// database until someone acts).
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, hook.ErrUnavailable) {
		return true
	}
	// Any failure to connect, whatever the server said (such as 55000 for
	// a database that does not accept connections now), is the database
	// being away.
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57P02", "57P03", "53300": // admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections
			return true
		}
		return strings.HasPrefix(pe.Code, "08") // connection_exception
	}
	var ne net.Error
	return pgconn.SafeToRetry(err) ||
		pgconn.Timeout(err) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &ne)
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

// where accumulates the conditions and arguments of a list query; each
// condition names its argument as $? and gets the next number.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.Replace(cond, "$?", "$"+strconv.Itoa(len(w.args)), 1))
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// limit returns the placeholder of a LIMIT argument after the conditions'.
func (w *where) limit() string { return " LIMIT $" + strconv.Itoa(len(w.args)+1) }

// scanner is a pgx.Row or pgx.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// querier is the pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// queryList runs a query and scans every row.
func queryList[T any](ctx context.Context, q querier, scan func(scanner) (T, error), sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, translate(rows.Err())
}

// Array arguments that pgx encodes without an allocation per element.
// pgx reads an array argument through pgtype.ArrayGetter, whose Index
// returns each element in an interface: a string, []byte or time.Time
// put in one is copied to the heap (and [][]byte went through reflection
// as well), a pointer is not. Each array's Index returns a pointer to its
// element as a type that the element's codec encodes directly: a
// pgtype.TextValuer, BytesValuer or TimestamptzValuer. The encoding sent
// is the same binary array as of a []string, [][]byte or []time.Time.
// Ingest sends eleven arrays of a batch's events and deliveries, and
// these were a tenth of its allocations.
type (
	textArray        []string
	byteaArray       [][]byte
	timestamptzArray []time.Time
)

type (
	textElem        string
	byteaElem       []byte
	timestamptzElem time.Time
)

// dimensions is a one-dimensional array's, as pgtype.FlatArray's.
func dimensions(isNil bool, n int) []pgtype.ArrayDimension {
	if isNil {
		return nil
	}
	return []pgtype.ArrayDimension{{Length: int32(n), LowerBound: 1}}
}

// registerArrays tells m the PostgreSQL type of each array type above.
// With pgx's default query mode the statement's description gives it; in
// the modes that send no description first (default_query_exec_mode=exec
// or simple_protocol in the URL, as behind a pooler in transaction mode)
// pgx finds it from the Go type, and an unregistered one cannot be
// encoded. TestIngestExecModes ingests in every mode.
func registerArrays(m *pgtype.Map) {
	m.RegisterDefaultPgType(textArray(nil), "_text")
	m.RegisterDefaultPgType(byteaArray(nil), "_bytea")
	m.RegisterDefaultPgType(timestamptzArray(nil), "_timestamptz")
}

func (a textArray) Dimensions() []pgtype.ArrayDimension { return dimensions(a == nil, len(a)) }
func (a textArray) Index(i int) any                     { return (*textElem)(&a[i]) }
func (a textArray) IndexType() any                      { return (*textElem)(nil) }

func (a byteaArray) Dimensions() []pgtype.ArrayDimension { return dimensions(a == nil, len(a)) }
func (a byteaArray) Index(i int) any                     { return (*byteaElem)(&a[i]) }
func (a byteaArray) IndexType() any                      { return (*byteaElem)(nil) }

func (a timestamptzArray) Dimensions() []pgtype.ArrayDimension { return dimensions(a == nil, len(a)) }
func (a timestamptzArray) Index(i int) any                     { return (*timestamptzElem)(&a[i]) }
func (a timestamptzArray) IndexType() any                      { return (*timestamptzElem)(nil) }

func (s *textElem) TextValue() (pgtype.Text, error) {
	return pgtype.Text{String: string(*s), Valid: true}, nil
}

// BytesValue returns nil, which is NULL, for a nil slice, as pgx encodes
// a nil []byte.
func (b *byteaElem) BytesValue() ([]byte, error) { return *b, nil }

func (t *timestamptzElem) TimestamptzValue() (pgtype.Timestamptz, error) {
	return pgtype.Timestamptz{Time: time.Time(*t), Valid: true}, nil
}

// stringList decodes a JSON list of strings, as json.Unmarshal into a
// []string does. A list as jsonText writes one, with strings of printable
// ASCII and no escapes (such as an endpoint's event types), is split
// where it is, without encoding/json: ingest reads the event types of
// every endpoint of a batch's tenants, and json.Unmarshal was about ten
// allocations for each. The strings share s's memory.
func stringList(s string) ([]string, error) {
	if out, ok := plainStringList(s); ok {
		return out, nil
	}
	var out []string
	err := json.Unmarshal([]byte(s), &out)
	return out, err
}

// plainStringList splits a compact JSON list of strings that need no
// decoding, or reports false.
func plainStringList(s string) ([]string, bool) {
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, false
	}
	rest := s[1 : len(s)-1]
	out := make([]string, 0, strings.Count(rest, ",")+1)
	for rest != "" {
		if rest[0] != '"' {
			return nil, false
		}
		end := 1
		for ; end < len(rest) && rest[end] != '"'; end++ {
			if c := rest[end]; c < 0x20 || c > 0x7e || c == '\\' {
				return nil, false
			}
		}
		if end == len(rest) {
			return nil, false
		}
		out = append(out, rest[1:end])
		rest = rest[end+1:]
		if rest == "" {
			break
		}
		if rest[0] != ',' || len(rest) == 1 {
			return nil, false
		}
		rest = rest[1:]
	}
	return out, true
}
