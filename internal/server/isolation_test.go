package server

import (
	"net/http"
	"testing"
)

// TestTenantIsolation: a tenant key does not see another tenant's objects,
// which are 404 for it, not 403, so that it cannot even learn they exist.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, r := range []req{
		{method: "GET", path: "/v1/tenants/globex"},
		{method: "GET", path: "/v1/webhook-endpoints/" + f.epB},
		{method: "GET", path: "/v1/webhook-endpoints/" + f.epB + "/secret"},
		{method: "PATCH", path: "/v1/webhook-endpoints/" + f.epB, body: `{"url":"https://evil.example.com/"}`},
		{method: "DELETE", path: "/v1/webhook-endpoints/" + f.epB},
		{method: "GET", path: "/v1/events/" + f.evB},
		{method: "GET", path: "/v1/events/" + f.evB + "/deliveries"},
	} {
		r.key = f.keyA
		res := f.do(t, r)
		if p := res.problem(t); p.Status != http.StatusNotFound {
			t.Errorf("tenant A: %s %s = %d, want 404", r.method, r.path, p.Status)
		}
	}

	// B's endpoint is untouched, and B still sees it.
	var ep map[string]any
	f.must(t, http.StatusOK, req{method: "GET", path: "/v1/webhook-endpoints/" + f.epB, key: f.keyB}, &ep)
	if ep["url"] != "https://example.com/hooks" {
		t.Errorf("B's endpoint url = %v after A's PATCH", ep["url"])
	}

	// Lists show a tenant key its own objects only; the admin key sees all.
	lists := []struct {
		path                  string
		wantA, wantB, wantAll []string
	}{
		{"/v1/webhook-endpoints", []string{f.epA}, []string{f.epB}, []string{f.epA, f.epB}},
		{"/v1/events", []string{f.evA}, []string{f.evB}, []string{f.evB, f.evA}}, // newest first
	}
	for _, l := range lists {
		if got := ids(t, f.env, f.keyA, l.path); !equal(got, l.wantA) {
			t.Errorf("tenant A: GET %s = %v, want %v", l.path, got, l.wantA)
		}
		if got := ids(t, f.env, f.admin, l.path); !equal(got, l.wantAll) {
			t.Errorf("admin: GET %s = %v, want %v", l.path, got, l.wantAll)
		}
		if got := ids(t, f.env, f.keyA, l.path+"?tenantId=acme"); !equal(got, l.wantA) {
			t.Errorf("tenant A: GET %s?tenantId=acme = %v, want %v", l.path, got, l.wantA)
		}
		if got := ids(t, f.env, f.admin, l.path+"?tenantId=globex"); !equal(got, l.wantB) {
			t.Errorf("admin: GET %s?tenantId=globex = %v, want %v", l.path, got, l.wantB)
		}
	}

	// The admin key acts on every tenant.
	f.must(t, http.StatusOK, req{method: "GET", path: "/v1/events/" + f.evB + "/deliveries", key: f.admin}, nil)
	f.must(t, http.StatusNoContent, req{method: "DELETE", path: "/v1/webhook-endpoints/" + f.epB, key: f.admin}, nil)
	f.must(t, http.StatusNotFound, req{method: "GET", path: "/v1/webhook-endpoints/" + f.epB, key: f.keyB}, nil)

	// A tenant key reads its own tenant.
	var tn tenantJ
	f.must(t, http.StatusOK, req{method: "GET", path: "/v1/tenants/acme", key: f.keyA}, &tn)
	if tn.ID != "acme" {
		t.Errorf("GET own tenant = %+v", tn)
	}
}

// ids lists path with key and returns the ids of the first page.
func ids(t testing.TB, e *env, key, path string) []string {
	t.Helper()
	var l listJ[map[string]any]
	e.must(t, http.StatusOK, req{method: "GET", path: path, key: key}, &l)
	var out []string
	for _, it := range l.Data {
		out = append(out, it["id"].(string))
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDeletes: deleting a key or a tenant revokes access; deleting an
// endpoint cancels its pending deliveries and keeps them readable.
func TestDeletes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	var dl listJ[deliveryJ]
	f.must(t, http.StatusOK, req{method: "GET", path: "/v1/events/" + f.evA + "/deliveries", key: f.keyA}, &dl)
	if len(dl.Data) != 1 || dl.Data[0].Status != "pending" {
		t.Fatalf("deliveries = %+v, want one pending", dl.Data)
	}
	f.must(t, http.StatusNoContent, req{method: "DELETE", path: "/v1/webhook-endpoints/" + f.epA, key: f.keyA}, nil)
	f.must(t, http.StatusOK, req{method: "GET", path: "/v1/events/" + f.evA + "/deliveries", key: f.keyA}, &dl)
	if len(dl.Data) != 1 || dl.Data[0].Status != "canceled" {
		t.Errorf("deliveries after the endpoint's delete = %+v, want one canceled", dl.Data)
	}

	var keys listJ[keyJ]
	f.must(t, http.StatusOK, req{method: "GET", path: "/v1/tenants/acme/api-keys", key: f.admin}, &keys)
	if len(keys.Data) != 1 {
		t.Fatalf("keys = %+v, want one", keys.Data)
	}
	f.must(t, http.StatusNoContent, req{method: "DELETE", path: "/v1/tenants/acme/api-keys/" + keys.Data[0].ID, key: f.admin}, nil)
	f.must(t, http.StatusUnauthorized, req{method: "GET", path: "/v1/events", key: f.keyA}, nil)

	f.must(t, http.StatusNoContent, req{method: "DELETE", path: "/v1/tenants/globex", key: f.admin}, nil)
	f.must(t, http.StatusUnauthorized, req{method: "GET", path: "/v1/events", key: f.keyB}, nil)
	f.must(t, http.StatusNotFound, req{method: "GET", path: "/v1/tenants/globex", key: f.admin}, nil)
	// Its events stay.
	f.must(t, http.StatusOK, req{method: "GET", path: "/v1/events/" + f.evB, key: f.admin}, nil)
}
