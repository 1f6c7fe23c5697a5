package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// eventIn is the body of POST /v1/events. Data stays the bytes received:
// it is checked to be a JSON object but never decoded into generic values,
// so large integers and key order stay exactly as the producer sent them.
type eventIn struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	TenantID string          `json:"tenantId"`
	Data     json.RawMessage `json:"data"`
}

// decodeValid decodes an event in the common case (see validDecoder). Data
// is copied out of body, as json.RawMessage would, so that an event kept in
// memory does not keep the whole request (a batch) with it.
func (in *eventIn) decodeValid(body []byte) bool {
	var (
		out  eventIn
		seen [4]bool // id, type, tenantId, data
		ok   = true
	)
	members(body, func(key []byte, escaped bool, v []byte) bool {
		f := -1
		if !escaped {
			switch string(key) {
			case "id":
				f = 0
			case "type":
				f = 1
			case "tenantId":
				f = 2
			case "data":
				f = 3
			}
		}
		if f < 0 || seen[f] {
			ok = false
			return false
		}
		seen[f] = true
		switch f {
		case 0:
			out.ID, ok = plainString(v)
		case 1:
			out.Type, ok = plainString(v)
		case 2:
			out.TenantID, ok = plainString(v)
		case 3:
			// Only an object; anything else is refused, which
			// encoding/json's path words as it always has.
			if ok = v[0] == '{'; ok {
				out.Data = bytes.Clone(v)
			}
		}
		return ok
	})
	if !ok || bytes.TrimLeft(body, " \t\r\n")[0] != '{' {
		return false
	}
	*in = out
	return true
}

type eventOut struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	TenantID  string          `json:"tenantId"`
	CreatedAt time.Time       `json:"createdAt"`
	Data      json.RawMessage `json:"data"`
}

func eventJSON(e hook.Event) eventOut {
	return eventOut{ID: e.ID, Type: e.Type, TenantID: e.TenantID, CreatedAt: e.CreatedAt.UTC(), Data: e.Data}
}

// idempotencyHeader may name the event id instead of the body's "id".
const idempotencyHeader = "Idempotency-Key"

func (s *Server) createEvent(ctx context.Context, c *call[eventIn]) (reply, error) {
	ev, err := s.newEvent(c.key, c.in, c.r.Header.Get(idempotencyHeader))
	if err != nil {
		return reply{}, err
	}
	// The store checks that the tenant exists inside the ingest's own
	// transaction, so a tenant deleted meanwhile cannot be missed.
	res, err := s.store.Ingest(ctx, ev)
	return s.ingestReply(ev, res, err)
}

// newEvent validates an event a caller sent, takes it from its tenant's
// ingest allowance, and returns it ready to store, with an id. idemKey is
// the Idempotency-Key header, if any.
func (s *Server) newEvent(key hook.APIKey, in eventIn, idemKey string) (hook.Event, error) {
	tenantID, err := tenantOf(key, in.TenantID)
	if err != nil {
		return hook.Event{}, err
	}
	var fe fieldErrors
	if h := idemKey; h != "" {
		switch {
		case !hook.ValidID(h):
			fe.add(idempotencyHeader, "must be 1 to 255 characters of A-Z, a-z, 0-9, _ and -")
		case in.ID != "" && in.ID != h:
			fe.add("id", "differs from the %s header; give the id once, or twice the same", idempotencyHeader)
		default:
			in.ID = h
		}
	}
	switch tenantID {
	case "":
		fe.add("tenantId", "is required with the admin key")
	case hook.OperationalTenant:
		fe.add("tenantId", "the tenant %q receives only Herald's own operational events", tenantID)
	}
	ev := hook.Event{ID: in.ID, TenantID: tenantID, Type: in.Type, Data: in.Data, CreatedAt: s.now()}
	// Data is a value of a request body that was parsed whole (as
	// decodeJSON does), so its syntax is not checked a second time.
	if err := fe.validate(ev.ValidateParsed()); err != nil {
		return hook.Event{}, err
	}
	if err := s.limitIngest(tenantID); err != nil {
		return hook.Event{}, err
	}
	if ev.ID == "" {
		ev.ID = hook.NewID(hook.PrefixEvent)
	}
	return ev, nil
}

// ingestReply answers the ingest of ev, which the store answered with res
// or err, and hands new deliveries to the dispatcher.
func (s *Server) ingestReply(ev hook.Event, res hook.IngestResult, err error) (reply, error) {
	status, out, err := s.ingestAnswer(ev, res, err)
	if err != nil {
		return reply{}, err
	}
	rep := reply{status: status, body: out}
	if status == http.StatusAccepted {
		rep.header = http.Header{"Location": {s.publicURL + "/v1/events/" + ev.ID}}
	}
	return rep, nil
}

// ingestAnswer is ingestReply's status and event, without the Location
// header that a batch's items do not have (making it was a third of the
// allocations of a batch's item).
func (s *Server) ingestAnswer(ev hook.Event, res hook.IngestResult, err error) (int, eventOut, error) {
	if errors.Is(err, hook.ErrNotFound) {
		return 0, eventOut{}, invalid("tenantId", "no tenant %q exists", ev.TenantID)
	}
	if err != nil {
		return 0, eventOut{}, fmt.Errorf("ingest: %w", err)
	}
	if res.Duplicate {
		// The same id, tenant, type and data is a retry of a request whose
		// answer was lost: answer it again. Anything else reuses an id that
		// is taken, whoever took it; which tenant did is not told.
		if !res.Event.SameContent(ev) {
			return 0, eventOut{}, conflict("an event with id %q exists with other content", ev.ID)
		}
		return http.StatusOK, eventJSON(res.Event), nil
	}
	if s.ingested != nil {
		s.ingested(res)
	}
	return http.StatusAccepted, eventJSON(res.Event), nil
}

