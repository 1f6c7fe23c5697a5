package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/heraldhq/herald/internal/hook"
)

// Limits of POST /v1/events/batch.
const (
	MaxBatchEvents = 500
	maxBatchBody   = 16 << 20
)

// batchIn is the body of POST /v1/events/batch. Each event stays raw until
// it is decoded on its own, so that one malformed event is refused alone.
type batchIn struct {
	Events []json.RawMessage `json:"events"`
}

// decodeValid decodes a batch in the common case (see validDecoder): one
// key, "events", holding an array. The events are slices of body, not
// copies; each is decoded on its own afterwards.
func (in *batchIn) decodeValid(body []byte) bool {
	var (
		events json.RawMessage
		n      int
	)
	members(body, func(key []byte, escaped bool, v []byte) bool {
		if n++; n == 1 && !escaped && string(key) == "events" {
			events = v
			return true
		}
		return false
	})
	if n != 1 || events == nil || events[0] != '[' {
		return false
	}
	evs := []json.RawMessage{}
	elements(events, func(v []byte) bool {
		evs = append(evs, v)
		return true
	})
	in.Events = evs
	return true
}

// batchItem answers one event of a batch: the status and body that POST
// /v1/events would have answered it with.
type batchItem struct {
	Status int       `json:"status"`
	Event  *eventOut `json:"event,omitempty"`
	Error  *problem  `json:"error,omitempty"`
}

type batchOut struct {
	Data []batchItem `json:"data"`
}

// appendJSON encodes the answer to a batch without encoding/json, which
// compacted every event's data again to check it, at a cost larger than
// decoding the request. Data here is the data of events that were valid
// JSON when they were ingested, so data without white space outside its
// strings is its own compact form. An item with anything else (a problem,
// data with white space, a string to escape) is encoded by encoding/json,
// alone, as it would be in the slice.
func (o batchOut) appendJSON(b []byte) ([]byte, bool) {
	n := 16
	for _, it := range o.Data {
		if it.Event != nil {
			n += len(it.Event.Data)
		}
		n += 200
	}
	b = slices.Grow(b, n)
	b = append(b, `{"data":[`...)
	for i, it := range o.Data {
		if i > 0 {
			b = append(b, ',')
		}
		if out, ok := it.appendJSON(b); ok {
			b = out
			continue
		}
		j, err := encodeJSON(it)
		if err != nil {
			return b, false // encoding/json fails on the whole answer too
		}
		b = append(b, j[:len(j)-1]...) // without its newline
	}
	return append(b, "]}\n"...), true
}

// appendJSON appends an accepted event's item, or reports false.
func (it batchItem) appendJSON(b []byte) ([]byte, bool) {
	e := it.Event
	if e == nil || it.Error != nil || e.Data == nil || !plainASCII(e.ID) || !plainASCII(e.Type) ||
		!plainASCII(e.TenantID) || !compactJSON(e.Data) {
		return b, false
	}
	created, err := e.CreatedAt.MarshalJSON()
	if err != nil {
		return b, false
	}
	b = append(b, `{"status":`...)
	b = strconv.AppendInt(b, int64(it.Status), 10)
	b = append(b, `,"event":{"id":"`...)
	b = append(b, e.ID...)
	b = append(b, `","type":"`...)
	b = append(b, e.Type...)
	b = append(b, `","tenantId":"`...)
	b = append(b, e.TenantID...)
	b = append(b, `","createdAt":`...)
	b = append(b, created...)
	b = append(b, `,"data":`...)
	b = append(b, e.Data...)
	return append(b, "}}"...), true
}

// plainASCII reports whether s is printable ASCII with no quote or
// backslash, which encoding/json (HTML escaping off) writes as it is.
func plainASCII(s string) bool {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// compactJSON reports whether valid JSON b has no white space outside its
// strings: whether json.Compact would leave it as it is.
func compactJSON(b []byte) bool {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			end, _ := stringEnd(b, i)
			i = end - 1
		case ' ', '\t', '\n', '\r':
			return false
		}
	}
	return true
}

// createEvents ingests up to MaxBatchEvents events. Each is validated and
// idempotent as a single POST /v1/events; the valid ones are committed
// together in one store transaction, and the invalid ones are refused
// alone, each with its problem, in request order. The answer is 200 unless
// the request as a whole is refused (malformed, too large, too many
// events), with nothing stored, or the store fails. After a 503 the batch
// may have been stored; retrying it is safe when every event has its id.
func (s *Server) createEvents(ctx context.Context, c *call[batchIn]) (reply, error) {
	if c.r.Header.Get(idempotencyHeader) != "" {
		return reply{}, invalid(idempotencyHeader, "is not used by a batch; give each event its id")
	}
	switch n := len(c.in.Events); {
	case n == 0:
		return reply{}, invalid("events", "must hold at least one event")
	case n > MaxBatchEvents:
		return reply{}, invalid("events", "holds %d events; a batch holds at most %d", n, MaxBatchEvents)
	}
	out := make([]batchItem, len(c.in.Events))
	var (
		evs   []hook.Event
		index []int // index[j] is the position in the request of evs[j]
		limit *rateLimited
	)
	for i, raw := range c.in.Events {
		ev, err := s.batchEvent(c.key, raw)
		if err != nil {
			if rl, ok := errors.AsType[*rateLimited](err); ok {
				limit = rl
			}
			out[i] = s.itemProblem(c.r, err)
			continue
		}
		evs = append(evs, ev)
		index = append(index, i)
	}
	if len(evs) > 0 {
		items, err := s.store.IngestBatch(ctx, evs)
		if err != nil {
			return reply{}, fmt.Errorf("ingest batch: %w", err)
		}
		accepted := make([]eventOut, len(items))
		for j, it := range items {
			status, e, err := s.ingestAnswer(evs[j], it.Result, it.Err)
			if err != nil {
				out[index[j]] = s.itemProblem(c.r, err)
				continue
			}
			accepted[j] = e
			out[index[j]] = batchItem{Status: status, Event: &accepted[j]}
		}
	}
	rep := ok(batchOut{Data: out})
	if limit != nil {
		rep.header = http.Header{"Retry-After": {limit.retryAfter()}}
	}
	return rep, nil
}

// batchEvent decodes and validates one event of a batch.
func (s *Server) batchEvent(key hook.APIKey, raw json.RawMessage) (hook.Event, error) {
	if int64(len(raw)) > s.maxPayload {
		return hook.Event{}, &statusError{http.StatusRequestEntityTooLarge, typeTooLarge,
			fmt.Sprintf("the event is larger than %d bytes", s.maxPayload), nil}
	}
	// raw is valid JSON: the whole body was checked before it was split.
	var in eventIn
	if !in.decodeValid(raw) {
		if err := decodeJSONSlow(raw, &in); err != nil {
			return hook.Event{}, err
		}
	}
	return s.newEvent(key, in, "")
}

// itemProblem is the answer to one refused event of a batch. An error that
// is not the client's is logged, as writeProblem would.
func (s *Server) itemProblem(r *http.Request, err error) batchItem {
	p := problemFor(err)
	if p.Status >= 500 {
		s.log.ErrorContext(r.Context(), "batch event failed", "path", r.URL.Path, "err", err)
	}
	return batchItem{Status: p.Status, Error: &p}
}
