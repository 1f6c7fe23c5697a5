package server

import (
	"strings"
	"testing"
	"time"
)

// fixture is an env with two tenants, acme and globex, each with a key, an
// endpoint and an event.
type fixture struct {
	*env
	keyA, keyB string
	epA, epB   string
	evA, evB   string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{env: newEnv(t)}
	f.keyA, f.keyB = f.tenant(t, "acme"), f.tenant(t, "globex")
	body := map[string]any{"url": "https://example.com/hooks", "events": []string{"payout.*"}}
	f.epA, f.epB = f.endpoint(t, f.keyA, body), f.endpoint(t, f.keyB, body)
	f.evA = f.event(t, f.keyA, map[string]any{"id": "evt-a-1", "type": "payout.paid", "data": map[string]any{"n": 1}}).ID
	f.clock.Add(time.Second)
	f.evB = f.event(t, f.keyB, map[string]any{"id": "evt-b-1", "type": "payout.paid", "data": map[string]any{"n": 1}}).ID
	return f
}

// TestErrors checks every error the API answers, with its exact status,
// problem type and, for invalid fields, the field named.
func TestErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ep := func(extra string) string {
		return `{"url":"https://example.com/h","events":["a.b"]` + extra + `}`
	}
	big := `{"type":"payout.paid","data":{"s":"` + strings.Repeat("x", 5<<10) + `"}}`
	tests := []struct {
		name   string
		r      req
		status int
		typ    string
		field  string            // the field the errors list must name
		header map[string]string // headers the answer must have
	}{
		// 400: malformed bodies.
		{name: "truncated JSON", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: `{"url":`}, status: 400, typ: typeMalformed},
		{name: "invalid JSON", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: `{"url": https}`}, status: 400, typ: typeMalformed},
		{name: "trailing garbage", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: ep(``) + `]`}, status: 400, typ: typeMalformed},
		{name: "two objects", r: req{method: "POST", path: "/v1/events", key: f.keyA, body: `{} {}`}, status: 400, typ: typeMalformed},
		{name: "body not an object", r: req{method: "POST", path: "/v1/tenants", key: f.admin, body: `["acme"]`}, status: 400, typ: typeMalformed},

		// 400: invalid fields, each named.
		{name: "unknown field", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: ep(`,"maxInflight":3`)}, status: 400, typ: typeValidation, field: "maxInflight"},
		{name: "unknown field case", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: `{"URL":"https://example.com/h","events":[]}`}, status: 400, typ: typeValidation, field: "URL"},
		{name: "unknown field anywhere", r: req{method: "POST", path: "/v1/events", key: f.keyA, body: `{"type":"a.b","data":{},"tenant":"acme"}`}, status: 400, typ: typeValidation, field: "tenant"},
		{name: "unknown field of a key", r: req{method: "POST", path: "/v1/tenants/acme/api-keys", key: f.admin, body: `{"name":"ci"}`}, status: 400, typ: typeValidation, field: "name"},
		{name: "wrong type", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: `{"url":"https://example.com/h","events":"a.b"}`}, status: 400, typ: typeValidation, field: "events"},
		{name: "url missing", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: `{"events":[]}`}, status: 400, typ: typeValidation, field: "url"},
		{name: "url with user", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: `{"url":"https://u:p@example.com/","events":[]}`}, status: 400, typ: typeValidation, field: "url"},
		{name: "url not http", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: `{"url":"ftp://example.com/","events":[]}`}, status: 400, typ: typeValidation, field: "url"},
		{name: "events missing", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: `{"url":"https://example.com/h"}`}, status: 400, typ: typeValidation, field: "events"},
		{name: "bad wildcard", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: `{"url":"https://example.com/h","events":["pay*"]}`}, status: 400, typ: typeValidation, field: "events"},
		{name: "timeout not a duration", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: ep(`,"timeout":"fast"`)}, status: 400, typ: typeValidation, field: "timeout"},
		{name: "timeout too long", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: ep(`,"timeout":"1m"`)}, status: 400, typ: typeValidation, field: "timeout"},
		{name: "timeout a number", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: ep(`,"timeout":15`)}, status: 400, typ: typeValidation, field: "timeout"},
		{name: "retry delay", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: ep(`,"retrySchedule":["5s","soon"]`)}, status: 400, typ: typeValidation, field: "retrySchedule[1]"},
		{name: "retry delay negative", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: ep(`,"retrySchedule":["-5s"]`)}, status: 400, typ: typeValidation, field: "retrySchedule"},
		{name: "maxInFlight zero", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: ep(`,"maxInFlight":0`)}, status: 400, typ: typeValidation, field: "maxInFlight"},
		{name: "rateLimit negative", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: ep(`,"rateLimit":-1`)}, status: 400, typ: typeValidation, field: "rateLimit"},
		{name: "header refused", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: ep(`,"headers":{"content-type":"text/plain"}`)}, status: 400, typ: typeValidation, field: "headers.content-type"},
		{name: "scheme unknown", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: ep(`,"signatureScheme":"rsa"`)}, status: 400, typ: typeValidation, field: "signatureScheme"},
		{name: "secret short", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: ep(`,"secret":"whsec_c2hvcnQ="`)}, status: 400, typ: typeValidation, field: "secret"},
		{name: "secret of another scheme", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: ep(`,"signatureScheme":"ed25519","secret":"whsec_MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE="`)}, status: 400, typ: typeValidation, field: "secret"},
		{name: "admin without tenantId", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.admin, body: ep(``)}, status: 400, typ: typeValidation, field: "tenantId"},
		{name: "admin with unknown tenant", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.admin, body: ep(`,"tenantId":"nobody"`)}, status: 400, typ: typeValidation, field: "tenantId"},
		{name: "tenant id invalid", r: req{method: "POST", path: "/v1/tenants", key: f.admin, body: `{"id":"acme corp"}`}, status: 400, typ: typeValidation, field: "id"},
		{name: "event type missing", r: req{method: "POST", path: "/v1/events", key: f.keyA, body: `{"data":{}}`}, status: 400, typ: typeValidation, field: "type"},
		{name: "event type herald", r: req{method: "POST", path: "/v1/events", key: f.keyA, body: `{"type":"herald.endpoint.disabled","data":{}}`}, status: 400, typ: typeValidation, field: "type"},
		{name: "event data missing", r: req{method: "POST", path: "/v1/events", key: f.keyA, body: `{"type":"a.b"}`}, status: 400, typ: typeValidation, field: "data"},
		{name: "event data not object", r: req{method: "POST", path: "/v1/events", key: f.keyA, body: `{"type":"a.b","data":[1]}`}, status: 400, typ: typeValidation, field: "data"},
		{name: "event data not UTF-8", r: req{method: "POST", path: "/v1/events", key: f.keyA, body: "{\"type\":\"a.b\",\"data\":{\"a\":\"\xff\"}}"}, status: 400, typ: typeValidation, field: "data"},
		{name: "event data null", r: req{method: "POST", path: "/v1/events", key: f.keyA, body: `{"type":"a.b","data":null}`}, status: 400, typ: typeValidation, field: "data"},
		{name: "event id invalid", r: req{method: "POST", path: "/v1/events", key: f.keyA, body: `{"id":"a.b","type":"a.b","data":{}}`}, status: 400, typ: typeValidation, field: "id"},
		{name: "idempotency key invalid", r: req{method: "POST", path: "/v1/events", key: f.keyA, body: `{"type":"a.b","data":{}}`, header: map[string]string{"Idempotency-Key": "a b"}}, status: 400, typ: typeValidation, field: "Idempotency-Key"},
		{name: "idempotency key differs", r: req{method: "POST", path: "/v1/events", key: f.keyA, body: `{"id":"x1","type":"a.b","data":{}}`, header: map[string]string{"Idempotency-Key": "x2"}}, status: 400, typ: typeValidation, field: "id"},
		{name: "event admin without tenant", r: req{method: "POST", path: "/v1/events", key: f.admin, body: `{"type":"a.b","data":{}}`}, status: 400, typ: typeValidation, field: "tenantId"},
		{name: "event admin unknown tenant", r: req{method: "POST", path: "/v1/events", key: f.admin, body: `{"tenantId":"nobody","type":"a.b","data":{}}`}, status: 400, typ: typeValidation, field: "tenantId"},
		{name: "event to herald", r: req{method: "POST", path: "/v1/events", key: f.admin, body: `{"tenantId":"herald","type":"a.b","data":{}}`}, status: 400, typ: typeValidation, field: "tenantId"},
		{name: "event type reserved name", r: req{method: "POST", path: "/v1/event-types", key: f.admin, body: `{"name":"herald.x"}`}, status: 400, typ: typeValidation, field: "name"},
		{name: "event type schema", r: req{method: "POST", path: "/v1/event-types", key: f.admin, body: `{"name":"a.b","schema":[]}`}, status: 400, typ: typeValidation, field: "schema"},
		{name: "patch secret", r: req{method: "PATCH", path: "/v1/webhook-endpoints/" + f.epA, key: f.keyA, body: `{"secret":"whsec_x"}`}, status: 400, typ: typeValidation, field: "secret"},
		{name: "patch status", r: req{method: "PATCH", path: "/v1/webhook-endpoints/" + f.epA, key: f.keyA, body: `{"status":"disabled"}`}, status: 400, typ: typeValidation, field: "status"},
		{name: "patch tenant", r: req{method: "PATCH", path: "/v1/webhook-endpoints/" + f.epA, key: f.keyA, body: `{"tenantId":"globex"}`}, status: 400, typ: typeValidation, field: "tenantId"},
		{name: "patch url null", r: req{method: "PATCH", path: "/v1/webhook-endpoints/" + f.epA, key: f.keyA, body: `{"url":null}`}, status: 400, typ: typeValidation, field: "url"},
		{name: "patch header wrong type", r: req{method: "PATCH", path: "/v1/webhook-endpoints/" + f.epA, key: f.keyA, body: `{"headers":{"X-A":1}}`}, status: 400, typ: typeValidation, field: "headers"},
		{name: "patch unknown field", r: req{method: "PATCH", path: "/v1/webhook-endpoints/" + f.epA, key: f.keyA, body: `{"id":"ep_x"}`}, status: 400, typ: typeValidation, field: "id"},

		// 400: query parameters.
		{name: "limit zero", r: req{method: "GET", path: "/v1/events?limit=0", key: f.keyA}, status: 400, typ: typeValidation, field: "limit"},
		{name: "limit too big", r: req{method: "GET", path: "/v1/webhook-endpoints?limit=251", key: f.keyA}, status: 400, typ: typeValidation, field: "limit"},
		{name: "limit not a number", r: req{method: "GET", path: "/v1/tenants?limit=ten", key: f.admin}, status: 400, typ: typeValidation, field: "limit"},
		{name: "cursor forged", r: req{method: "GET", path: "/v1/events?cursor=bm9wZQ", key: f.keyA}, status: 400, typ: typeValidation, field: "cursor"},
		{name: "since not a time", r: req{method: "GET", path: "/v1/events?since=yesterday", key: f.keyA}, status: 400, typ: typeValidation, field: "since"},
		{name: "until not a time", r: req{method: "GET", path: "/v1/events?until=2026-05-08", key: f.keyA}, status: 400, typ: typeValidation, field: "until"},
		{name: "unknown parameter", r: req{method: "GET", path: "/v1/webhook-endpoints?tenant_id=acme", key: f.admin}, status: 400, typ: typeValidation, field: "tenant_id"},
		{name: "repeated parameter", r: req{method: "GET", path: "/v1/events?type=a&type=b", key: f.admin}, status: 400, typ: typeValidation, field: "type"},

		// 401.
		{name: "no key", r: req{method: "GET", path: "/v1/events"}, status: 401, typ: typeUnauthorized, header: map[string]string{"WWW-Authenticate": `Bearer realm="herald"`}},
		{name: "basic auth", r: req{method: "GET", path: "/v1/events", header: map[string]string{"Authorization": "Basic YTpi"}}, status: 401, typ: typeUnauthorized},
		{name: "empty bearer", r: req{method: "GET", path: "/v1/events", header: map[string]string{"Authorization": "Bearer "}}, status: 401, typ: typeUnauthorized},
		{name: "unknown key", r: req{method: "GET", path: "/v1/events", key: "hkt_nope"}, status: 401, typ: typeUnauthorized, header: map[string]string{"WWW-Authenticate": `Bearer realm="herald"`}},
		{name: "no key before body checks", r: req{method: "POST", path: "/v1/events", body: big}, status: 401, typ: typeUnauthorized},

		// 403: admin-only routes, and a tenant key naming another tenant.
		{name: "tenant lists tenants", r: req{method: "GET", path: "/v1/tenants", key: f.keyA}, status: 403, typ: typeForbidden},
		{name: "tenant creates tenant", r: req{method: "POST", path: "/v1/tenants", key: f.keyA, body: `{}`}, status: 403, typ: typeForbidden},
		{name: "tenant deletes itself", r: req{method: "DELETE", path: "/v1/tenants/acme", key: f.keyA}, status: 403, typ: typeForbidden},
		{name: "tenant makes keys", r: req{method: "POST", path: "/v1/tenants/acme/api-keys", key: f.keyA}, status: 403, typ: typeForbidden},
		{name: "tenant lists keys", r: req{method: "GET", path: "/v1/tenants/acme/api-keys", key: f.keyA}, status: 403, typ: typeForbidden},
		{name: "tenant deletes key", r: req{method: "DELETE", path: "/v1/tenants/acme/api-keys/key_x", key: f.keyA}, status: 403, typ: typeForbidden},
		{name: "tenant adds event type", r: req{method: "POST", path: "/v1/event-types", key: f.keyA, body: `{"name":"a.b"}`}, status: 403, typ: typeForbidden},
		{name: "endpoint for another tenant", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: ep(`,"tenantId":"globex"`)}, status: 403, typ: typeForbidden},
		{name: "event for another tenant", r: req{method: "POST", path: "/v1/events", key: f.keyA, body: `{"tenantId":"globex","type":"a.b","data":{}}`}, status: 403, typ: typeForbidden},
		{name: "list another tenant's endpoints", r: req{method: "GET", path: "/v1/webhook-endpoints?tenantId=globex", key: f.keyA}, status: 403, typ: typeForbidden},
		{name: "list another tenant's events", r: req{method: "GET", path: "/v1/events?tenantId=globex", key: f.keyA}, status: 403, typ: typeForbidden},

		// 404.
		{name: "unknown route", r: req{method: "GET", path: "/v2/events", key: f.admin}, status: 404, typ: typeNotFound},
		{name: "unknown route without key", r: req{method: "GET", path: "/favicon.ico"}, status: 404, typ: typeNotFound},
		{name: "trailing slash", r: req{method: "GET", path: "/v1/events/", key: f.admin}, status: 404, typ: typeNotFound},
		{name: "unknown tenant", r: req{method: "GET", path: "/v1/tenants/nobody", key: f.admin}, status: 404, typ: typeNotFound},
		{name: "delete unknown tenant", r: req{method: "DELETE", path: "/v1/tenants/nobody", key: f.admin}, status: 404, typ: typeNotFound},
		{name: "keys of unknown tenant", r: req{method: "POST", path: "/v1/tenants/nobody/api-keys", key: f.admin}, status: 404, typ: typeNotFound},
		{name: "unknown key", r: req{method: "DELETE", path: "/v1/tenants/acme/api-keys/key_nope", key: f.admin}, status: 404, typ: typeNotFound},
		{name: "another tenant", r: req{method: "GET", path: "/v1/tenants/globex", key: f.keyA}, status: 404, typ: typeNotFound},
		{name: "unknown endpoint", r: req{method: "GET", path: "/v1/webhook-endpoints/ep_nope", key: f.admin}, status: 404, typ: typeNotFound},
		{name: "patch unknown endpoint", r: req{method: "PATCH", path: "/v1/webhook-endpoints/ep_nope", key: f.admin, body: `{}`}, status: 404, typ: typeNotFound},
		{name: "unknown event", r: req{method: "GET", path: "/v1/events/evt_nope", key: f.admin}, status: 404, typ: typeNotFound},
		{name: "deliveries of unknown event", r: req{method: "GET", path: "/v1/events/evt_nope/deliveries", key: f.admin}, status: 404, typ: typeNotFound},

		// 405, with Allow.
		{name: "delete events", r: req{method: "DELETE", path: "/v1/events", key: f.admin}, status: 405, typ: typeMethodNotAllowed, header: map[string]string{"Allow": "GET, HEAD, POST"}},
		{name: "put endpoint", r: req{method: "PUT", path: "/v1/webhook-endpoints/" + f.epA, key: f.keyA, body: ep(``)}, status: 405, typ: typeMethodNotAllowed, header: map[string]string{"Allow": "DELETE, GET, HEAD, PATCH"}},
		{name: "post healthz", r: req{method: "POST", path: "/healthz"}, status: 405, typ: typeMethodNotAllowed, header: map[string]string{"Allow": "GET, HEAD"}},

		// 409.
		{name: "tenant taken", r: req{method: "POST", path: "/v1/tenants", key: f.admin, body: `{"id":"acme"}`}, status: 409, typ: typeConflict},
		{name: "tenant reserved", r: req{method: "POST", path: "/v1/tenants", key: f.admin, body: `{"id":"herald"}`}, status: 409, typ: typeConflict},
		{name: "delete reserved tenant", r: req{method: "DELETE", path: "/v1/tenants/herald", key: f.admin}, status: 409, typ: typeConflict},
		{name: "event id with other data", r: req{method: "POST", path: "/v1/events", key: f.keyA, body: `{"id":"evt-a-1","type":"payout.paid","data":{"n":2}}`}, status: 409, typ: typeConflict},
		{name: "event id with other type", r: req{method: "POST", path: "/v1/events", key: f.keyA, body: `{"id":"evt-a-1","type":"payout.failed","data":{"n":1}}`}, status: 409, typ: typeConflict},
		{name: "event id of another tenant", r: req{method: "POST", path: "/v1/events", key: f.keyA, body: `{"id":"evt-b-1","type":"payout.paid","data":{"n":1}}`}, status: 409, typ: typeConflict},

		// 413, with and without Content-Length.
		{name: "event too large", r: req{method: "POST", path: "/v1/events", key: f.keyA, body: big}, status: 413, typ: typeTooLarge},
		{name: "event too large chunked", r: req{method: "POST", path: "/v1/events", key: f.keyA, body: big, chunked: true}, status: 413, typ: typeTooLarge},
		{name: "endpoint over 64KiB", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: ep(`,"description":"` + strings.Repeat("d", 64<<10) + `"`)}, status: 413, typ: typeTooLarge},
		{name: "endpoint over 64KiB chunked", r: req{method: "POST", path: "/v1/webhook-endpoints", key: f.keyA, body: ep(`,"description":"` + strings.Repeat("d", 64<<10) + `"`), chunked: true}, status: 413, typ: typeTooLarge},

		// 415.
		{name: "text/plain", r: req{method: "POST", path: "/v1/events", key: f.keyA, body: `{}`, header: map[string]string{"Content-Type": "text/plain"}}, status: 415, typ: typeUnsupportedMedia},
		{name: "form", r: req{method: "POST", path: "/v1/tenants", key: f.admin, body: `id=x`, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, status: 415, typ: typeUnsupportedMedia},
		{name: "no content type", r: req{method: "POST", path: "/v1/events", key: f.keyA, body: `{}`, header: map[string]string{"Content-Type": ""}}, status: 415, typ: typeUnsupportedMedia},
		{name: "merge patch on POST", r: req{method: "POST", path: "/v1/events", key: f.keyA, body: `{}`, header: map[string]string{"Content-Type": "application/merge-patch+json"}}, status: 415, typ: typeUnsupportedMedia},
		{name: "latin1", r: req{method: "PATCH", path: "/v1/webhook-endpoints/" + f.epA, key: f.keyA, body: `{}`, header: map[string]string{"Content-Type": "application/json; charset=latin1"}}, status: 415, typ: typeUnsupportedMedia},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := f.do(t, tt.r)
			if res.status != tt.status {
				t.Fatalf("status = %d %s, want %d", res.status, res.body, tt.status)
			}
			p := res.problem(t)
			if p.Type != tt.typ || p.Title == "" || p.Detail == "" {
				t.Errorf("problem = %+v, want type %s with a title and a detail", p, tt.typ)
			}
			if tt.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tt.field) {
				t.Errorf("errors = %+v, want the first to name %q", p.Errors, tt.field)
			}
			for k, v := range tt.header {
				if got := res.header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}
