package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

func (l ListParams) query(v url.Values) url.Values {
	if v == nil {
		v = url.Values{}
	}
	if l.Limit > 0 {
		v.Set("limit", strconv.Itoa(l.Limit))
	}
	if l.Cursor != "" {
		v.Set("cursor", l.Cursor)
	}
	return v
}

// set adds the non-empty values to v.
func set(v url.Values, kv ...string) url.Values {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Set(kv[i], kv[i+1])
		}
	}
	return v
}

func timeParam(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// get, post and del are the shapes of most calls.
func get[T any](ctx context.Context, c *Client, path string, q url.Values) (T, error) {
	var out T
	_, err := c.do(ctx, request{method: http.MethodGet, path: path, query: q}, &out)
	return out, err
}

func post[T any](ctx context.Context, c *Client, path string, body any) (T, error) {
	var out T
	_, err := c.do(ctx, request{method: http.MethodPost, path: path, body: body}, &out)
	return out, err
}

func (c *Client) del(ctx context.Context, path string) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: path}, nil)
	return err
}

// CreateTenant creates a tenant (admin key).
func (c *Client) CreateTenant(ctx context.Context, in TenantInput) (Tenant, error) {
	return post[Tenant](ctx, c, "/v1/tenants", in)
}

// ListTenants lists tenants (admin key).
func (c *Client) ListTenants(ctx context.Context, lp ListParams) (Page[Tenant], error) {
	return get[Page[Tenant]](ctx, c, "/v1/tenants", lp.query(nil))
}

// GetTenant returns a tenant.
func (c *Client) GetTenant(ctx context.Context, id string) (Tenant, error) {
	if err := need(id); err != nil {
		return Tenant{}, err
	}
	return get[Tenant](ctx, c, p("/v1/tenants/%s", id), nil)
}

// DeleteTenant deletes a tenant (admin key).
func (c *Client) DeleteTenant(ctx context.Context, id string) error {
	if err := need(id); err != nil {
		return err
	}
	return c.del(ctx, p("/v1/tenants/%s", id))
}

// CreateAPIKey creates an API key for a tenant (admin key). The answer is
// the only time the key is shown.
func (c *Client) CreateAPIKey(ctx context.Context, tenantID string) (NewAPIKey, error) {
	if err := need(tenantID); err != nil {
		return NewAPIKey{}, err
	}
	return post[NewAPIKey](ctx, c, p("/v1/tenants/%s/api-keys", tenantID), nil)
}

// ListAPIKeys lists a tenant's API keys (admin key).
func (c *Client) ListAPIKeys(ctx context.Context, tenantID string, lp ListParams) (Page[APIKey], error) {
	if err := need(tenantID); err != nil {
		return Page[APIKey]{}, err
	}
	return get[Page[APIKey]](ctx, c, p("/v1/tenants/%s/api-keys", tenantID), lp.query(nil))
}

// DeleteAPIKey deletes a tenant's API key (admin key).
func (c *Client) DeleteAPIKey(ctx context.Context, tenantID, keyID string) error {
	if err := need(tenantID, keyID); err != nil {
		return err
	}
	return c.del(ctx, p("/v1/tenants/%s/api-keys/%s", tenantID, keyID))
}

// CreatePortalLink creates a signed link to a tenant's portal (admin key).
func (c *Client) CreatePortalLink(ctx context.Context, tenantID string, in PortalLinkInput) (PortalLink, error) {
	if err := need(tenantID); err != nil {
		return PortalLink{}, err
	}
	return post[PortalLink](ctx, c, p("/v1/tenants/%s/portal-links", tenantID), in)
}

// CreateEndpoint registers a webhook endpoint.
func (c *Client) CreateEndpoint(ctx context.Context, in EndpointInput) (EndpointWithSecret, error) {
	return post[EndpointWithSecret](ctx, c, "/v1/webhook-endpoints", in)
}

// ListEndpoints lists webhook endpoints.
func (c *Client) ListEndpoints(ctx context.Context, f EndpointFilter) (Page[Endpoint], error) {
	return get[Page[Endpoint]](ctx, c, "/v1/webhook-endpoints", set(f.query(nil), "tenantId", f.TenantID))
}

// GetEndpoint returns an endpoint.
func (c *Client) GetEndpoint(ctx context.Context, id string) (Endpoint, error) {
	if err := need(id); err != nil {
		return Endpoint{}, err
	}
	return get[Endpoint](ctx, c, p("/v1/webhook-endpoints/%s", id), nil)
}

// UpdateEndpoint changes an endpoint as the patch asks. A merge patch is
// idempotent, so it is retried like a GET.
func (c *Client) UpdateEndpoint(ctx context.Context, id string, patch EndpointPatch) (Endpoint, error) {
	if err := need(id); err != nil {
		return Endpoint{}, err
	}
	var out Endpoint
	_, err := c.do(ctx, request{method: http.MethodPatch, path: p("/v1/webhook-endpoints/%s", id), body: patch,
		mediaType: "application/merge-patch+json", idempotent: true}, &out)
	return out, err
}

