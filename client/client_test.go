package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/internal/apispec"
	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/seal"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/sqlite"
)

// herald starts the API on a real SQLite store and returns its URL, an
// admin key and a function that stops it. t may be nil (in examples):
// errors then panic, and the caller stops the server.
func herald(t testing.TB) (string, string, func()) {
	fail := func(err error) {
		if t == nil {
			panic(err)
		}
		t.Helper()
		t.Fatal(err)
	}
	ctx := context.Background()
	box, err := seal.New(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		fail(err)
	}
	dir := ""
	if t != nil {
		dir = t.TempDir()
	} else if dir, err = os.MkdirTemp("", "herald-example"); err != nil {
		fail(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "herald.db"), sqlite.Options{Secrets: box})
	if err != nil {
		fail(err)
	}
	if err := db.Migrate(ctx); err != nil {
		fail(err)
	}
	key, token := hook.NewAPIKey("", time.Now())
	if err := db.CreateAPIKey(ctx, key); err != nil {
		fail(err)
	}
	srv, err := server.New(server.Config{Store: db})
	if err != nil {
		fail(err)
	}
	hs := httptest.NewServer(srv)
	stop := func() {
		hs.Close()
		db.Close()
		if t == nil {
			os.RemoveAll(dir)
		}
	}
	if t != nil {
		t.Cleanup(stop)
	}
	return hs.URL, token, stop
}

