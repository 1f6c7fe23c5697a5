package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/hook"
)

// tenantsQuery holds the tenants $1 that exist with a key-share lock (see
// Ingest) and returns their ids. endpointsQuery, the next statement, then
// reads their active endpoints ordered by id, with only ID and Events: a
// statement of its own, so its snapshot is taken once the locks are held.
const (
	tenantsQuery   = "SELECT id FROM tenants WHERE id = ANY($1::text[]) FOR KEY SHARE"
	endpointsQuery = `SELECT tenant_id, id, events FROM endpoints
		WHERE tenant_id = ANY($1::text[]) AND status = 'active' ORDER BY tenant_id, id`
)

// ingestQuery inserts events ($1-$5) in the order given, skipping those
// whose id exists, and the deliveries ($6-$11) of those it inserted, and
// returns the ids of the events inserted.
const ingestQuery = `WITH ev AS (
		INSERT INTO events (id, tenant_id, type, data, created_at)
		SELECT u.id, u.tenant_id, u.type, u.data, u.created_at
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::timestamptz[])
			WITH ORDINALITY AS u (id, tenant_id, type, data, created_at, n)
		ORDER BY u.n
		ON CONFLICT (id) DO NOTHING
		RETURNING id
	), dl AS (
		INSERT INTO deliveries
			(id, event_id, endpoint_id, tenant_id, event_type, status, attempt_count, next_attempt_at, created_at, updated_at)
		SELECT d.id, d.event_id, d.endpoint_id, d.tenant_id, d.event_type, 'pending', 0, d.at, d.at, d.at
		FROM unnest($6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[])
			WITH ORDINALITY AS d (id, event_id, endpoint_id, tenant_id, event_type, at, n)
		WHERE d.event_id IN (SELECT id FROM ev)
		ORDER BY d.n
	)
	SELECT id FROM ev`

// IngestBatch ingests evs in one transaction of a few statements, whatever
// their number; see hook.Store and Ingest.
//
// First the tenants of the batch are held with a key-share lock and their
// active endpoints read (tenantsQuery, endpointsQuery). The events of
// tenants that exist, each id once (the first in request order), are then
// inserted in the order of their ids with ON CONFLICT DO NOTHING, with the
// deliveries of those inserted, in one statement (ingestQuery): of two
// batches sharing ids, the second waits for the first to commit and then
// finds its events, or inserts them if the first rolled back; the id order
// makes two such batches wait for each other rather than deadlock. An id
// that was not inserted, or repeats an earlier one of the batch, is a
// duplicate of the event stored under it, read by one more query. One
// NOTIFY covers the batch (see insert).
func (db *DB) IngestBatch(ctx context.Context, evs []hook.Event) ([]hook.IngestItem, error) {
	if len(evs) == 0 {
		return []hook.IngestItem{}, nil
	}
	evs = hook.StampEvents(evs, time.Now())
	tenantIDs := make([]string, 0, 1)
	for i := range evs {
		if !slices.Contains(tenantIDs, evs[i].TenantID) {
			tenantIDs = append(tenantIDs, evs[i].TenantID)
		}
	}
	order := make([]int, len(evs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(evs[a].ID, evs[b].ID) })
	var items []hook.IngestItem
	err := db.tx(ctx, func(tx pgx.Tx) error {
		items = make([]hook.IngestItem, len(evs))
		tenants, err := lockTenants(ctx, tx, tenantIDs)
		if err != nil {
			return err
		}
		b := newIngestBatch(evs, items, tenants)
		for _, i := range order {
			b.add(i)
		}
		inserted, err := b.insert(ctx, tx)
		if err != nil {
			return err
		}
		return b.settle(ctx, tx, inserted)
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	return items, nil
}

func scanString(s scanner) (string, error) {
	var v string
	err := s.Scan(&v)
	return v, err
}

// lockTenants holds the tenants ids that exist with a key-share lock and
// returns their active endpoints (none for a tenant that has none); a
// tenant that does not exist is not in the map. Both statements go in one
// round trip.
func lockTenants(ctx context.Context, tx pgx.Tx, ids []string) (map[string][]hook.Endpoint, error) {
	tenants := make(map[string][]hook.Endpoint, len(ids))
	var b pgx.Batch
	b.Queue(tenantsQuery, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			id, err := scanString(rows)
			if err != nil {
				return err
			}
			tenants[id] = nil
		}
		return rows.Err()
	})
	b.Queue(endpointsQuery, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				tenant, events string
				ep             hook.Endpoint
			)
			err := rows.Scan(&tenant, &ep.ID, &events)
			if err != nil {
				return err
			}
			if ep.Events, err = stringList(events); err != nil {
				return fmt.Errorf("endpoint %s events: %w", ep.ID, err)
			}
			if eps, ok := tenants[tenant]; ok {
				tenants[tenant] = append(eps, ep)
			}
		}
		return rows.Err()
	})
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return nil, translate(err)
	}
	return tenants, nil
}

// insert runs ingestQuery and returns the ids of the events it inserted.
// When the batch sent deliveries, the NOTIFY that wakes the dispatchers
// goes in the same round trip: a NOTIFY takes effect at the commit, and
// one for a batch whose events all turned out to be duplicates only
// makes the dispatchers look and find nothing, where a round trip of its
// own for each batch cost about a twentieth of the ingest's CPU.
func (b *ingestBatch) insert(ctx context.Context, tx pgx.Tx) ([]string, error) {
	var (
		batch    pgx.Batch
		inserted []string
	)
	batch.Queue(ingestQuery, b.args()...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			id, err := scanString(rows)
			if err != nil {
				return err
			}
			inserted = append(inserted, id)
		}
		return rows.Err()
	})
	if len(b.dIDs) > 0 {
		batch.Queue("SELECT pg_notify($1, '')", notifyChannel)
	}
	if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
		return nil, translate(err)
	}
	return inserted, nil
}