// DeleteEndpoint deletes an endpoint; its pending deliveries are canceled.
func (c *Client) DeleteEndpoint(ctx context.Context, id string) error {
	if err := need(id); err != nil {
		return err
	}
	return c.del(ctx, p("/v1/webhook-endpoints/%s", id))
}

// EndpointSecret returns an endpoint's signing secret, and the old ones
// that still sign.
func (c *Client) EndpointSecret(ctx context.Context, id string) (Secret, error) {
	if err := need(id); err != nil {
		return Secret{}, err
	}
	return get[Secret](ctx, c, p("/v1/webhook-endpoints/%s/secret", id), nil)
}

// EndpointStats returns an endpoint's statistics over the last hour, day
// and week.
func (c *Client) EndpointStats(ctx context.Context, id string) (EndpointStats, error) {
	if err := need(id); err != nil {
		return EndpointStats{}, err
	}
	return get[EndpointStats](ctx, c, p("/v1/webhook-endpoints/%s/stats", id), nil)
}

// DisableEndpoint pauses an endpoint; an empty reason is the server's.
func (c *Client) DisableEndpoint(ctx context.Context, id, reason string) (Endpoint, error) {
	if err := need(id); err != nil {
		return Endpoint{}, err
	}
	var body any
	if reason != "" {
		body = map[string]string{"reason": reason}
	}
	return post[Endpoint](ctx, c, p("/v1/webhook-endpoints/%s/disable", id), body)
}

// EnableEndpoint resumes an endpoint.
func (c *Client) EnableEndpoint(ctx context.Context, id string) (Endpoint, error) {
	if err := need(id); err != nil {
		return Endpoint{}, err
	}
	return post[Endpoint](ctx, c, p("/v1/webhook-endpoints/%s/enable", id), nil)
}

// RotateEndpointSecret gives an endpoint a new signing secret.
func (c *Client) RotateEndpointSecret(ctx context.Context, id string, in RotateInput) (Secret, error) {
	if err := need(id); err != nil {
		return Secret{}, err
	}
	return post[Secret](ctx, c, p("/v1/webhook-endpoints/%s/rotate-secret", id), in)
}

// TestEndpoint sends a signed herald.ping to an endpoint now and returns
// the attempt (which is not stored).
func (c *Client) TestEndpoint(ctx context.Context, id string) (Attempt, error) {
	if err := need(id); err != nil {
		return Attempt{}, err
	}
	return post[Attempt](ctx, c, p("/v1/webhook-endpoints/%s/test", id), nil)
}

// RecoverEndpoint starts a job that retries the endpoint's failed and
// missed deliveries of events created in the window; follow it with GetJob.
func (c *Client) RecoverEndpoint(ctx context.Context, id string, in RecoverInput) (Job, error) {
	if err := need(id); err != nil {
		return Job{}, err
	}
	return post[Job](ctx, c, p("/v1/webhook-endpoints/%s/recover", id), in)
}

// SendEvent hands the server an event. An event with an ID is sent
// idempotently, so it is retried after a 429 or 503 like a GET.
func (c *Client) SendEvent(ctx context.Context, in EventInput) (SentEvent, error) {
	var out SentEvent
	status, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/events", body: in, idempotent: in.ID != ""}, &out.Event)
	out.Duplicate = status == http.StatusOK
	return out, err
}

// ListEvents lists events, newest first.
func (c *Client) ListEvents(ctx context.Context, f EventFilter) (Page[Event], error) {
	q := set(f.query(nil), "tenantId", f.TenantID, "type", f.Type, "since", timeParam(f.Since), "until", timeParam(f.Until))
	return get[Page[Event]](ctx, c, "/v1/events", q)
}

// GetEvent returns an event.
func (c *Client) GetEvent(ctx context.Context, id string) (Event, error) {
	if err := need(id); err != nil {
		return Event{}, err
	}
	return get[Event](ctx, c, p("/v1/events/%s", id), nil)
}

// ListEventDeliveries lists an event's deliveries.
func (c *Client) ListEventDeliveries(ctx context.Context, id string, lp ListParams) (Page[Delivery], error) {
	if err := need(id); err != nil {
		return Page[Delivery]{}, err
	}
	return get[Page[Delivery]](ctx, c, p("/v1/events/%s/deliveries", id), lp.query(nil))
}

