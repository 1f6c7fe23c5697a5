package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/hook"
)

// notifyChannel is the channel Ingest notifies and Listen listens on.
const notifyChannel = "herald_deliveries"

// Ingest stores ev and one pending delivery for each active endpoint of its
// tenant that matches its type, in one transaction; see hook.Store. A zero
// CreatedAt means now; the deliveries are due at CreatedAt.
//
// It is IngestBatch of one event: the tenant row is held with a key-share
// lock first, so that DeleteTenant and DeleteEndpoint, which lock it for
// update, wait for this commit before they cancel pending deliveries; then
// the event is inserted with ON CONFLICT DO NOTHING: of two ingests of one
// id the second waits for the first to commit and then finds its event
// (Duplicate), or, if the first rolled back, inserts. When deliveries were
// made, a NOTIFY on herald_deliveries fires at commit, for Listen.
func (db *DB) Ingest(ctx context.Context, ev hook.Event) (hook.IngestResult, error) {
	items, err := db.IngestBatch(ctx, []hook.Event{ev})
	if err != nil {
		return hook.IngestResult{}, err
	}
	return items[0].Result, items[0].Err
}

// matchingEndpoints returns the active endpoints of ev's tenant whose event
// patterns match its type, ordered by id, with only ID and Events set.
func matchingEndpoints(ctx context.Context, tx pgx.Tx, ev hook.Event) ([]hook.Endpoint, error) {
	all, err := activeEndpoints(ctx, tx, ev.TenantID)
	if err != nil {
		return nil, err
	}
	var eps []hook.Endpoint
	for _, ep := range all {
		if ep.Matches(ev.Type) {
			eps = append(eps, ep)
		}
	}
	return eps, nil
}

// activeEndpoints returns the active endpoints of a tenant, ordered by id,
// with only ID and Events set.
func activeEndpoints(ctx context.Context, tx pgx.Tx, tenant string) ([]hook.Endpoint, error) {
	return queryList(ctx, tx, func(s scanner) (hook.Endpoint, error) {
		var (
			ep     hook.Endpoint
			events string
		)
		if err := s.Scan(&ep.ID, &events); err != nil {
			return ep, err
		}
		if err := json.Unmarshal([]byte(events), &ep.Events); err != nil {
			return ep, fmt.Errorf("endpoint %s events: %w", ep.ID, err)
		}
		return ep, nil
	}, "SELECT id, events FROM endpoints WHERE tenant_id = $1 AND status = 'active' ORDER BY id", tenant)
}

// seqEvent is an event with its position in the newest-first order.
type seqEvent struct {
	seq int64
	hook.Event
}

const eventColumns = "seq, id, tenant_id, type, data, created_at"

func scanEvent(s scanner) (seqEvent, error) {
	var (
		e    seqEvent
		data []byte
	)
	if err := s.Scan(&e.seq, &e.ID, &e.TenantID, &e.Type, &data, &e.CreatedAt); err != nil {
		return seqEvent{}, translate(err)
	}
	e.Data = json.RawMessage(data)
	e.CreatedAt = e.CreatedAt.UTC()
	return e, nil
}

// Event returns the event id, its data the bytes the producer sent.
func (db *DB) Event(ctx context.Context, id string) (hook.Event, error) {
	e, err := scanEvent(db.pool.QueryRow(ctx, "SELECT "+eventColumns+" FROM events WHERE id = $1", id))
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
		w.add("seq < $?", before)
	}
	if f.TenantID != "" {
		w.add("tenant_id = $?", f.TenantID)
	}
	if f.Type != "" {
		w.add("type = $?", f.Type)
	}
	if !f.Since.IsZero() {
		w.add("created_at >= $?", ts(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("created_at < $?", ts(f.Until))
	}
	limit := f.PageLimit()
	es, err := queryList(ctx, db.pool, scanEvent,
		"SELECT "+eventColumns+" FROM events"+w.String()+" ORDER BY seq DESC"+w.limit(), append(w.args, limit+1)...)
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

// CreateEventType adds a catalogue entry; hook.ErrConflict when the name is
// taken.
func (db *DB) CreateEventType(ctx context.Context, t hook.EventType) error {
	var schema []byte // nil, NULL, when there is none
	if len(t.Schema) > 0 {
		schema = t.Schema
	}
	_, err := db.pool.Exec(ctx,
		"INSERT INTO event_types (name, description, version, schema, created_at) VALUES ($1, $2, $3, $4, $5)",
		t.Name, t.Description, t.Version, schema, ts(t.CreatedAt))
	if err != nil {
		return fmt.Errorf("create event type: %w", translate(err))
	}
	return nil
}

func scanEventType(s scanner) (hook.EventType, error) {
	var (
		t      hook.EventType
		schema []byte
	)
	if err := s.Scan(&t.Name, &t.Description, &t.Version, &schema, &t.CreatedAt); err != nil {
		return hook.EventType{}, translate(err)
	}
	if schema != nil {
		t.Schema = json.RawMessage(schema)
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return t, nil
}

// ListEventTypes lists the catalogue ordered by name.
func (db *DB) ListEventTypes(ctx context.Context, p hook.ListParams) (hook.Page[hook.EventType], error) {
	after, err := hook.DecodeCursor(listEventTypes, p.Cursor)
	if err != nil {
		return hook.Page[hook.EventType]{}, fmt.Errorf("list event types: %w", err)
	}
	limit := p.PageLimit()
	types, err := queryList(ctx, db.pool, scanEventType,
		"SELECT name, description, version, schema, created_at FROM event_types WHERE name > $1 ORDER BY name LIMIT $2",
		after, limit+1)
	if err != nil {
		return hook.Page[hook.EventType]{}, fmt.Errorf("list event types: %w", err)
	}
	return hook.NewPage(types, limit, listEventTypes, func(t hook.EventType) string { return t.Name }), nil
}
