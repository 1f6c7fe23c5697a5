package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// delivery returns the delivery id if the key may see it; a delivery of
// another tenant is not found, as with events.
func (s *Server) delivery(ctx context.Context, key hook.APIKey, id string) (hook.Delivery, error) {
	d, err := s.store.Delivery(ctx, id)
	if errors.Is(err, hook.ErrNotFound) || err == nil && !sees(key, d.TenantID) {
		return hook.Delivery{}, notFound("no delivery %q", id)
	}
	if err != nil {
		return hook.Delivery{}, fmt.Errorf("get delivery: %w", err)
	}
	return d, nil
}

type attemptOut struct {
	ID              string            `json:"id"`
	DeliveryID      string            `json:"deliveryId"`
	EndpointID      string            `json:"endpointId"`
	Attempt         int               `json:"attempt"`
	StartedAt       time.Time         `json:"startedAt"`
	DurationMs      float64           `json:"durationMs"`
	RequestHeaders  map[string]string `json:"requestHeaders"`
	StatusCode      *int              `json:"statusCode"`      // null: no response
	ResponseHeaders map[string]string `json:"responseHeaders"` // null: no response
	ResponseBody    string            `json:"responseBody"`    // the stored part, at most 16 KiB
	Error           *string           `json:"error"`           // null on success
	ErrorMessage    string            `json:"errorMessage"`
	NextRetryAt     *time.Time        `json:"nextRetryAt"` // null: no retry follows
}

func attemptJSON(a hook.Attempt) attemptOut {
	out := attemptOut{
		ID: a.ID, DeliveryID: a.DeliveryID, EndpointID: a.EndpointID, Attempt: a.Number,
		StartedAt: a.StartedAt.UTC(), DurationMs: float64(a.Duration.Microseconds()) / 1000,
		RequestHeaders: headerJSON(a.RequestHeader), ResponseHeaders: headerJSON(a.ResponseHeader),
		ResponseBody: string(a.ResponseBody), ErrorMessage: a.ErrorMessage, NextRetryAt: timeOrNull(a.NextRetryAt),
	}
	if a.StatusCode != 0 {
		out.StatusCode = &a.StatusCode
	}
	if a.Error != "" {
		out.Error = &a.Error
	}
	return out
}

// headerJSON flattens a header to one string per name, as HTTP allows
// repeated fields to be joined with commas; nil stays nil (JSON null).
func headerJSON(h http.Header) map[string]string {
	if h == nil {
		return nil
	}
	m := make(map[string]string, len(h))
	for k, v := range h {
		m[k] = strings.Join(v, ", ")
	}
	return m
}

func (s *Server) listDeliveryAttempts(ctx context.Context, c *call[none]) (reply, error) {
	q := readQuery(c.r)
	p := q.page()
	if err := q.err(); err != nil {
		return reply{}, err
	}
	d, err := s.delivery(ctx, c.key, c.r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	page, err := s.store.ListAttempts(ctx, hook.AttemptFilter{ListParams: p, DeliveryID: d.ID})
	if err != nil {
		return reply{}, fmt.Errorf("list attempts: %w", err)
	}
	return ok(newList(page, attemptJSON)), nil
}
