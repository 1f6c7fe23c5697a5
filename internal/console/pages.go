package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// Bounds of the work one page does.
const (
	overviewWindow    = 5 * time.Minute
	overviewAttempts  = 1000 // attempts read for the rate and success rate at most
	overviewEndpoints = 1000 // endpoints scanned for failure streaks at most
	listLimit         = 50
)

// sees reports whether the session may see an object of tenant id: an
// operator sees every tenant, a portal session its own only.
func sees(s *session, tenantID string) bool { return !s.Portal() || s.Tenant == tenantID }

// endpointOf returns the endpoint id if the session sees it; another
// tenant's endpoint does not exist for a portal session.
func (c *Console) endpointOf(ctx context.Context, s *session, id string) (hook.Endpoint, error) {
	e, err := c.cfg.Store.Endpoint(ctx, id)
	if errors.Is(err, hook.ErrNotFound) || err == nil && !sees(s, e.TenantID) {
		return hook.Endpoint{}, errNotFound("There is no webhook endpoint %q.", id)
	}
	return e, err
}

func (c *Console) deliveryOf(ctx context.Context, s *session, id string) (hook.Delivery, error) {
	d, err := c.cfg.Store.Delivery(ctx, id)
	if errors.Is(err, hook.ErrNotFound) || err == nil && !sees(s, d.TenantID) {
		return hook.Delivery{}, errNotFound("There is no delivery %q.", id)
	}
	return d, err
}

func (c *Console) tenantOf(ctx context.Context, s *session, id string) (hook.Tenant, error) {
	if !sees(s, id) {
		return hook.Tenant{}, errNotFound("There is no tenant %q.", id)
	}
	t, err := c.cfg.Store.Tenant(ctx, id)
	if errors.Is(err, hook.ErrNotFound) {
		return hook.Tenant{}, errNotFound("There is no tenant %q.", id)
	}
	return t, err
}

// operatorOnly refuses a portal session.
func operatorOnly(s *session) error {
	if s.Portal() {
		return errNotFound("There is no such page in the portal.")
	}
	return nil
}

type overviewData struct {
	Window              time.Duration
	Deliveries          int // created in the window (at most overviewAttempts read)
	DeliveriesPerMinute string
	DeliveriesCapped    bool
	Attempts            int
	Succeeded           int
	PerMinute           string
	SuccessRate         string
	Capped              bool // more attempts than were read: the rate covers a shorter span
	Queue               hook.QueueStats
	Troubled            []hook.Endpoint
	Scanned             int
	ScanCapped          bool
}

// overview shows, across tenants, the attempt rate and success rate of
// the last minutes (from the attempt log, bounded), the queue, and the
// endpoints that are failing or disabled. A portal session sees its
// tenant's page instead.
func (c *Console) overview(r *http.Request, s *session) (string, any, error) {
	if s.Portal() {
		r.SetPathValue("id", s.Tenant)
		return c.tenant(r, s)
	}
	ctx, now := r.Context(), c.now()
	d := overviewData{Window: overviewWindow}
	since := now.Add(-overviewWindow)
	var last time.Time
	f := hook.AttemptLogFilter{Since: since, ListParams: hook.ListParams{Limit: hook.MaxLimit}}
	for d.Attempts < overviewAttempts {
		p, err := c.cfg.Store.ListAttemptLog(ctx, f)
		if err != nil {
			return "", nil, fmt.Errorf("list attempt log: %w", err)
		}
		for _, a := range p.Items {
			d.Attempts++
			if a.Succeeded() {
				d.Succeeded++
			}
			last = a.StartedAt
		}
		if len(p.Items) < hook.MaxLimit {
			break
		}
		f.Cursor = p.Next
	}
	span := now.Sub(since)
	if d.Attempts >= overviewAttempts {
		d.Capped = true
		span = max(last.Sub(since), time.Second)
	}
	d.PerMinute = fmt.Sprintf("%.1f", float64(d.Attempts)/span.Minutes())
	d.SuccessRate = "–"
	if d.Attempts > 0 {
		d.SuccessRate = fmt.Sprintf("%.1f%%", 100*float64(d.Succeeded)/float64(d.Attempts))
	}
	if err := c.deliveryRate(ctx, &d, since, now); err != nil {
		return "", nil, err
	}
	q, err := c.cfg.Store.QueueStats(ctx, now)
	if err != nil {
		return "", nil, fmt.Errorf("queue stats: %w", err)
	}
	d.Queue = q
	ef := hook.EndpointFilter{ListParams: hook.ListParams{Limit: hook.MaxLimit}}
	for {
		p, err := c.cfg.Store.ListEndpoints(ctx, ef)
		if err != nil {
			return "", nil, fmt.Errorf("list endpoints: %w", err)
		}
		for _, e := range p.Items {
			d.Scanned++
			if e.Status == hook.EndpointDisabled || e.ConsecutiveFailures > 0 {
				d.Troubled = append(d.Troubled, e)
			}
		}
		if p.Next == "" {
			break
		}
		if d.Scanned >= overviewEndpoints {
			d.ScanCapped = true
			break
		}
		ef.Cursor = p.Next
	}
	return "overview", d, nil
}

