package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/outbox"
)

// A rolled-back transaction sends nothing; a committed one sends its event
// exactly once, even when the relay dies after posting and before deleting
// the row, and a new relay takes over.
func TestExactlyOnceAcrossCrash(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, src source) {
		h := newHerald(t)
		ctx := context.Background()
		committed := src.write(t, true, event("order.shipped", `{"orderId":"o_1","n":12345678901234567890}`))
		ghost := src.write(t, false, event("order.shipped", `{"orderId":"o_2"}`))

		died := errors.New("relay died")
		r1 := src.relay(t, h, func(c *outbox.RelayConfig) { c.AfterPost = func() error { return died } })
		if _, err := r1.Drain(ctx); !errors.Is(err, died) {
			t.Fatalf("first relay: got %v, want it to die after posting", err)
		}
		if got := src.rows(t, src.ob.Table()); got != 1 {
			t.Fatalf("after the crash the outbox has %d rows, want the 1 posted but not deleted", got)
		}

		s, err := src.relay(t, h).Drain(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Relayed != 1 || s.Dead != 0 {
			t.Errorf("second relay: got %+v, want 1 relayed", s)
		}
		if got := h.timesPosted(committed[0]); got != 2 {
			t.Errorf("the event was posted %d times, want 2 (before the crash and after)", got)
		}
		events := h.events(t)
		if len(events) != 1 {
			t.Fatalf("herald has %d events, want exactly 1: %v", len(events), events)
		}
		ev, ok := events[committed[0]]
		if !ok {
			t.Fatalf("herald lacks the committed event %s; has %v", committed[0], events)
		}
		if string(ev.Data) != `{"orderId":"o_1","n":12345678901234567890}` || ev.Type != "order.shipped" {
			t.Errorf("herald stored %s %s, want the producer's bytes", ev.Type, ev.Data)
		}
		if h.timesPosted(ghost[0]) != 0 {
			t.Errorf("the rolled-back event %s was posted", ghost[0])
		}
		if got := src.rows(t, src.ob.Table()); got != 0 {
			t.Errorf("the outbox still has %d rows", got)
		}
	})
}

// A row Herald refuses moves to the dead table with Herald's reason; the
// rows around it are relayed.
func TestRefusedRowsGoToDeadTable(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, src source) {
		h := newHerald(t)
		ctx := context.Background()
		ids := src.write(t, true,
			event("order.shipped", `{"orderId":"o_1"}`),
			outbox.Event{TenantID: "ghost", Type: "order.shipped", Data: map[string]string{"orderId": "o_2"}},
			event("order.shipped", `{"orderId":"o_3"}`),
		)
		// A row written around Write, with data Herald could never take.
		if _, err := src.db.Exec(fmt.Sprintf("INSERT INTO %s (id, tenant_id, type, data) VALUES ('evt_bad', 'acme', 'order.shipped', 'not json')", src.ob.Table())); err != nil {
			t.Fatal(err)
		}
		s, err := src.relay(t, h).Drain(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Relayed != 2 || s.Dead != 2 {
			t.Errorf("got %+v, want 2 relayed and 2 dead", s)
		}
		events := h.events(t)
		if _, ok := events[ids[0]]; !ok || len(events) != 2 {
			t.Errorf("herald has %v, want %s and %s", events, ids[0], ids[2])
		}
		rows, err := src.db.Query(fmt.Sprintf("SELECT id, tenant_id, status, reason FROM %s ORDER BY seq", src.ob.DeadTable()))
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		type deadRow struct {
			id, tenant, reason string
			status             int
		}
		var got []deadRow
		for rows.Next() {
			var d deadRow
			if err := rows.Scan(&d.id, &d.tenant, &d.status, &d.reason); err != nil {
				t.Fatal(err)
			}
			got = append(got, d)
		}
		if len(got) != 2 {
			t.Fatalf("dead table: %+v, want 2 rows", got)
		}
		if got[0].id != ids[1] || got[0].tenant != "ghost" || got[0].status != 400 || !strings.Contains(got[0].reason, `no tenant "ghost" exists`) {
			t.Errorf("dead row: %+v, want %s refused with 400 for its unknown tenant", got[0], ids[1])
		}
		if got[1].id != "evt_bad" || !strings.Contains(got[1].reason, "not valid JSON") {
			t.Errorf("dead row: %+v, want evt_bad refused for its data", got[1])
		}
		if n := src.rows(t, src.ob.Table()); n != 0 {
			t.Errorf("the outbox still has %d rows", n)
		}
		// A second pass finds nothing: a dead row is never retried.
		if s, err := src.relay(t, h).Drain(ctx); err != nil || s != (outbox.Stats{}) {
			t.Errorf("second drain: %+v, %v; want nothing", s, err)
		}
	})
}

