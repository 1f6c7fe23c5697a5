package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// env is a Server on a real SQLite store in a temp dir, served over real
// HTTP on 127.0.0.1.
type env struct {
	url    string
	admin  string // the admin key
	store  hook.Store
	client *http.Client
	clock  *clock
	logs   *syncBuffer
}

// newEnv starts a Server. Options may change its Config.
func newEnv(t testing.TB, options ...func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	db := openStore(t)
	e := &env{store: db, clock: newClock(), logs: &syncBuffer{}}
	key, token := hook.NewAPIKey("", e.clock.Now())
	if err := db.CreateAPIKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	e.admin = token
	cfg := Config{
		Store:      db,
		Logger:     slog.New(slog.NewTextHandler(e.logs, nil)),
		MaxPayload: 4 << 10,
		Now:        e.clock.Now,
	}
	for _, o := range options {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	e.url = hs.URL
	e.client = hs.Client()
	e.client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	e.client.Transport = specTransport(t, e.client.Transport)
	return e
}

// clock is a settable Config.Now. It starts at a fixed time and moves only
// when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 5, 8, 10, 15, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// req is one API request. Body is sent as is when it is a string, else as
// JSON; ContentType defaults to application/json when there is a body.
type req struct {
	method, path, key string
	body              any
	header            map[string]string
	chunked           bool // hide the length, so the body is sent chunked
}

// resp is an API answer.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(t testing.TB, r req) resp {
	t.Helper()
	res, err := e.send(r)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// send is do for goroutines other than the test's, which may not call
// t.Fatal.
func (e *env) send(r req) (resp, error) {
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return resp{}, err
		}
		body = bytes.NewReader(j)
	}
	if body != nil && r.chunked {
		body = io.MultiReader(body) // no Len method: the length is unknown
	}
	hr, err := http.NewRequest(r.method, e.url+r.path, body)
	if err != nil {
		return resp{}, err
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.key != "" {
		hr.Header.Set("Authorization", "Bearer "+r.key)
	}
	for k, v := range r.header {
		if v == "" {
			hr.Header.Del(k)
			continue
		}
		hr.Header.Set(k, v)
	}
	res, err := e.client.Do(hr)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, err
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}, nil
}

// must sends r and fails the test unless the answer has status want; it
// decodes the answer into out when out is not nil.
func (e *env) must(t testing.TB, want int, r req, out any) resp {
	t.Helper()
	res := e.do(t, r)
	if res.status != want {
		t.Fatalf("%s %s = %d %s, want %d", r.method, r.path, res.status, res.body, want)
	}
	if out != nil {
		if err := json.Unmarshal(res.body, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", r.method, r.path, res.body, err)
		}
	}
	return res
}

// problem decodes the answer as a problem, checking its media type.
func (r resp) problem(t testing.TB) problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != problemContentType {
		t.Fatalf("Content-Type = %q, want %q (body %s)", ct, problemContentType, r.body)
	}
	var p problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("decode problem %s: %v", r.body, err)
	}
	if p.Status != r.status {
		t.Errorf("problem status = %d, want the HTTP status %d", p.Status, r.status)
	}
	return p
}

// Answers as tests decode them.
type (
	tenantJ struct {
		ID        string            `json:"id"`
		Name      string            `json:"name"`
		Metadata  map[string]string `json:"metadata"`
		CreatedAt time.Time         `json:"createdAt"`
	}
	keyJ struct {
		ID         string     `json:"id"`
		TenantID   string     `json:"tenantId"`
		Key        string     `json:"key"`
		Prefix     string     `json:"prefix"`
		CreatedAt  time.Time  `json:"createdAt"`
		LastUsedAt *time.Time `json:"lastUsedAt"`
	}
	endpointJ = map[string]any
	eventJ    struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		TenantID  string          `json:"tenantId"`
		CreatedAt time.Time       `json:"createdAt"`
		Data      json.RawMessage `json:"data"`
	}
	deliveryJ struct {
		ID            string     `json:"id"`
		EventID       string     `json:"eventId"`
		EndpointID    string     `json:"endpointId"`
		Status        string     `json:"status"`
		AttemptCount  int        `json:"attemptCount"`
		NextAttemptAt *time.Time `json:"nextAttemptAt"`
		CreatedAt     time.Time  `json:"createdAt"`
	}
	listJ[T any] struct {
		Data       []T     `json:"data"`
		NextCursor *string `json:"nextCursor"`
	}
)

// tenant creates a tenant with id and a key for it, and returns the key.
func (e *env) tenant(t testing.TB, id string) string {
	t.Helper()
	e.must(t, http.StatusCreated, req{method: "POST", path: "/v1/tenants", key: e.admin, body: map[string]any{"id": id}}, nil)
	var k keyJ
	e.must(t, http.StatusCreated, req{method: "POST", path: "/v1/tenants/" + id + "/api-keys", key: e.admin}, &k)
	return k.Key
}

// endpoint creates an endpoint with key and returns its id.
func (e *env) endpoint(t testing.TB, key string, body map[string]any) string {
	t.Helper()
	var ep endpointJ
	e.must(t, http.StatusCreated, req{method: "POST", path: "/v1/webhook-endpoints", key: key, body: body}, &ep)
	return ep["id"].(string)
}

// event posts an event with key and returns it.
func (e *env) event(t testing.TB, key string, body map[string]any) eventJ {
	t.Helper()
	var ev eventJ
	e.must(t, http.StatusAccepted, req{method: "POST", path: "/v1/events", key: key, body: body}, &ev)
	return ev
}
