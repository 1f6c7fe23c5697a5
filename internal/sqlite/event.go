package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// Ingest stores ev and one pending delivery for each active endpoint of its
// tenant that matches its type, in one write: one savepoint of one batch,
// committed before Ingest returns. The id check runs inside that write, and
// writes are serialized, so of two Ingests of one id exactly one creates the
// event and the other finds it (Duplicate). A zero CreatedAt means now; the
// deliveries are due at CreatedAt.
func (db *DB) Ingest(ctx context.Context, ev hook.Event) (hook.IngestResult, error) {
	items, err := db.IngestBatch(ctx, []hook.Event{ev})
	if err != nil {
		return hook.IngestResult{}, err
	}
	return items[0].Result, items[0].Err
}

// IngestBatch ingests evs in one write; see hook.Store. An event refused
// (its tenant does not exist) deletes the row it inserted, so it needs no
// savepoint of its own. The tenants and their active endpoints
// are read once per batch.
func (db *DB) IngestBatch(ctx context.Context, evs []hook.Event) ([]hook.IngestItem, error) {
	evs = hook.StampEvents(evs, time.Now())
	items := make([]hook.IngestItem, len(evs))
	err := db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		tenants := map[string]*tenantEndpoints{}
		for i, ev := range evs {
			res, err := ingest(ctx, tx, ev, tenants)
			if err != nil && !errors.Is(err, hook.ErrNotFound) {
				return err
			}
			items[i] = hook.IngestItem{Result: res, Err: err}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	return items, nil
}

// tenantEndpoints is what a batch of ingests learnt of one tenant: whether
// it exists, and its active endpoints.
type tenantEndpoints struct {
	exists bool
	eps    []hook.Endpoint
}

func ingest(ctx context.Context, tx *wtx, ev hook.Event, tenants map[string]*tenantEndpoints) (hook.IngestResult, error) {
	// The insert comes first, as on PostgreSQL: an id that exists is a
	// duplicate whatever its tenant, and the common case is one statement.
	// Without RETURNING: SQLite collects RETURNING rows in a temporary
	// table, which cost more than asking for the rowid after.
	ins, err := tx.ExecContext(ctx, `INSERT INTO events (id, tenant_id, type, data, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`,
		ev.ID, ev.TenantID, ev.Type, []byte(ev.Data), micros(ev.CreatedAt))
	if err != nil {
		return hook.IngestResult{}, translate(err)
	}
	if n, err := ins.RowsAffected(); err != nil {
		return hook.IngestResult{}, err
	} else if n == 0 {
		old, err := scanEvent(tx.QueryRowContext(ctx, "SELECT "+eventColumns+" FROM events WHERE id = ?", ev.ID))
		if err != nil {
			return hook.IngestResult{}, err
		}
		return hook.IngestResult{Event: old.Event, Duplicate: true}, nil
	}
	seq, err := ins.LastInsertId()
	if err != nil {
		return hook.IngestResult{}, err
	}
	te := tenants[ev.TenantID]
	if te == nil {
		if te, err = readTenantEndpoints(ctx, tx, ev.TenantID); err != nil {
			return hook.IngestResult{}, err
		}
		tenants[ev.TenantID] = te
	}
	if !te.exists {
		// Undone here rather than by a savepoint: the event was the only
		// write.
		if _, err := tx.ExecContext(ctx, "DELETE FROM events WHERE seq = ?", seq); err != nil {
			return hook.IngestResult{}, err
		}
		return hook.IngestResult{}, fmt.Errorf("tenant %s: %w", ev.TenantID, hook.ErrNotFound)
	}
	res := hook.IngestResult{Event: ev}
	for _, ep := range te.eps {
		if !ep.Matches(ev.Type) {
			continue
		}
		d := hook.NewDelivery(ev, ep, ev.CreatedAt)
		if err := insertDelivery(ctx, tx, d); err != nil {
			return hook.IngestResult{}, err
		}
		res.Deliveries = append(res.Deliveries, d)
	}
	return res, nil
}

// readTenantEndpoints returns whether a tenant exists and its active
// endpoints (ID and Events only, shared: not to be changed). The writer
// keeps what it read while match_version holds (0007_match.sql): with
// single events, reading it again for every event was a tenth of all CPU.
// A version read inside a transaction covers its own changes too.
func readTenantEndpoints(ctx context.Context, tx *wtx, tenant string) (*tenantEndpoints, error) {
	var version int64
	if err := tx.QueryRowContext(ctx, "SELECT version FROM match_version").Scan(&version); err != nil {
		return nil, err
	}
	m := tx.batch.match
	if te, ok := m.get(version, tenant); ok {
		return te, nil
	}
	te, err := loadTenantEndpoints(ctx, tx, tenant)
	if err != nil {
		return nil, err
	}
	// Only tenants that exist: an ingest for any other is refused, needs
	// no speed, and would leave its id, of any length, in the cache.
	if te.exists {
		m.put(version, tenant, te)
	}
	return te, nil
}

// loadTenantEndpoints reads whether a tenant exists and its active
// endpoints, with only ID and Events set, ordered by id.
func loadTenantEndpoints(ctx context.Context, tx *wtx, tenant string) (*tenantEndpoints, error) {
	te := &tenantEndpoints{}
	err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM tenants WHERE id = ?)", tenant).Scan(&te.exists)
	if err != nil || !te.exists {
		return te, err
	}
	rows, err := tx.QueryContext(ctx, "SELECT id, events FROM endpoints WHERE tenant_id = ? AND status = ? ORDER BY id",
		tenant, hook.EndpointActive)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			ep     hook.Endpoint
			events string
		)
		if err := rows.Scan(&ep.ID, &events); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(events), &ep.Events); err != nil {
			return nil, fmt.Errorf("endpoint %s events: %w", ep.ID, err)
		}
		te.eps = append(te.eps, ep)
	}
	return te, rows.Err()
}

