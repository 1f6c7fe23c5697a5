package server

// routes registers every route of the API. Access and body limits are part
// of each line, so this file is the whole map of who may do what.
func (s *Server) routes() {
	admin := opts{access: adminOnly}
	keyed := opts{access: anyKey}
	m := s.mux

	m.Handle("GET /healthz", handle(s, opts{access: public}, s.healthz))
	m.Handle("GET /readyz", handle(s, opts{access: public}, s.readyz))
	if s.metrics != nil {
		m.Handle("GET /metrics", s.metrics) // counts only, no tenant data
	}
	if s.healthOnly {
		return
	}

	m.Handle("POST /v1/tenants", handle(s, admin, s.createTenant))
	m.Handle("GET /v1/tenants", handle(s, admin, s.listTenants))
	m.Handle("GET /v1/tenants/{id}", handle(s, keyed, s.getTenant)) // a tenant key may read its own
	m.Handle("DELETE /v1/tenants/{id}", handle(s, admin, s.deleteTenant))

	m.Handle("POST /v1/tenants/{id}/api-keys", handle(s, admin, s.createAPIKey))
	m.Handle("GET /v1/tenants/{id}/api-keys", handle(s, admin, s.listAPIKeys))
	m.Handle("DELETE /v1/tenants/{id}/api-keys/{keyId}", handle(s, admin, s.deleteAPIKey))

	m.Handle("POST /v1/webhook-endpoints", handle(s, keyed, s.createEndpoint))
	m.Handle("GET /v1/webhook-endpoints", handle(s, keyed, s.listEndpoints))
	m.Handle("GET /v1/webhook-endpoints/{id}", handle(s, keyed, s.getEndpoint))
	m.Handle("PATCH /v1/webhook-endpoints/{id}", handle(s, opts{access: anyKey, mergePatch: true}, s.patchEndpoint))
	m.Handle("DELETE /v1/webhook-endpoints/{id}", handle(s, keyed, s.deleteEndpoint))
	m.Handle("GET /v1/webhook-endpoints/{id}/secret", handle(s, keyed, s.getEndpointSecret))
	m.Handle("GET /v1/webhook-endpoints/{id}/stats", handle(s, keyed, s.endpointStats))
	m.Handle("POST /v1/webhook-endpoints/{id}/disable", handle(s, keyed, s.disableEndpoint))
	m.Handle("POST /v1/webhook-endpoints/{id}/enable", handle(s, keyed, s.enableEndpoint))
	m.Handle("POST /v1/webhook-endpoints/{id}/rotate-secret", handle(s, keyed, s.rotateEndpointSecret))
	m.Handle("POST /v1/webhook-endpoints/{id}/test", handle(s, keyed, s.testEndpoint))

	m.Handle("POST /v1/events", handle(s, opts{access: anyKey, maxBody: s.maxPayload}, s.createEvent))
	m.Handle("POST /v1/events/batch", handle(s, opts{access: anyKey, maxBody: maxBatchBody}, s.createEvents))
	m.Handle("GET /v1/events", handle(s, keyed, s.listEvents))
	m.Handle("GET /v1/events/{id}", handle(s, keyed, s.getEvent))
	m.Handle("GET /v1/events/{id}/deliveries", handle(s, keyed, s.listEventDeliveries))

	m.Handle("GET /v1/deliveries", handle(s, keyed, s.listDeliveries))
	m.Handle("GET /v1/deliveries/{id}", handle(s, keyed, s.getDelivery))
	m.Handle("GET /v1/deliveries/{id}/attempts", handle(s, keyed, s.listDeliveryAttempts))
	m.Handle("GET /v1/attempts", handle(s, keyed, s.listAttemptLog))

	m.Handle("POST /v1/deliveries/{id}/retry", handle(s, keyed, s.retryDelivery))
	m.Handle("POST /v1/events/{id}/replay", handle(s, keyed, s.replayEvent))
	m.Handle("POST /v1/webhook-endpoints/{id}/recover", handle(s, keyed, s.recoverEndpoint))
	m.Handle("GET /v1/jobs/{id}", handle(s, keyed, s.getJob))

	m.Handle("POST /v1/event-types", handle(s, opts{access: adminOnly, maxBody: s.maxPayload}, s.createEventType))
	m.Handle("GET /v1/event-types", handle(s, keyed, s.listEventTypes))
}
