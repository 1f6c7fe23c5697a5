package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// maxReplayEndpoints bounds the endpointIds of one event replay.
const maxReplayEndpoints = 100

// replayIn is the body of POST /v1/events/{id}/replay; it may be empty.
type replayIn struct {
	EndpointIDs []string `json:"endpointIds"` // absent or null: every active endpoint that matches the event now
}

// recoverIn is the body of POST /v1/webhook-endpoints/{id}/recover.
type recoverIn struct {
	Since string `json:"since"`
	Until string `json:"until"` // empty: now
}

// jobOut is a job in the API.
type jobOut struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	EndpointID string     `json:"endpointId"`
	Status     string     `json:"status"`
	Total      int        `json:"total"`
	Done       int        `json:"done"`
	Error      string     `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"createdAt"`
	FinishedAt *time.Time `json:"finishedAt"`
}

func jobJSON(j hook.Job) jobOut {
	return jobOut{
		ID: j.ID, Kind: string(j.Kind), EndpointID: j.EndpointID, Status: string(j.Status), Total: j.Total, Done: j.Done,
		Error: j.Error, CreatedAt: j.CreatedAt.UTC(), FinishedAt: timeOrNull(j.FinishedAt),
	}
}

// deliveriesOut is the answer of an event replay.
type deliveriesOut struct {
	Deliveries []deliveryOut `json:"deliveries"`
}

// retryDelivery queues one more attempt of the delivery, whatever its
// status, outside its schedule (see hook.Replay). A canceled delivery's
// endpoint is gone: 409.
func (s *Server) retryDelivery(ctx context.Context, c *call[none]) (reply, error) {
	d, err := s.delivery(ctx, c.key, c.r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	d, err = s.store.RetryDelivery(ctx, d.ID, s.now())
	switch {
	case errors.Is(err, hook.ErrConflict):
		return reply{}, conflict("delivery %q is canceled: its endpoint was deleted", c.r.PathValue("id"))
	case errors.Is(err, hook.ErrNotFound):
		return reply{}, notFound("no delivery %q", c.r.PathValue("id"))
	case err != nil:
		return reply{}, fmt.Errorf("retry delivery: %w", err)
	}
	return accepted(deliveryJSON(d)), nil
}

// replayEvent retries the event's deliveries to the endpoints named, or
// to every active endpoint of its tenant that matches it now, creating
// those it never had.
func (s *Server) replayEvent(ctx context.Context, c *call[replayIn]) (reply, error) {
	ev, err := s.event(ctx, c.key, c.r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	ids := c.in.EndpointIDs
	switch {
	case ids != nil && len(ids) == 0:
		return reply{}, invalid("endpointIds", "must list at least one endpoint id, or be left out for every matching endpoint")
	case len(ids) > maxReplayEndpoints:
		return reply{}, invalid("endpointIds", "must list at most %d endpoint ids", maxReplayEndpoints)
	}
	for _, id := range ids {
		ep, err := s.store.Endpoint(ctx, id)
		if errors.Is(err, hook.ErrNotFound) || err == nil && ep.TenantID != ev.TenantID {
			return reply{}, invalid("endpointIds", "%q is not a webhook endpoint of the event's tenant", id)
		}
		if err != nil {
			return reply{}, fmt.Errorf("get endpoint: %w", err)
		}
	}
	ds, err := s.store.ReplayEvent(ctx, ev.ID, ids, s.now())
	if err != nil {
		return reply{}, fmt.Errorf("replay event: %w", err)
	}
	out := deliveriesOut{Deliveries: make([]deliveryOut, len(ds))}
	for i, d := range ds {
		out.Deliveries[i] = deliveryJSON(d)
	}
	return accepted(out), nil
}

// recoverEndpoint starts a job that gives the endpoint's failed deliveries
// of events created in [since, until) a fresh schedule and creates those
// it never had (events ingested while it was disabled).
func (s *Server) recoverEndpoint(ctx context.Context, c *call[recoverIn]) (reply, error) {
	ep, err := s.endpoint(ctx, c.key, c.r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	now := s.now()
	var fe fieldErrors
	since := parseTime(&fe, "since", c.in.Since)
	until := now
	if c.in.Until != "" {
		until = parseTime(&fe, "until", c.in.Until)
	}
	if c.in.Since == "" {
		fe.add("since", "is required")
	}
	if len(fe) == 0 && !since.Before(until) {
		fe.add("until", "must be after since")
	}
	if err := fe.err(); err != nil {
		return reply{}, err
	}
	j, err := s.store.CreateJob(ctx, hook.NewRecoverJob(ep, since, until, now))
	if err != nil {
		return reply{}, fmt.Errorf("create job: %w", err)
	}
	return accepted(jobJSON(j)), nil
}

func (s *Server) getJob(ctx context.Context, c *call[none]) (reply, error) {
	id := c.r.PathValue("id")
	j, err := s.store.Job(ctx, id)
	if errors.Is(err, hook.ErrNotFound) || err == nil && !sees(c.key, j.TenantID) {
		return reply{}, notFound("no job %q", id)
	}
	if err != nil {
		return reply{}, fmt.Errorf("get job: %w", err)
	}
	return ok(jobJSON(j)), nil
}

// parseTime parses an RFC 3339 time of a body field; zero when empty.
func parseTime(fe *fieldErrors, field, v string) time.Time {
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		fe.add(field, "must be an RFC 3339 time such as 2026-05-08T10:15:00Z")
	}
	return t
}
