package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/hook"
)

// notifyChannel is the channel Ingest notifies and Listen listens on.
const notifyChannel = "herald_deliveries"

// Ingest stores ev and one pending delivery for each active endpoint of its
// tenant that matches its type, in one transaction; see hook.Store. A zero
// CreatedAt means now; the deliveries are due at CreatedAt.
//
// The insert of the event comes first, with ON CONFLICT DO NOTHING: of two
// ingests of one id the second waits for the first to commit and then finds
// its event (Duplicate), or, if the first rolled back, inserts. The tenant
// row is then held with a key-share lock, so that DeleteTenant and
// DeleteEndpoint, which lock it for update, wait for this commit before
// they cancel pending deliveries. When deliveries were made, a NOTIFY on
// herald_deliveries fires at commit, for Listen.
func (db *DB) Ingest(ctx context.Context, ev hook.Event) (hook.IngestResult, error) {
	items, err := db.IngestBatch(ctx, []hook.Event{ev})
	if err != nil {
		return hook.IngestResult{}, err
	}
	return items[0].Result, items[0].Err
}

// IngestBatch ingests evs in one transaction; see hook.Store and Ingest.
// The events are inserted in the order of their ids (request order among
// equal ids), so two batches that share ids wait for each other rather
// than deadlock. An event whose tenant does not exist is deleted again
// within the transaction, which needs no savepoint. The tenants and their
// active endpoints are read once per batch, and one NOTIFY covers it.
func (db *DB) IngestBatch(ctx context.Context, evs []hook.Event) ([]hook.IngestItem, error) {
	now := time.Now()
	evs = slices.Clone(evs)
	for i := range evs {
		if evs[i].CreatedAt.IsZero() {
			evs[i].CreatedAt = now
		}
		evs[i].CreatedAt = hook.Timestamp(evs[i].CreatedAt)
	}
	order := make([]int, len(evs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(evs[a].ID, evs[b].ID) })
	var items []hook.IngestItem
	err := db.tx(ctx, func(tx pgx.Tx) error {
		items = make([]hook.IngestItem, len(evs))
		tenants := map[string]*tenantEndpoints{}
		notify := false
		for _, i := range order {
			res, err := ingest(ctx, tx, evs[i], tenants)
			if err != nil && !errors.Is(err, hook.ErrNotFound) {
				return err
			}
			items[i] = hook.IngestItem{Result: res, Err: err}
			notify = notify || len(res.Deliveries) > 0
		}
		if notify {
			if _, err := tx.Exec(ctx, "SELECT pg_notify($1, '')", notifyChannel); err != nil {
				return translate(err)
			}
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

func ingest(ctx context.Context, tx pgx.Tx, ev hook.Event, tenants map[string]*tenantEndpoints) (hook.IngestResult, error) {
	var seq int64
	err := tx.QueryRow(ctx, `INSERT INTO events (id, tenant_id, type, data, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO NOTHING RETURNING seq`,
		ev.ID, ev.TenantID, ev.Type, []byte(ev.Data), ev.CreatedAt).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		old, err := scanEvent(tx.QueryRow(ctx, "SELECT "+eventColumns+" FROM events WHERE id = $1", ev.ID))
		if err != nil {
			return hook.IngestResult{}, err
		}
		return hook.IngestResult{Event: old.Event, Duplicate: true}, nil
	}
	if err != nil {
		return hook.IngestResult{}, translate(err)
	}
	te := tenants[ev.TenantID]
	if te == nil {
		if te, err = readTenantEndpoints(ctx, tx, ev.TenantID); err != nil {
			return hook.IngestResult{}, err
		}
		tenants[ev.TenantID] = te
	}
	if !te.exists {
		if _, err := tx.Exec(ctx, "DELETE FROM events WHERE id = $1", ev.ID); err != nil {
			return hook.IngestResult{}, translate(err)
		}
		return hook.IngestResult{}, fmt.Errorf("tenant %s: %w", ev.TenantID, hook.ErrNotFound)
	}
	res := hook.IngestResult{Event: ev}
	var ids, endpoints []string
	for _, ep := range te.eps {
		if !ep.Matches(ev.Type) {
			continue
		}
		d := hook.NewDelivery(ev, ep, ev.CreatedAt)
		res.Deliveries = append(res.Deliveries, d)
		ids = append(ids, d.ID)
		endpoints = append(endpoints, d.EndpointID)
	}
	if len(ids) == 0 {
		return res, nil
	}
	_, err = tx.Exec(ctx, `INSERT INTO deliveries
		(id, event_id, endpoint_id, tenant_id, event_type, status, attempt_count, next_attempt_at, created_at, updated_at)
		SELECT d.id, $3, d.endpoint_id, $4, $5, 'pending', 0, $6, $6, $6
		FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS d (id, endpoint_id, n)
		ORDER BY d.n`,
		ids, endpoints, ev.ID, ev.TenantID, ev.Type, ev.CreatedAt)
	if err != nil {
		return hook.IngestResult{}, translate(err)
	}
	return res, nil
}

// readTenantEndpoints reads whether a tenant exists, holding it with a
// key-share lock (see Ingest), and its active endpoints ordered by id with
// only ID and Events set. Events have no foreign key to their tenant (they
// outlive it), so ingest checks here that it exists now.
func readTenantEndpoints(ctx context.Context, tx pgx.Tx, tenant string) (*tenantEndpoints, error) {
	var id string
	err := tx.QueryRow(ctx, "SELECT id FROM tenants WHERE id = $1 FOR KEY SHARE", tenant).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return &tenantEndpoints{}, nil
	}
	if err != nil {
		return nil, translate(err)
	}
	eps, err := activeEndpoints(ctx, tx, tenant)
	if err != nil {
		return nil, err
	}
	return &tenantEndpoints{exists: true, eps: eps}, nil
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