// deliveryRate counts the deliveries created since (newest first, at most
// overviewAttempts of them) and gives their rate per minute; when capped,
// over the span the ones read cover.
func (c *Console) deliveryRate(ctx context.Context, d *overviewData, since, now time.Time) error {
	f := hook.DeliveryFilter{Since: since, ListParams: hook.ListParams{Limit: hook.MaxLimit}}
	oldest := since
	for {
		p, err := c.cfg.Store.ListDeliveries(ctx, f)
		if err != nil {
			return fmt.Errorf("list deliveries: %w", err)
		}
		d.Deliveries += len(p.Items)
		if len(p.Items) > 0 {
			oldest = p.Items[len(p.Items)-1].CreatedAt
		}
		if p.Next == "" {
			oldest = since
			break
		}
		if d.Deliveries >= overviewAttempts {
			d.DeliveriesCapped = true
			break
		}
		f.Cursor = p.Next
	}
	d.DeliveriesPerMinute = fmt.Sprintf("%.1f", float64(d.Deliveries)/max(now.Sub(oldest), time.Second).Minutes())
	return nil
}

type tenantsData struct {
	Tenants []hook.Tenant
	Next    string
}

func (c *Console) tenants(r *http.Request, s *session) (string, any, error) {
	if s.Portal() {
		r.SetPathValue("id", s.Tenant)
		return c.tenant(r, s)
	}
	p, err := c.cfg.Store.ListTenants(r.Context(), hook.ListParams{Cursor: r.URL.Query().Get("cursor"), Limit: listLimit})
	if err := listErr(err, "list tenants"); err != nil {
		return "", nil, err
	}
	return "tenants", tenantsData{p.Items, p.Next}, nil
}

type tenantData struct {
	Tenant    hook.Tenant
	Endpoints []hook.Endpoint
	Next      string
	Circuits  map[string]circuitView // by endpoint id
}

func (c *Console) tenant(r *http.Request, s *session) (string, any, error) {
	t, err := c.tenantOf(r.Context(), s, r.PathValue("id"))
	if err != nil {
		return "", nil, err
	}
	p, err := c.cfg.Store.ListEndpoints(r.Context(), hook.EndpointFilter{
		TenantID: t.ID, ListParams: hook.ListParams{Cursor: r.URL.Query().Get("cursor"), Limit: listLimit},
	})
	if err := listErr(err, "list endpoints"); err != nil {
		return "", nil, err
	}
	return "tenant", tenantData{t, p.Items, p.Next, c.circuits(p.Items)}, nil
}

// listErr turns a bad cursor into a 400 and wraps other errors.
func listErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hook.ErrInvalidCursor):
		return errInvalid("The page cursor is not valid.")
	}
	return fmt.Errorf("%s: %w", what, err)
}

type endpointData struct {
	E          hook.Endpoint
	Circuit    circuitView
	Deliveries []hook.Delivery
	Next       string
	Status     string // the filters
	EventType  string
	Stats      hook.EndpointStats
	Chart      chart
	Statuses   []hook.DeliveryStatus
	CanTest    bool
	RecoverAt  string // a default "since" for the recover form
}

func (c *Console) endpoint(r *http.Request, s *session) (string, any, error) {
	ctx, now := r.Context(), c.now()
	e, err := c.endpointOf(ctx, s, r.PathValue("id"))
	if err != nil {
		return "", nil, err
	}
	q := r.URL.Query()
	d := endpointData{
		E: e, Circuit: c.circuit(e.ID), Status: q.Get("status"), EventType: q.Get("eventType"), CanTest: c.cfg.TestSender != nil,
		Statuses:  []hook.DeliveryStatus{hook.DeliveryPending, hook.DeliverySucceeded, hook.DeliveryFailed, hook.DeliveryCanceled},
		RecoverAt: now.Add(-24 * time.Hour).Format("2006-01-02T15:04"),
	}
	if d.Status != "" && !hook.DeliveryStatus(d.Status).Valid() {
		return "", nil, errInvalid("%q is not a delivery status.", d.Status)
	}
	p, err := c.cfg.Store.ListDeliveries(ctx, hook.DeliveryFilter{
		EndpointID: e.ID, TenantID: e.TenantID, Status: hook.DeliveryStatus(d.Status), EventType: d.EventType,
		ListParams: hook.ListParams{Cursor: q.Get("cursor"), Limit: listLimit},
	})
	if err := listErr(err, "list deliveries"); err != nil {
		return "", nil, err
	}
	d.Deliveries, d.Next = p.Items, p.Next
	if d.Stats, err = c.cfg.Store.EndpointStats(ctx, e.ID, now); err != nil {
		return "", nil, fmt.Errorf("endpoint stats: %w", err)
	}
	if d.Chart, err = c.dayChart(ctx, e.ID, now); err != nil {
		return "", nil, err
	}
	return "endpoint", d, nil
}

type deliveryData struct {
	D        hook.Delivery
	Event    hook.Event
	E        hook.Endpoint // zero when the endpoint was deleted
	Attempts []hook.Attempt
	More     bool
}

// delivery shows a delivery with its event and its first attempts.
func (c *Console) delivery(r *http.Request, s *session) (string, any, error) {
	ctx := r.Context()
	d, err := c.deliveryOf(ctx, s, r.PathValue("id"))
	if err != nil {
		return "", nil, err
	}
	out := deliveryData{D: d}
	if out.Event, err = c.cfg.Store.Event(ctx, d.EventID); err != nil && !errors.Is(err, hook.ErrNotFound) {
		return "", nil, fmt.Errorf("get event: %w", err)
	}
	if out.E, err = c.cfg.Store.Endpoint(ctx, d.EndpointID); err != nil && !errors.Is(err, hook.ErrNotFound) {
		return "", nil, fmt.Errorf("get endpoint: %w", err)
	}
	p, err := c.cfg.Store.ListAttempts(ctx, hook.AttemptFilter{DeliveryID: d.ID, ListParams: hook.ListParams{Limit: 100}})
	if err != nil {
		return "", nil, fmt.Errorf("list attempts: %w", err)
	}
	out.Attempts, out.More = p.Items, p.Next != ""
	return "delivery", out, nil
}
