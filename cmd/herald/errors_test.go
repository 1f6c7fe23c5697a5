package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServeErrors checks each error status of the API through `herald
// serve` itself: the answer's status, and that it is problem+json with that
// status. internal/server's tests cover every field and case in detail.
func TestServeErrors(t *testing.T) {
	t.Parallel()
	srv := startServe(t, t.TempDir(), "--max-payload", "1KiB", "--role", "api") // no delivery to beta.example.com
	admin := srv.adminKey
	if code := call(t, "POST", srv.url+"/v1/tenants", admin, map[string]any{"id": "acme"}, nil); code != 201 {
		t.Fatalf("create tenant: %d", code)
	}
	if code := call(t, "POST", srv.url+"/v1/tenants", admin, map[string]any{"id": "beta"}, nil); code != 201 {
		t.Fatalf("create tenant: %d", code)
	}
	var key struct{ Key string }
	if code := call(t, "POST", srv.url+"/v1/tenants/acme/api-keys", admin, nil, &key); code != 201 {
		t.Fatalf("create key: %d", code)
	}
	var beta struct{ ID string }
	if code := call(t, "POST", srv.url+"/v1/webhook-endpoints", admin, map[string]any{
		"tenantId": "beta", "url": "https://beta.example.com/hooks", "events": []string{"*"},
	}, &beta); code != 201 {
		t.Fatalf("create endpoint: %d", code)
	}
	event := `{"id":"evt_1","type":"order.paid","tenantId":"acme","data":{"n":1}}`
	if code := rawCall(t, srv.url, "POST", "/v1/events", admin, "application/json", event, true); code != 202 {
		t.Fatalf("post event: %d", code)
	}
	big := `{"type":"order.paid","tenantId":"acme","data":{"pad":"` + strings.Repeat("x", 2048) + `"}}`
	tests := []struct {
		name, method, path, key, ctype, body string
		chunked                              bool
		want                                 int
	}{
		{"malformed JSON", "POST", "/v1/tenants", admin, "application/json", `{"id":`, false, 400},
		{"invalid field", "POST", "/v1/webhook-endpoints", admin, "application/json", `{"tenantId":"acme","url":"ftp://x","events":[]}`, false, 400},
		{"admin without tenantId", "POST", "/v1/webhook-endpoints", admin, "application/json", `{"url":"https://x.example","events":[]}`, false, 400},
		{"data not an object", "POST", "/v1/events", key.Key, "application/json", `{"type":"x","data":[1]}`, false, 400},
		{"herald type", "POST", "/v1/events", key.Key, "application/json", `{"type":"herald.ping","data":{}}`, false, 400},
		{"no key", "GET", "/v1/tenants", "", "", "", false, 401},
		{"wrong key", "GET", "/v1/tenants", "hka_not-a-key-at-all", "", "", false, 401},
		{"tenant key on admin route", "GET", "/v1/tenants", key.Key, "", "", false, 403},
		{"tenant key names another tenant", "POST", "/v1/webhook-endpoints", key.Key, "application/json", `{"tenantId":"beta","url":"https://x.example","events":[]}`, false, 403},
		{"another tenant's endpoint", "GET", "/v1/webhook-endpoints/" + beta.ID, key.Key, "", "", false, 404},
		{"unknown route", "GET", "/v1/nothing", admin, "", "", false, 404},
		{"wrong method", "PUT", "/v1/tenants", admin, "application/json", `{}`, false, 405},
		{"taken tenant id", "POST", "/v1/tenants", admin, "application/json", `{"id":"acme"}`, false, 409},
		{"event id with other content", "POST", "/v1/events", admin, "application/json", `{"id":"evt_1","type":"order.paid","tenantId":"acme","data":{"n":2}}`, false, 409},
		{"too large", "POST", "/v1/events", admin, "application/json", big, false, 413},
		{"too large, chunked", "POST", "/v1/events", admin, "application/json", big, true, 413},
		{"not JSON", "POST", "/v1/tenants", admin, "text/plain", `{"id":"x"}`, false, 415},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if code := rawCall(t, srv.url, tt.method, tt.path, tt.key, tt.ctype, tt.body, tt.chunked); code != tt.want {
				t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, code, tt.want)
			}
		})
	}
	// The repeat of an event with the same content is not an error.
	if code := rawCall(t, srv.url, "POST", "/v1/events", admin, "application/json", event, false); code != 200 {
		t.Errorf("repeated event: status %d, want 200", code)
	}
}

// rawCall sends body as given and checks that an error answer is
// problem+json naming the same status; it returns the status.
func rawCall(t *testing.T, base, method, path, key, ctype, body string, chunked bool) int {
	t.Helper()
	var rd io.Reader = strings.NewReader(body)
	if chunked {
		rd = io.MultiReader(rd) // hides the length: sent chunked
	}
	if body == "" {
		rd = nil
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if chunked && req.ContentLength != -1 && req.ContentLength != 0 {
		t.Errorf("request was not chunked")
	}
	if resp.StatusCode >= 400 {
		var p struct{ Status int }
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("%s %s: Content-Type %q, want application/problem+json", method, path, ct)
		} else if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&p); err != nil || p.Status != resp.StatusCode {
			t.Errorf("%s %s: problem %s does not name status %d", method, path, raw, resp.StatusCode)
		}
	}
	return resp.StatusCode
}