// event returns the event id if the caller sees it.
func (s *Server) event(ctx context.Context, key hook.APIKey, id string) (hook.Event, error) {
	ev, err := s.store.Event(ctx, id)
	if errors.Is(err, hook.ErrNotFound) || err == nil && !sees(key, ev.TenantID) {
		return hook.Event{}, notFound("no event %q", id)
	}
	if err != nil {
		return hook.Event{}, fmt.Errorf("get event: %w", err)
	}
	return ev, nil
}

func (s *Server) listEvents(ctx context.Context, c *call[none]) (reply, error) {
	q := readQuery(c.r, "tenantId", "type", "since", "until")
	f := hook.EventFilter{ListParams: q.page(), Type: q.str("type"), Since: q.time("since"), Until: q.time("until")}
	if err := q.err(); err != nil {
		return reply{}, err
	}
	var err error
	if f.TenantID, err = tenantOf(c.key, q.str("tenantId")); err != nil {
		return reply{}, err
	}
	page, err := s.store.ListEvents(ctx, f)
	if err != nil {
		return reply{}, fmt.Errorf("list events: %w", err)
	}
	return ok(newList(page, eventJSON)), nil
}

func (s *Server) getEvent(ctx context.Context, c *call[none]) (reply, error) {
	ev, err := s.event(ctx, c.key, c.r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	return ok(eventJSON(ev)), nil
}

type deliveryOut struct {
	ID            string     `json:"id"`
	EventID       string     `json:"eventId"`
	EndpointID    string     `json:"endpointId"`
	TenantID      string     `json:"tenantId"`
	EventType     string     `json:"eventType"`
	Status        string     `json:"status"`
	AttemptCount  int        `json:"attemptCount"`
	NextAttemptAt *time.Time `json:"nextAttemptAt"` // null: no attempt is due
	CreatedAt     time.Time  `json:"createdAt"`
	UpdatedAt     time.Time  `json:"updatedAt"`
}

func deliveryJSON(d hook.Delivery) deliveryOut {
	return deliveryOut{
		ID: d.ID, EventID: d.EventID, EndpointID: d.EndpointID, TenantID: d.TenantID, EventType: d.EventType,
		Status: string(d.Status), AttemptCount: d.AttemptCount, NextAttemptAt: timeOrNull(d.NextAttemptAt),
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(),
	}
}

func (s *Server) listEventDeliveries(ctx context.Context, c *call[none]) (reply, error) {
	q := readQuery(c.r)
	p := q.page()
	if err := q.err(); err != nil {
		return reply{}, err
	}
	ev, err := s.event(ctx, c.key, c.r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	page, err := s.store.ListDeliveries(ctx, hook.DeliveryFilter{ListParams: p, TenantID: ev.TenantID, EventID: ev.ID})
	if err != nil {
		return reply{}, fmt.Errorf("list deliveries: %w", err)
	}
	return ok(newList(page, deliveryJSON)), nil
}

type eventTypeIn struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Version     string          `json:"version"`
	Schema      json.RawMessage `json:"schema"` // optional JSON Schema, stored and shown
}

type eventTypeOut struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Version     string          `json:"version"`
	Schema      json.RawMessage `json:"schema"` // null when none
	CreatedAt   time.Time       `json:"createdAt"`
}

func eventTypeJSON(t hook.EventType) eventTypeOut {
	return eventTypeOut{Name: t.Name, Description: t.Description, Version: t.Version, Schema: t.Schema, CreatedAt: t.CreatedAt.UTC()}
}

func (s *Server) createEventType(ctx context.Context, c *call[eventTypeIn]) (reply, error) {
	t := hook.EventType{Name: c.in.Name, Description: c.in.Description, Version: c.in.Version, Schema: c.in.Schema, CreatedAt: s.now()}
	if bytes.Equal(t.Schema, []byte("null")) {
		t.Schema = nil
	}
	var fe fieldErrors
	if strings.HasPrefix(t.Name, hook.OperationalPrefix) {
		fe.add("name", "types beginning with %q are reserved for Herald's operational events", hook.OperationalPrefix)
	}
	if err := fe.validate(t.Validate()); err != nil {
		return reply{}, err
	}
	if err := s.store.CreateEventType(ctx, t); err != nil {
		if errors.Is(err, hook.ErrConflict) {
			return reply{}, conflict("the event type %q exists", t.Name)
		}
		return reply{}, fmt.Errorf("create event type: %w", err)
	}
	return reply{status: http.StatusCreated, body: eventTypeJSON(t)}, nil
}

func (s *Server) listEventTypes(ctx context.Context, c *call[none]) (reply, error) {
	q := readQuery(c.r)
	p := q.page()
	if err := q.err(); err != nil {
		return reply{}, err
	}
	page, err := s.store.ListEventTypes(ctx, p)
	if err != nil {
		return reply{}, fmt.Errorf("list event types: %w", err)
	}
	return ok(newList(page, eventTypeJSON)), nil
}
