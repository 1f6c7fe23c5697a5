package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/heraldhq/herald/internal/hook"
)

func insertDelivery(ctx context.Context, tx *wtx, d hook.Delivery) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO deliveries
		(id, event_id, endpoint_id, tenant_id, event_type, status, attempt_count, next_attempt_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.EventID, d.EndpointID, d.TenantID, d.EventType, string(d.Status), d.AttemptCount,
		nullMicros(d.NextAttemptAt), micros(d.CreatedAt), micros(d.UpdatedAt))
	return translate(err)
}

// seqDelivery is a delivery with its position in the newest-first order.
type seqDelivery struct {
	seq int64
	hook.Delivery
}

const deliveryColumns = `seq, id, event_id, endpoint_id, tenant_id, event_type, status, attempt_count,
	next_attempt_at, created_at, updated_at`

func scanDelivery(s scanner) (seqDelivery, error) {
	var (
		d                seqDelivery
		status           string
		next             sql.NullInt64
		created, updated int64
	)
	err := s.Scan(&d.seq, &d.ID, &d.EventID, &d.EndpointID, &d.TenantID, &d.EventType, &status,
		&d.AttemptCount, &next, &created, &updated)
	if err != nil {
		return seqDelivery{}, translate(err)
	}
	d.Status = hook.DeliveryStatus(status)
	d.NextAttemptAt = fromNullMicros(next)
	d.CreatedAt = fromMicros(created)
	d.UpdatedAt = fromMicros(updated)
	return d, nil
}

// Delivery returns the delivery id.
func (db *DB) Delivery(ctx context.Context, id string) (hook.Delivery, error) {
	d, err := scanDelivery(db.read.QueryRowContext(ctx, "SELECT "+deliveryColumns+" FROM deliveries WHERE id = ?", id))
	if err != nil {
		return hook.Delivery{}, fmt.Errorf("get delivery: %w", err)
	}
	return d.Delivery, nil
}

// ListDeliveries lists deliveries newest first: by ingest order, like
// events.
func (db *DB) ListDeliveries(ctx context.Context, f hook.DeliveryFilter) (hook.Page[hook.Delivery], error) {
	before, err := hook.DecodeSeqCursor(listDeliveries, f.Cursor)
	if err != nil {
		return hook.Page[hook.Delivery]{}, fmt.Errorf("list deliveries: %w", err)
	}
	var w where
	if before > 0 {
		w.add("seq < ?", before)
	}
	if f.TenantID != "" {
		w.add("tenant_id = ?", f.TenantID)
	}
	if f.EventID != "" {
		w.add("event_id = ?", f.EventID)
	}
	if f.EndpointID != "" {
		w.add("endpoint_id = ?", f.EndpointID)
	}
	if f.EventType != "" {
		w.add("event_type = ?", f.EventType)
	}
	if f.Status != "" {
		// A literal, not a parameter: only a literal lets SQLite use the
		// partial index deliveries_failed.
		if !f.Status.Valid() {
			return hook.Page[hook.Delivery]{}, fmt.Errorf("list deliveries: unknown status %q", f.Status)
		}
		w.add("status = '" + string(f.Status) + "'")
	}
	// "+created_at", as in ListEvents, keeps the planner off the
	// (endpoint_id, created_at) index, which is for stats: walking seq
	// downwards stops at the page's end.
	if !f.Since.IsZero() {
		w.add("+created_at >= ?", micros(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("+created_at < ?", micros(f.Until))
	}
	limit := f.PageLimit()
	ds, err := queryList(ctx, db.read, scanDelivery,
		"SELECT "+deliveryColumns+" FROM deliveries"+w.String()+" ORDER BY seq DESC LIMIT ?", append(w.args, limit+1)...)
	if err != nil {
		return hook.Page[hook.Delivery]{}, fmt.Errorf("list deliveries: %w", err)
	}
	p := hook.NewPage(ds, limit, listDeliveries, func(d seqDelivery) string { return strconv.FormatInt(d.seq, 10) })
	out := hook.Page[hook.Delivery]{Items: make([]hook.Delivery, len(p.Items)), Next: p.Next}
	for i, d := range p.Items {
		out.Items[i] = d.Delivery
	}
	return out, nil
}