// ingestBatch gathers the rows ingestQuery inserts and answers the items.
type ingestBatch struct {
	evs   []hook.Event
	items []hook.IngestItem
	// endpoints are the active endpoints of the tenants of the batch that
	// exist (see lockTenants).
	endpoints map[string][]hook.Endpoint
	sent      map[string]int // event id: the index of the event sent under it
	// pending are the results of the events sent, deliveries included,
	// until ingestQuery tells which were inserted.
	pending map[int]hook.IngestResult
	// The columns of the events and deliveries sent.
	ids, tenants, types                         []string
	data                                        [][]byte
	created                                     []time.Time
	dIDs, dEvents, dEndpoints, dTenants, dTypes []string
	dAt                                         []time.Time
}

// newIngestBatch returns the batch of evs, with room for an event and a
// delivery of each.
func newIngestBatch(evs []hook.Event, items []hook.IngestItem, endpoints map[string][]hook.Endpoint) *ingestBatch {
	n := len(evs)
	return &ingestBatch{
		evs: evs, items: items, endpoints: endpoints,
		sent: make(map[string]int, n), pending: make(map[int]hook.IngestResult, n),
		ids: make([]string, 0, n), tenants: make([]string, 0, n), types: make([]string, 0, n),
		data: make([][]byte, 0, n), created: make([]time.Time, 0, n),
		dIDs: make([]string, 0, n), dEvents: make([]string, 0, n), dEndpoints: make([]string, 0, n),
		dTenants: make([]string, 0, n), dTypes: make([]string, 0, n), dAt: make([]time.Time, 0, n),
	}
}

// add sends evs[i], unless its tenant does not exist or an event of the
// batch with its id was sent already: those are settled later. Its deliveries are those of its tenant's endpoints that match its
// type, in the order of their ids.
func (b *ingestBatch) add(i int) {
	ev := b.evs[i]
	if _, ok := b.sent[ev.ID]; ok {
		return
	}
	eps, ok := b.endpoints[ev.TenantID]
	if !ok {
		return // a duplicate, or ErrNotFound: settled later
	}
	b.sent[ev.ID] = i
	b.ids = append(b.ids, ev.ID)
	b.tenants = append(b.tenants, ev.TenantID)
	b.types = append(b.types, ev.Type)
	b.data = append(b.data, []byte(ev.Data))
	b.created = append(b.created, ev.CreatedAt)
	res := hook.IngestResult{Event: ev}
	for _, ep := range eps {
		if !ep.Matches(ev.Type) {
			continue
		}
		d := hook.NewDelivery(ev, ep, ev.CreatedAt)
		res.Deliveries = append(res.Deliveries, d)
		b.dIDs = append(b.dIDs, d.ID)
		b.dEvents = append(b.dEvents, ev.ID)
		b.dEndpoints = append(b.dEndpoints, ep.ID)
		b.dTenants = append(b.dTenants, ev.TenantID)
		b.dTypes = append(b.dTypes, ev.Type)
		b.dAt = append(b.dAt, ev.CreatedAt)
	}
	b.pending[i] = res
}

func (b *ingestBatch) args() []any {
	return []any{textArray(b.ids), textArray(b.tenants), textArray(b.types), byteaArray(b.data), timestamptzArray(b.created),
		textArray(b.dIDs), textArray(b.dEvents), textArray(b.dEndpoints), textArray(b.dTenants), textArray(b.dTypes),
		timestamptzArray(b.dAt)}
}

// settle answers the items once the events inserted are known: those
// inserted with their results, the others as duplicates of the events
// stored under their ids or, when there are none, with ErrNotFound: their
// tenant does not exist.
func (b *ingestBatch) settle(ctx context.Context, tx pgx.Tx, inserted []string) error {
	isNew := make(map[string]bool, len(inserted))
	for _, id := range inserted {
		isNew[id] = true
		i := b.sent[id]
		b.items[i].Result = b.pending[i]
	}
	var dups []string // ids not inserted: stored before, or of no tenant
	for _, ev := range b.evs {
		if !isNew[ev.ID] && !slices.Contains(dups, ev.ID) {
			dups = append(dups, ev.ID)
		}
	}
	byID := map[string]hook.Event{}
	if len(dups) > 0 {
		stored, err := queryList(ctx, tx, scanEvent, "SELECT "+eventColumns+" FROM events WHERE id = ANY($1::text[])", dups)
		if err != nil {
			return err
		}
		for _, e := range stored {
			byID[e.ID] = e.Event
		}
	}
	for i, ev := range b.evs {
		first := b.sent[ev.ID]
		old, stored := byID[ev.ID]
		_, tenant := b.endpoints[ev.TenantID]
		switch {
		case isNew[ev.ID] && first == i:
			// inserted
		case isNew[ev.ID] && first < i:
			b.items[i].Result = hook.IngestResult{Event: b.evs[first], Duplicate: true}
		case stored:
			b.items[i].Result = hook.IngestResult{Event: old, Duplicate: true}
		case !tenant:
			// Not sent: a later event of the batch with its id may have
			// been, but that one is not its duplicate.
			b.items[i].Err = fmt.Errorf("tenant %s: %w", ev.TenantID, hook.ErrNotFound)
		default:
			// Sent, skipped by ON CONFLICT, yet gone: deleted since by the
			// transaction that stored it.
			return fmt.Errorf("event %s: stored by another ingest and deleted since: %w", ev.ID, hook.ErrConflict)
		}
	}
	return nil
}
