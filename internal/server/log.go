package server

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// The delivery log: deliveries filtered across events, one delivery with
// its attempts, the attempt feed, and endpoint stats.

func (s *Server) listDeliveries(ctx context.Context, c *call[none]) (reply, error) {
	q := readQuery(c.r, "tenantId", "endpointId", "eventId", "eventType", "status", "since", "until")
	f := hook.DeliveryFilter{
		ListParams: q.page(), EndpointID: q.str("endpointId"), EventID: q.str("eventId"),
		EventType: q.str("eventType"), Status: hook.DeliveryStatus(q.str("status")),
		Since: q.time("since"), Until: q.time("until"),
	}
	if f.Status != "" && !f.Status.Valid() {
		q.fe.add("status", "must be pending, succeeded, failed or canceled")
	}
	if err := q.err(); err != nil {
		return reply{}, err
	}
	var err error
	if f.TenantID, err = tenantOf(c.key, q.str("tenantId")); err != nil {
		return reply{}, err
	}
	page, err := s.store.ListDeliveries(ctx, f)
	if err != nil {
		return reply{}, fmt.Errorf("list deliveries: %w", err)
	}
	return ok(newList(page, deliveryJSON)), nil
}

// maxDeliveryAttempts caps the attempts GET /v1/deliveries/{id} shows.
const maxDeliveryAttempts = 100

type deliveryDetailOut struct {
	deliveryOut
	// Attempts are the delivery's first 100 attempts, oldest first; GET
	// /v1/deliveries/{id}/attempts pages through all of them.
	Attempts []attemptOut `json:"attempts"`
}

func (s *Server) getDelivery(ctx context.Context, c *call[none]) (reply, error) {
	d, err := s.delivery(ctx, c.key, c.r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	page, err := s.store.ListAttempts(ctx, hook.AttemptFilter{ListParams: hook.ListParams{Limit: maxDeliveryAttempts}, DeliveryID: d.ID})
	if err != nil {
		return reply{}, fmt.Errorf("list attempts: %w", err)
	}
	return ok(deliveryDetailOut{deliveryOut: deliveryJSON(d), Attempts: newList(page, attemptJSON).Data}), nil
}

// listAttemptLog is the attempt feed: attempts of every delivery in the
// order they were recorded, newest last. nextCursor is never null: polling
// with it returns only attempts recorded since (none yet: an empty list and
// a cursor to poll with again), so the CLI's tail follows the log.
func (s *Server) listAttemptLog(ctx context.Context, c *call[none]) (reply, error) {
	q := readQuery(c.r, "tenantId", "endpointId", "since")
	f := hook.AttemptLogFilter{ListParams: q.page(), EndpointID: q.str("endpointId"), Since: q.time("since")}
	if err := q.err(); err != nil {
		return reply{}, err
	}
	var err error
	if f.TenantID, err = tenantOf(c.key, q.str("tenantId")); err != nil {
		return reply{}, err
	}
	page, err := s.store.ListAttemptLog(ctx, f)
	if err != nil {
		return reply{}, fmt.Errorf("list attempt log: %w", err)
	}
	return ok(newList(page, attemptJSON)), nil
}

type endpointStatsOut struct {
	EndpointID string `json:"endpointId"`
	// Windows are the last hour, day and week before at.
	Windows struct {
		Hour windowStatsOut `json:"hour"`
		Day  windowStatsOut `json:"day"`
		Week windowStatsOut `json:"week"`
	} `json:"windows"`
	At time.Time `json:"at"`
}

type windowStatsOut struct {
	Since time.Time `json:"since"`
	// Deliveries counts the deliveries created in the window by their
	// status now.
	Deliveries struct {
		Pending   int64 `json:"pending"`
		Succeeded int64 `json:"succeeded"`
		Failed    int64 `json:"failed"`
		Canceled  int64 `json:"canceled"`
	} `json:"deliveries"`
	Attempts    int64    `json:"attempts"`    // attempts started in the window
	SuccessRate *float64 `json:"successRate"` // of those attempts, 0 to 1; null when none
	LatencyMs   struct {
		P50 *float64 `json:"p50"` // null when no attempt
		P99 *float64 `json:"p99"`
	} `json:"latencyMs"`
}

func windowStatsJSON(w hook.WindowStats) windowStatsOut {
	var out windowStatsOut
	out.Since = w.Since.UTC()
	out.Deliveries.Pending, out.Deliveries.Succeeded = w.Deliveries.Pending, w.Deliveries.Succeeded
	out.Deliveries.Failed, out.Deliveries.Canceled = w.Deliveries.Failed, w.Deliveries.Canceled
	out.Attempts = w.Attempts
	if w.Attempts > 0 {
		rate := float64(w.Succeeded) / float64(w.Attempts)
		p50, p99 := durationMs(w.P50), durationMs(w.P99)
		out.SuccessRate, out.LatencyMs.P50, out.LatencyMs.P99 = &rate, &p50, &p99
	}
	return out
}

// durationMs is d in milliseconds, to the microsecond.
func durationMs(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond).Microseconds()) / 1000
}

func (s *Server) endpointStats(ctx context.Context, c *call[none]) (reply, error) {
	q := readQuery(c.r)
	if err := q.err(); err != nil {
		return reply{}, err
	}
	ep, err := s.endpoint(ctx, c.key, c.r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	now := s.now()
	st, err := s.store.EndpointStats(ctx, ep.ID, now)
	if err != nil {
		return reply{}, fmt.Errorf("endpoint stats: %w", err)
	}
	out := endpointStatsOut{EndpointID: ep.ID, At: now.UTC()}
	out.Windows.Hour = windowStatsJSON(st.Windows[0])
	out.Windows.Day = windowStatsJSON(st.Windows[1])
	out.Windows.Week = windowStatsJSON(st.Windows[2])
	return ok(out), nil
}