// newClient returns a client of url whose every exchange is checked
// against the OpenAPI document.
func newClient(t testing.TB, url, key string, opts ...client.Option) *client.Client {
	t.Helper()
	chk, err := apispec.New(server.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &apispec.Transport{Checker: chk, T: t}}
	c, err := client.New(url, append([]client.Option{client.WithKey(key), client.WithHTTPClient(hc)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, admin, _ := herald(t)
	c := newClient(t, url, admin)

	if _, err := c.CreateTenant(ctx, client.TenantInput{ID: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	k, err := c.CreateAPIKey(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	tc := newClient(t, url, k.Key)
	ep, err := tc.CreateEndpoint(ctx, client.EndpointInput{URL: "https://example.com/hook", Events: []string{"payout.*"}})
	if err != nil {
		t.Fatal(err)
	}
	if ep.Secret == "" || ep.TenantID != "acme" {
		t.Fatalf("endpoint = %+v, want a secret and tenant acme", ep)
	}
	desc := "payouts"
	got, err := tc.UpdateEndpoint(ctx, ep.ID, client.EndpointPatch{Description: &desc, Reset: []string{"timeout"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Description != desc || got.Timeout != "15s" {
		t.Errorf("patched = %q %q, want %q 15s", got.Description, got.Timeout, desc)
	}

	in := client.EventInput{ID: "evt_1", Type: "payout.paid", Data: json.RawMessage(`{"n":1}`)}
	sent, err := tc.SendEvent(ctx, in)
	if err != nil || sent.Duplicate {
		t.Fatalf("SendEvent = %+v, %v; want a new event", sent, err)
	}
	if sent, err = tc.SendEvent(ctx, in); err != nil || !sent.Duplicate {
		t.Fatalf("SendEvent again = %+v, %v; want a duplicate", sent, err)
	}
	ds, err := tc.ReplayEvent(ctx, "evt_1")
	if err != nil || len(ds) != 1 {
		t.Fatalf("ReplayEvent = %v, %v; want one delivery", ds, err)
	}
	if _, err := tc.GetDelivery(ctx, ds[0].ID); err != nil {
		t.Fatal(err)
	}

	var p *client.Problem
	res, err := c.SendEvents(ctx, []client.EventInput{
		{ID: "evt_b1", TenantID: "acme", Type: "payout.paid", Data: json.RawMessage(`{}`)},
		{TenantID: "acme", Type: "not a type", Data: json.RawMessage(`{}`)},
		{ID: "evt_1", TenantID: "acme", Type: "payout.paid", Data: json.RawMessage(`{"n":1}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || res[0].Status != 202 || res[0].Event == nil || res[1].Status != 400 || res[1].Error == nil || res[2].Status != 200 {
		t.Errorf("SendEvents = %+v, want 202, 400 and 200 (a repeat)", res)
	}
	link, err := c.CreatePortalLink(ctx, "acme", client.PortalLinkInput{ExpiresIn: "10m", ReadOnly: true})
	if err != nil || link.URL == "" || link.ExpiresAt.IsZero() {
		t.Errorf("CreatePortalLink = %+v, %v", link, err)
	}

	// An id is one path segment however it is spelled.
	if _, err := c.GetTenant(ctx, "a/b?c"); !errors.As(err, &p) || p.Status != 404 || !strings.Contains(p.Detail, `"a/b?c"`) {
		t.Errorf("GetTenant(a/b?c) = %v, want a 404 naming the id", err)
	}
	doc, err := c.OpenAPI(ctx)
	if err != nil || !json.Valid(doc) || !bytes.Contains(doc, []byte(`"openapi"`)) {
		t.Errorf("OpenAPI = %.60s…, %v", doc, err)
	}

	// A tenant key may not list tenants: a 403 problem.
	_, err = tc.ListTenants(ctx, client.ListParams{})
	if !errors.As(err, &p) || p.Status != 403 || p.Type != client.ProblemForbidden {
		t.Fatalf("ListTenants with a tenant key: %v, want a 403 problem", err)
	}
	_, err = tc.CreateEndpoint(ctx, client.EndpointInput{URL: "ftp://x", Events: []string{"a"}})
	if !errors.As(err, &p) || p.Type != client.ProblemValidation || len(p.Errors) == 0 {
		t.Fatalf("CreateEndpoint with a bad url: %v, want field errors", err)
	}
}

func TestAllPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, admin, _ := herald(t)
	c := newClient(t, url, admin)
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		if _, err := c.CreateTenant(ctx, client.TenantInput{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	pages := 0
	for pg, err := range client.Pages(ctx, func(ctx context.Context, cursor string) (client.Page[client.Tenant], error) {
		return c.ListTenants(ctx, client.ListParams{Limit: 2, Cursor: cursor})
	}) {
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, tn := range pg.Data {
			ids = append(ids, tn.ID)
		}
	}
	// Five tenants and the operational one, two a page.
	if len(ids) != 6 || pages != 3 {
		t.Errorf("got %d tenants in %d pages (%v), want 6 in 3", len(ids), pages, ids)
	}
	n := 0
	for _, err := range client.All(ctx, func(ctx context.Context, cursor string) (client.Page[client.Tenant], error) {
		return c.ListTenants(ctx, client.ListParams{Limit: 4, Cursor: cursor})
	}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 6 {
		t.Errorf("All yielded %d tenants, want 6", n)
	}
}

// flaky answers the first n requests with status and Retry-After, then 200.
func flaky(t *testing.T, n int32, status int, retryAfter string) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= n {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"type":"https://herald.dev/problems/unavailable","title":"x","status":503,"detail":"later"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"evt_1","type":"a","tenantId":"t","createdAt":"2026-05-08T10:15:00Z","data":{}}`))
	}))
	t.Cleanup(hs.Close)
	return hs, &calls
}

func TestRetry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fast := client.WithRetry(client.Retry{Max: 2, Wait: time.Millisecond, MaxWait: 2 * time.Second})
	tests := []struct {
		name       string
		failures   int32
		status     int
		retryAfter string
		call       func(*client.Client) error
		wantCalls  int32
		wantErr    bool
	}{
		{"get retried after 503", 2, 503, "0", func(c *client.Client) error { _, err := c.GetEvent(ctx, "evt_1"); return err }, 3, false},
		{"get gives up after Max", 5, 503, "", func(c *client.Client) error { _, err := c.GetEvent(ctx, "evt_1"); return err }, 3, true},
		{"event with id retried after 429", 1, 429, "1", func(c *client.Client) error {
			_, err := c.SendEvent(ctx, client.EventInput{ID: "evt_1", Type: "a", Data: json.RawMessage(`{}`)})
			return err
		}, 2, false},
		{"event without id not retried", 1, 429, "0", func(c *client.Client) error {
			_, err := c.SendEvent(ctx, client.EventInput{Type: "a", Data: json.RawMessage(`{}`)})
			return err
		}, 1, true},
		{"Retry-After beyond MaxWait not waited", 1, 503, "3600", func(c *client.Client) error { _, err := c.GetEvent(ctx, "evt_1"); return err }, 1, true},
		{"500 not retried", 1, 500, "", func(c *client.Client) error { _, err := c.GetEvent(ctx, "evt_1"); return err }, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs, calls := flaky(t, tt.failures, tt.status, tt.retryAfter)
			c, err := client.New(hs.URL, fast)
			if err != nil {
				t.Fatal(err)
			}
			err = tt.call(c)
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error: %v", err, tt.wantErr)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("server got %d requests, want %d", got, tt.wantCalls)
			}
			var p *client.Problem
			if tt.wantErr && (!errors.As(err, &p) || p.Status != tt.status) {
				t.Errorf("err = %v, want a %d problem", err, tt.status)
			}
		})
	}
}

func TestRetryStopsWithContext(t *testing.T) {
	t.Parallel()
	hs, calls := flaky(t, 100, 503, "1")
	c, err := client.New(hs.URL, client.WithRetry(client.Retry{Max: 5, MaxWait: time.Minute}))
	if err != nil {
		t.Fatal(err)
	}
	// The server asks for a second; the context ends before that, while
	// the client waits to retry.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = c.GetEvent(ctx, "evt_1")
	if !errors.Is(err, context.DeadlineExceeded) || calls.Load() != 1 {
		t.Fatalf("err = %v after %d requests, want context.DeadlineExceeded after 1", err, calls.Load())
	}
	var p *client.Problem
	if !errors.As(err, &p) || p.Status != 503 {
		t.Errorf("err = %v, want the last answer (503) wrapped too", err)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(http.NotFoundHandler())
	url := hs.URL
	hs.Close()
	c, err := client.New(url)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetEvent(context.Background(), "evt_1")
	var ue *client.UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want an *UnreachableError", err)
	}
}

func TestEndpointPatchJSON(t *testing.T) {
	t.Parallel()
	u := "https://example.com"
	b, err := json.Marshal(client.EndpointPatch{URL: &u, Headers: map[string]*string{"X-A": nil}, Reset: []string{"rateLimit"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"headers":{"X-A":null},"rateLimit":null,"url":"https://example.com"}`
	if string(b) != want {
		t.Errorf("patch = %s, want %s", b, want)
	}
}
