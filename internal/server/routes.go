package server

import (
	"context"
	"net/http"
)

// route is one line of the API's map: who may call what, and the handler.
type route struct {
	method  string
	pattern string // a ServeMux pattern; its {wildcards} are OpenAPI's path templates too
	opts    opts
	handler func(*Server, opts) http.Handler
}

// h binds a handler function to the adapter, so that a route's opts are
// written once, in its line of the table.
func h[In any](fn func(*Server, context.Context, *call[In]) (reply, error)) func(*Server, opts) http.Handler {
	return func(s *Server, o opts) http.Handler {
		return handle(s, o, func(ctx context.Context, c *call[In]) (reply, error) { return fn(s, ctx, c) })
	}
}

// routeTable lists every route of the API. Access and body limits are part
// of each line, so this table is the whole map of who may do what; the
// OpenAPI document (openapi.json) describes the same /v1 routes, which a test
// checks.
func routeTable(maxPayload int64) []route {
	open := opts{access: public}
	admin := opts{access: adminOnly}
	keyed := opts{access: anyKey}
	return []route{
		{"GET", "/healthz", open, h((*Server).healthz)},
		{"GET", "/readyz", open, h((*Server).readyz)},
		{"GET", "/v1/openapi.json", open, h((*Server).openAPI)},

		{"POST", "/v1/tenants", admin, h((*Server).createTenant)},
		{"GET", "/v1/tenants", admin, h((*Server).listTenants)},
		{"GET", "/v1/tenants/{id}", keyed, h((*Server).getTenant)}, // a tenant key may read its own
		{"DELETE", "/v1/tenants/{id}", admin, h((*Server).deleteTenant)},

		{"POST", "/v1/tenants/{id}/api-keys", admin, h((*Server).createAPIKey)},
		{"GET", "/v1/tenants/{id}/api-keys", admin, h((*Server).listAPIKeys)},
		{"DELETE", "/v1/tenants/{id}/api-keys/{keyId}", admin, h((*Server).deleteAPIKey)},
		{"POST", "/v1/tenants/{id}/portal-links", admin, h((*Server).createPortalLink)},

		{"POST", "/v1/webhook-endpoints", keyed, h((*Server).createEndpoint)},
		{"GET", "/v1/webhook-endpoints", keyed, h((*Server).listEndpoints)},
		{"GET", "/v1/webhook-endpoints/{id}", keyed, h((*Server).getEndpoint)},
		{"PATCH", "/v1/webhook-endpoints/{id}", opts{access: anyKey, mergePatch: true}, h((*Server).patchEndpoint)},
		{"DELETE", "/v1/webhook-endpoints/{id}", keyed, h((*Server).deleteEndpoint)},
		{"GET", "/v1/webhook-endpoints/{id}/secret", keyed, h((*Server).getEndpointSecret)},
		{"GET", "/v1/webhook-endpoints/{id}/stats", keyed, h((*Server).endpointStats)},
		{"POST", "/v1/webhook-endpoints/{id}/disable", keyed, h((*Server).disableEndpoint)},
		{"POST", "/v1/webhook-endpoints/{id}/enable", keyed, h((*Server).enableEndpoint)},
		{"POST", "/v1/webhook-endpoints/{id}/rotate-secret", keyed, h((*Server).rotateEndpointSecret)},
		{"POST", "/v1/webhook-endpoints/{id}/test", keyed, h((*Server).testEndpoint)},

		{"POST", "/v1/events", opts{access: anyKey, maxBody: maxPayload}, h((*Server).createEvent)},
		{"POST", "/v1/events/batch", opts{access: anyKey, maxBody: maxBatchBody}, h((*Server).createEvents)},
		{"GET", "/v1/events", keyed, h((*Server).listEvents)},
		{"GET", "/v1/events/{id}", keyed, h((*Server).getEvent)},
		{"GET", "/v1/events/{id}/deliveries", keyed, h((*Server).listEventDeliveries)},

		{"GET", "/v1/deliveries", keyed, h((*Server).listDeliveries)},
		{"GET", "/v1/deliveries/{id}", keyed, h((*Server).getDelivery)},
		{"GET", "/v1/deliveries/{id}/attempts", keyed, h((*Server).listDeliveryAttempts)},
		{"GET", "/v1/attempts", keyed, h((*Server).listAttemptLog)},

		{"POST", "/v1/deliveries/{id}/retry", keyed, h((*Server).retryDelivery)},
		{"POST", "/v1/events/{id}/replay", keyed, h((*Server).replayEvent)},
		{"POST", "/v1/webhook-endpoints/{id}/recover", keyed, h((*Server).recoverEndpoint)},
		{"GET", "/v1/jobs/{id}", keyed, h((*Server).getJob)},

		{"POST", "/v1/event-types", opts{access: adminOnly, maxBody: maxPayload}, h((*Server).createEventType)},
		{"GET", "/v1/event-types", keyed, h((*Server).listEventTypes)},
	}
}

// routes registers the route table, and beside it /metrics and the web
// console, which are plain handlers. A process that serves health only
// registers neither the API nor the console.
func (s *Server) routes() {
	if s.metrics != nil {
		s.mux.Handle("GET /metrics", s.metrics) // counts only, no tenant data
	}
	if !s.healthOnly {
		s.mux.Handle("/ui/", s.console) // the web console: its pages and actions are listed in internal/console
	}
	for _, r := range routeTable(s.maxPayload) {
		if s.healthOnly && isAPI(r.pattern) {
			continue
		}
		s.mux.Handle(r.method+" "+r.pattern, r.handler(s, r.opts))
	}
}

// isAPI reports whether a pattern is part of the versioned API.
func isAPI(pattern string) bool { return len(pattern) >= 4 && pattern[:4] == "/v1/" }