// Two relays draining one PostgreSQL outbox at once post every row exactly
// once between them.
func TestTwoRelaysShareOnePostgresOutbox(t *testing.T) {
	t.Parallel()
	src := postgresSource(t)
	h := newHerald(t)
	const n = 1200
	var want []string
	for i := range n / 100 {
		evs := make([]outbox.Event, 100)
		for j := range evs {
			evs[j] = event("order.shipped", fmt.Sprintf(`{"n":%d}`, i*100+j))
		}
		want = append(want, src.write(t, true, evs...)...)
	}
	var wg sync.WaitGroup
	stats := make([]outbox.Stats, 2)
	for i := range stats {
		r := src.relay(t, h, func(c *outbox.RelayConfig) { c.BatchSize = 50 })
		wg.Go(func() {
			var err error
			if stats[i], err = r.Drain(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if stats[0].Relayed+stats[1].Relayed != n {
		t.Errorf("relays relayed %d + %d rows, want %d", stats[0].Relayed, stats[1].Relayed, n)
	}
	if stats[0].Relayed == 0 || stats[1].Relayed == 0 {
		t.Logf("one relay did all the work: %+v", stats) // possible, if unlikely
	}
	events := h.events(t)
	for _, id := range want {
		if got := h.timesPosted(id); got != 1 {
			t.Errorf("event %s was posted %d times, want 1", id, got)
		}
		if _, ok := events[id]; !ok {
			t.Errorf("herald lacks event %s", id)
		}
	}
	if len(events) != n {
		t.Errorf("herald has %d events, want %d", len(events), n)
	}
	if got := src.rows(t, src.ob.Table()); got != 0 {
		t.Errorf("the outbox still has %d rows", got)
	}
}

// On PostgreSQL a commit wakes a running relay at once through NOTIFY: the
// relay's poll interval is an hour.
func TestPostgresRelayWakesOnNotify(t *testing.T) {
	t.Parallel()
	src := postgresSource(t)
	h := newHerald(t)
	h.arrived = make(chan string, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	r := src.relay(t, h) // PollInterval: an hour
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	for i := range 3 {
		id := src.write(t, true, event("order.shipped", fmt.Sprintf(`{"n":%d}`, i)))[0]
		select {
		case got := <-h.arrived:
			if got != id {
				t.Fatalf("herald got %s, want %s", got, id)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("event %d was not relayed within 30s of its commit", i)
		}
	}
}

// When Herald answers 503 (with Retry-After) or 429, the relay backs off
// and tries again, and nothing is lost or dead.
func TestRelayBacksOffAndRetries(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, src source) {
		h := newHerald(t)
		h.arrived = make(chan string, 16)
		var refused atomic.Int32
		h.setGate(func(w http.ResponseWriter, r *http.Request) bool {
			switch refused.Add(1) {
			case 1:
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			case 2:
				w.WriteHeader(http.StatusTooManyRequests)
				return true
			}
			return false
		})
		ids := src.write(t, true, event("order.shipped", `{"a":1}`), event("order.shipped", `{"b":2}`))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		r := src.relay(t, h, func(c *outbox.RelayConfig) { c.PollInterval = time.Millisecond })
		go func() { done <- r.Run(ctx) }()
		got := map[string]bool{}
		for len(got) < len(ids) {
			select {
			case id := <-h.arrived:
				got[id] = true
			case <-time.After(30 * time.Second):
				t.Fatalf("after 30s herald got %v of %v", got, ids)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if refused.Load() < 3 {
			t.Errorf("the relay made %d requests, want 2 refused and then more", refused.Load())
		}
		if n := src.rows(t, src.ob.DeadTable()); n != 0 {
			t.Errorf("%d rows are dead, want none", n)
		}
		if n := src.rows(t, src.ob.Table()); n != 0 {
			t.Errorf("%d rows are left, want none", n)
		}
	})
}

// A key Herald refuses stops the relay with an error instead of spinning;
// the rows stay.
func TestRefusedKeyStopsRelay(t *testing.T) {
	t.Parallel()
	src := sqliteSource(t)
	h := newHerald(t)
	src.write(t, true, event("order.shipped", `{}`))
	r := src.relay(t, h, func(c *outbox.RelayConfig) { c.Key = "hka_wrong-key-wrong-key" })
	err := r.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "refused the key: 401") {
		t.Fatalf("Run: got %v, want the key refused", err)
	}
	if n := src.rows(t, src.ob.Table()); n != 1 {
		t.Errorf("the outbox has %d rows, want the 1 unsent", n)
	}
}

// In Mark mode relayed rows stay, with relayed_at set, and are not sent
// again.
func TestMarkKeepsRelayedRows(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, src source) {
		h := newHerald(t)
		ids := src.write(t, true, event("order.shipped", `{}`), event("order.shipped", `{}`))
		for range 2 {
			if _, err := src.relay(t, h, func(c *outbox.RelayConfig) { c.AfterRelay = outbox.Mark }).Drain(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		var n int
		if err := src.db.QueryRow("SELECT count(*) FROM " + src.ob.Table() + " WHERE relayed_at IS NOT NULL").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("%d rows are marked relayed, want 2", n)
		}
		for _, id := range ids {
			if got := h.timesPosted(id); got != 1 {
				t.Errorf("%s posted %d times, want 1", id, got)
			}
		}
	})
}

// Write refuses what Herald would refuse, and the transaction stays usable.
func TestWriteChecksEvents(t *testing.T) {
	t.Parallel()
	src := sqliteSource(t)
	ctx := context.Background()
	tx, err := src.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, e := range []outbox.Event{
		{TenantID: tenant, Type: "order shipped", Data: map[string]int{}},
		{TenantID: tenant, Type: "herald.ping", Data: map[string]int{}},
		{TenantID: tenant, Type: "order.shipped", Data: []int{1}},
		{TenantID: tenant, Type: "order.shipped"},
		{TenantID: "", Type: "order.shipped", Data: map[string]int{}},
		{ID: "evt.1", TenantID: tenant, Type: "order.shipped", Data: map[string]int{}},
	} {
		if _, err := src.ob.Write(ctx, tx, e); err == nil {
			t.Errorf("Write(%+v) succeeded, want an error", e)
		}
	}
	id, err := src.ob.Write(ctx, tx, outbox.Event{ID: "order-1-shipped", TenantID: tenant, Type: "order.shipped", Data: struct {
		OrderID string `json:"orderId"`
	}{"o_1"}})
	if err != nil || id != "order-1-shipped" {
		t.Fatalf("Write: %q, %v", id, err)
	}
	if _, err := outbox.New(outbox.SQLite, outbox.WithTable("orders; DROP TABLE x")); err == nil {
		t.Error("New accepted a table name that is not an identifier")
	}
}

// Against a Herald without batch ingest the relay posts events one by one.
func TestRelayWithoutBatchRoute(t *testing.T) {
	t.Parallel()
	src := sqliteSource(t)
	h := newHerald(t)
	var batches atomic.Int32
	h.setGate(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v1/events/batch" {
			batches.Add(1)
			w.WriteHeader(http.StatusMethodNotAllowed)
			return true
		}
		return false
	})
	var ids []string
	for i := range 3 {
		ids = append(ids, src.write(t, true, event("order.shipped", `{"a":1}`), event("order.shipped", fmt.Sprintf(`{"b":%d}`, i)))...)
	}
	r := src.relay(t, h, func(c *outbox.RelayConfig) { c.BatchSize = 2 })
	s, err := r.Drain(context.Background())
	if err != nil || s.Relayed != 6 {
		t.Fatalf("Drain: %+v, %v; want 6 relayed", s, err)
	}
	if got := batches.Load(); got != 1 {
		t.Errorf("the relay tried the batch route %d times, want once", got)
	}
	for _, id := range ids {
		if got := h.timesPosted(id); got != 1 {
			t.Errorf("%s posted %d times, want 1", id, got)
		}
	}
}

// WritePgx writes in a pgx transaction what Write writes in a database/sql
// one, and the relay sends it.
func TestWritePgx(t *testing.T) {
	t.Parallel()
	src := postgresSource(t)
	h := newHerald(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, src.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	write := func(commit bool) string {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		id, err := src.ob.WritePgx(ctx, tx, event("order.shipped", `{"via":"pgx"}`))
		if err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	kept, dropped := write(true), write(false)
	if _, err := src.relay(t, h).Drain(ctx); err != nil {
		t.Fatal(err)
	}
	events := h.events(t)
	if _, ok := events[kept]; !ok || len(events) != 1 {
		t.Errorf("herald has %v, want only %s (not the rolled-back %s)", events, kept, dropped)
	}
	sqliteOutbox, err := outbox.New(outbox.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := sqliteOutbox.WritePgx(ctx, tx, event("order.shipped", `{}`)); err == nil {
		t.Error("WritePgx on a SQLite outbox succeeded")
	}
}

// A relay posting a batch holds its rows locked: another relay skips them
// meanwhile, and takes them as soon as the first dies.
func TestPostgresLockHeldAcrossPost(t *testing.T) {
	t.Parallel()
	src := postgresSource(t)
	h := newHerald(t)
	ids := src.write(t, true, event("order.shipped", `{"a":1}`), event("order.shipped", `{"b":2}`))
	posted, die := make(chan struct{}), make(chan struct{})
	first := src.relay(t, h, func(c *outbox.RelayConfig) {
		c.AfterPost = func() error {
			close(posted)
			<-die
			return errors.New("died")
		}
	})
	firstDone := make(chan error, 1)
	go func() {
		_, err := first.Drain(context.Background())
		firstDone <- err
	}()
	select {
	case <-posted:
	case err := <-firstDone:
		t.Fatalf("first relay ended before posting: %v", err)
	}
	second := src.relay(t, h)
	if s, err := second.Drain(context.Background()); err != nil || s.Relayed != 0 {
		t.Fatalf("while the first relay holds the rows, the second relayed %+v (%v), want nothing", s, err)
	}
	close(die)
	if err := <-firstDone; err == nil {
		t.Fatal("first relay: want its death")
	}
	if s, err := second.Drain(context.Background()); err != nil || s.Relayed != 2 {
		t.Fatalf("after the first relay died the second relayed %+v (%v), want 2", s, err)
	}
	for _, id := range ids {
		if got := h.timesPosted(id); got != 2 {
			t.Errorf("%s posted %d times, want 2 (once by each relay)", id, got)
		}
	}
	if n := len(h.events(t)); n != 2 {
		t.Errorf("herald has %d events, want 2", n)
	}
}
