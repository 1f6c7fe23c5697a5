package outbox_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/sqlitetest"
	"github.com/heraldhq/herald/outbox"
)

const tenant = "acme"

// herald is a real Herald API on a real SQLite store in a temp dir, served
// on 127.0.0.1 behind a handler that counts the events posted to it by id.
type herald struct {
	url, admin string
	store      hook.Store

	mu     sync.Mutex
	posted map[string]int // event id → times posted
	// gate, when not nil, answers a request itself instead of Herald
	// when it returns true.
	gate    func(w http.ResponseWriter, r *http.Request) bool
	arrived chan string // each event id posted, if not nil
}

func newHerald(t testing.TB) *herald {
	t.Helper()
	ctx := context.Background()
	db := sqlitetest.Open(t)
	now := time.Now()
	key, token := hook.NewAPIKey("", now)
	if err := db.CreateAPIKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateTenant(ctx, hook.Tenant{ID: tenant, Name: "Acme", CreatedAt: hook.Timestamp(now)}); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: db, MaxPayload: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	h := &herald{admin: token, store: db, posted: map[string]int{}}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		gate := h.gate
		h.mu.Unlock()
		if gate != nil && gate(w, r) {
			return
		}
		ids := h.read(t, r)
		sw := &statusWriter{ResponseWriter: w}
		srv.ServeHTTP(sw, r)
		if sw.status == http.StatusNotFound || sw.status == http.StatusMethodNotAllowed {
			return // no such route (the batch route, on this Herald): nothing was posted
		}
		h.count(ids)
		for _, id := range ids {
			if h.arrived != nil {
				h.arrived <- id
			}
		}
	}))
	t.Cleanup(hs.Close)
	h.url = hs.URL
	return h
}

// statusWriter remembers the status of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

// read returns the ids of the events a request posts.
func (h *herald) read(t testing.TB, r *http.Request) []string {
	if r.Method != http.MethodPost || (r.URL.Path != "/v1/events" && r.URL.Path != "/v1/events/batch") {
		return nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Error(err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var one struct{ ID string }
	var batch struct{ Events []struct{ ID string } }
	var ids []string
	if r.URL.Path == "/v1/events" {
		_ = json.Unmarshal(body, &one)
		ids = append(ids, one.ID)
	} else {
		_ = json.Unmarshal(body, &batch)
		for _, e := range batch.Events {
			ids = append(ids, e.ID)
		}
	}
	return ids
}

// count records that the events were posted.
func (h *herald) count(ids []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range ids {
		h.posted[id]++
	}
}

func (h *herald) setGate(g func(w http.ResponseWriter, r *http.Request) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gate = g
}

func (h *herald) timesPosted(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.posted[id]
}

// events returns the ids of every event Herald stored for the tenant.
func (h *herald) events(t testing.TB) map[string]hook.Event {
	t.Helper()
	out := map[string]hook.Event{}
	p := hook.ListParams{Limit: hook.MaxLimit}
	for range 10000 {
		page, err := h.store.ListEvents(context.Background(), hook.EventFilter{ListParams: p, TenantID: tenant})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Items {
			if _, dup := out[e.ID]; dup {
				t.Fatalf("event %s listed twice", e.ID)
			}
			out[e.ID] = e
		}
		if page.Next == "" {
			return out
		}
		p.Cursor = page.Next
	}
	t.Fatal("too many pages")
	return nil
}

// source is a producer's database with a migrated outbox.
type source struct {
	db  *sql.DB
	ob  *outbox.Outbox
	url string // of a PostgreSQL source
}

// dialects runs f on a SQLite file and on a PostgreSQL database.
func dialects(t *testing.T, f func(t *testing.T, src source)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		f(t, sqliteSource(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		f(t, postgresSource(t))
	})
}

func sqliteSource(t testing.TB, opts ...outbox.Option) source {
	t.Helper()
	q := url.Values{"_pragma": {"busy_timeout(10000)", "journal_mode(WAL)"}}
	u := url.URL{Scheme: "file", Path: filepath.Join(t.TempDir(), "shop.db"), RawQuery: q.Encode()}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return migrated(t, db, outbox.SQLite, opts...)
}

func postgresSource(t testing.TB, opts ...outbox.Option) source {
	t.Helper()
	u := pgtest.URL(t)
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	src := migrated(t, db, outbox.Postgres, opts...)
	src.url = u
	return src
}

func migrated(t testing.TB, db *sql.DB, d outbox.Dialect, opts ...outbox.Option) source {
	t.Helper()
	ob, err := outbox.New(d, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return source{db: db, ob: ob}
}

// write writes events in one transaction and commits it, or rolls it back
// when commit is false. It returns their ids.
func (s source) write(t testing.TB, commit bool, events ...outbox.Event) []string {
	t.Helper()
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var ids []string
	for _, e := range events {
		id, err := s.ob.Write(ctx, tx, e)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if commit {
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// rows counts the rows of a table.
func (s source) rows(t testing.TB, table string) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (s source) relay(t testing.TB, h *herald, change ...func(*outbox.RelayConfig)) *outbox.Relay {
	t.Helper()
	cfg := outbox.RelayConfig{
		Outbox: s.ob, DB: s.db, Server: h.url, Key: h.admin,
		PollInterval: time.Hour, // tests wake relays, or drain them
		MinBackoff:   time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		RequestTimeout: 30 * time.Second,
	}
	for _, c := range change {
		c(&cfg)
	}
	r, err := outbox.NewRelay(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func event(typ string, data string) outbox.Event {
	return outbox.Event{TenantID: tenant, Type: typ, Data: json.RawMessage(data)}
}
