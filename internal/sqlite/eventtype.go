package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/heraldhq/herald/internal/hook"
)

// CreateEventType adds a catalogue entry; hook.ErrConflict when the name is
// taken.
func (db *DB) CreateEventType(ctx context.Context, t hook.EventType) error {
	var schema any // NULL when there is none
	if len(t.Schema) > 0 {
		schema = []byte(t.Schema)
	}
	err := db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx,
			"INSERT INTO event_types (name, description, version, schema, created_at) VALUES (?, ?, ?, ?, ?)",
			t.Name, t.Description, t.Version, schema, micros(t.CreatedAt))
		return translate(err)
	})
	if err != nil {
		return fmt.Errorf("create event type: %w", err)
	}
	return nil
}

func scanEventType(s scanner) (hook.EventType, error) {
	var (
		t       hook.EventType
		schema  []byte
		created int64
	)
	if err := s.Scan(&t.Name, &t.Description, &t.Version, &schema, &created); err != nil {
		return hook.EventType{}, translate(err)
	}
	if schema != nil {
		t.Schema = json.RawMessage(schema)
	}
	t.CreatedAt = fromMicros(created)
	return t, nil
}

// ListEventTypes lists the catalogue ordered by name.
func (db *DB) ListEventTypes(ctx context.Context, p hook.ListParams) (hook.Page[hook.EventType], error) {
	after, err := hook.DecodeCursor(listEventTypes, p.Cursor)
	if err != nil {
		return hook.Page[hook.EventType]{}, fmt.Errorf("list event types: %w", err)
	}
	limit := p.PageLimit()
	ts, err := queryList(ctx, db.read, scanEventType,
		"SELECT name, description, version, schema, created_at FROM event_types WHERE name > ? ORDER BY name LIMIT ?",
		after, limit+1)
	if err != nil {
		return hook.Page[hook.EventType]{}, fmt.Errorf("list event types: %w", err)
	}
	return hook.NewPage(ts, limit, listEventTypes, func(t hook.EventType) string { return t.Name }), nil
}