// seqEvent is an event with its position in the newest-first order.
type seqEvent struct {
	seq int64
	hook.Event
}

const eventColumns = "seq, id, tenant_id, type, data, created_at"

func scanEvent(s scanner) (seqEvent, error) {
	var (
		e       seqEvent
		data    []byte
		created int64
	)
	if err := s.Scan(&e.seq, &e.ID, &e.TenantID, &e.Type, &data, &created); err != nil {
		return seqEvent{}, translate(err)
	}
	e.Data = json.RawMessage(data)
	e.CreatedAt = fromMicros(created)
	return e, nil
}

// Event returns the event id, its data the bytes the producer sent.
func (db *DB) Event(ctx context.Context, id string) (hook.Event, error) {
	e, err := scanEvent(db.read.QueryRowContext(ctx, "SELECT "+eventColumns+" FROM events WHERE id = ?", id))
	if err != nil {
		return hook.Event{}, fmt.Errorf("get event: %w", err)
	}
	return e.Event, nil
}

// ListEvents lists events newest first: by ingest order, since producer
// chosen ids do not sort by time.
func (db *DB) ListEvents(ctx context.Context, f hook.EventFilter) (hook.Page[hook.Event], error) {
	before, err := hook.DecodeSeqCursor(listEvents, f.Cursor)
	if err != nil {
		return hook.Page[hook.Event]{}, fmt.Errorf("list events: %w", err)
	}
	var w where
	if before > 0 {
		w.add("seq < ?", before)
	}
	if f.TenantID != "" {
		w.add("tenant_id = ?", f.TenantID)
	}
	if f.Type != "" {
		w.add("type = ?", f.Type)
	}
	// "+created_at" keeps the planner off the created_at index (which is
	// for retention): through it, a wide time range would be read whole and
	// sorted to return one page, where walking seq downwards stops at the
	// page's end. seq and created_at grow together.
	if !f.Since.IsZero() {
		w.add("+created_at >= ?", micros(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("+created_at < ?", micros(f.Until))
	}
	limit := f.PageLimit()
	es, err := queryList(ctx, db.read, scanEvent,
		"SELECT "+eventColumns+" FROM events"+w.String()+" ORDER BY seq DESC LIMIT ?", append(w.args, limit+1)...)
	if err != nil {
		return hook.Page[hook.Event]{}, fmt.Errorf("list events: %w", err)
	}
	p := hook.NewPage(es, limit, listEvents, func(e seqEvent) string { return strconv.FormatInt(e.seq, 10) })
	out := hook.Page[hook.Event]{Items: make([]hook.Event, len(p.Items)), Next: p.Next}
	for i, e := range p.Items {
		out.Items[i] = e.Event
	}
	return out, nil
}

// matchingEndpoints returns the active endpoints of ev's tenant whose event
// patterns match its type, ordered by id, with only ID and Events set.
func matchingEndpoints(ctx context.Context, tx *wtx, ev hook.Event) ([]hook.Endpoint, error) {
	te, err := readTenantEndpoints(ctx, tx, ev.TenantID)
	if err != nil {
		return nil, err
	}
	var eps []hook.Endpoint
	for _, ep := range te.eps {
		if ep.Matches(ev.Type) {
			eps = append(eps, ep)
		}
	}
	return eps, nil
}