// ReplayEvent queues a retry of the event's delivery to each endpoint
// named, or with none named to every active endpoint that matches it now.
func (c *Client) ReplayEvent(ctx context.Context, id string, endpointIDs ...string) ([]Delivery, error) {
	if err := need(id); err != nil {
		return nil, err
	}
	var body any
	if len(endpointIDs) > 0 {
		body = map[string][]string{"endpointIds": endpointIDs}
	}
	out, err := post[struct {
		Deliveries []Delivery `json:"deliveries"`
	}](ctx, c, p("/v1/events/%s/replay", id), body)
	return out.Deliveries, err
}

// ListDeliveries lists the delivery log, newest first.
func (c *Client) ListDeliveries(ctx context.Context, f DeliveryFilter) (Page[Delivery], error) {
	q := set(f.query(nil), "tenantId", f.TenantID, "endpointId", f.EndpointID, "eventId", f.EventID,
		"eventType", f.EventType, "status", f.Status, "since", timeParam(f.Since), "until", timeParam(f.Until))
	return get[Page[Delivery]](ctx, c, "/v1/deliveries", q)
}

// GetDelivery returns a delivery with its first 100 attempts.
func (c *Client) GetDelivery(ctx context.Context, id string) (DeliveryDetail, error) {
	if err := need(id); err != nil {
		return DeliveryDetail{}, err
	}
	return get[DeliveryDetail](ctx, c, p("/v1/deliveries/%s", id), nil)
}

// ListDeliveryAttempts lists a delivery's attempts, oldest first.
func (c *Client) ListDeliveryAttempts(ctx context.Context, id string, lp ListParams) (Page[Attempt], error) {
	if err := need(id); err != nil {
		return Page[Attempt]{}, err
	}
	return get[Page[Attempt]](ctx, c, p("/v1/deliveries/%s/attempts", id), lp.query(nil))
}

// RetryDelivery queues one more attempt of a delivery now.
func (c *Client) RetryDelivery(ctx context.Context, id string) (Delivery, error) {
	if err := need(id); err != nil {
		return Delivery{}, err
	}
	return post[Delivery](ctx, c, p("/v1/deliveries/%s/retry", id), nil)
}

// ListAttempts lists every attempt as recorded, newest last. Its
// NextCursor is never nil: calling again with it returns only newer
// attempts, which is how to follow deliveries live.
func (c *Client) ListAttempts(ctx context.Context, f AttemptFilter) (Page[Attempt], error) {
	q := set(f.query(nil), "tenantId", f.TenantID, "endpointId", f.EndpointID, "since", timeParam(f.Since))
	return get[Page[Attempt]](ctx, c, "/v1/attempts", q)
}

// GetJob returns a job.
func (c *Client) GetJob(ctx context.Context, id string) (Job, error) {
	if err := need(id); err != nil {
		return Job{}, err
	}
	return get[Job](ctx, c, p("/v1/jobs/%s", id), nil)
}

// CreateEventType adds an event type to the catalogue (admin key).
func (c *Client) CreateEventType(ctx context.Context, in EventTypeInput) (EventType, error) {
	return post[EventType](ctx, c, "/v1/event-types", in)
}

// ListEventTypes lists the catalogue of event types.
func (c *Client) ListEventTypes(ctx context.Context, lp ListParams) (Page[EventType], error) {
	return get[Page[EventType]](ctx, c, "/v1/event-types", lp.query(nil))
}

// OpenAPI returns the server's OpenAPI document.
func (c *Client) OpenAPI(ctx context.Context) ([]byte, error) {
	var out rawJSON
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/openapi.json"}, &out)
	return out, err
}

type rawJSON []byte

func (r *rawJSON) UnmarshalJSON(b []byte) error { *r = append((*r)[:0], b...); return nil }

// BatchResult is the answer to one event of SendEvents: the Status that
// SendEvent would have had (202, 200 for a repeat, 400, 409, 429, …), with
// the Event when it was stored, else the Problem.
type BatchResult struct {
	Status int      `json:"status"`
	Event  *Event   `json:"event,omitempty"`
	Error  *Problem `json:"error,omitempty"`
}

// MaxBatch is the most events SendEvents takes at once.
const MaxBatch = 500

// SendEvents hands the server up to MaxBatch events in one request and
// returns a result per event, in order. Events are refused one by one, so
// check each result; the error is for the request as a whole. When every
// event has an ID the batch is idempotent, and retried after a 429 or 503.
func (c *Client) SendEvents(ctx context.Context, events []EventInput) ([]BatchResult, error) {
	idempotent := true
	for _, ev := range events {
		idempotent = idempotent && ev.ID != ""
	}
	var out struct {
		Data []BatchResult `json:"data"`
	}
	_, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/events/batch",
		body: map[string][]EventInput{"events": events}, idempotent: idempotent}, &out)
	for i := range out.Data {
		if p := out.Data[i].Error; p != nil && p.Status == 0 {
			p.Status = out.Data[i].Status
		}
	}
	return out.Data, err
}
