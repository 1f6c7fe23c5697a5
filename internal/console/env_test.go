package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/dispatch"
	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/sender"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/sqlitetest"
	"github.com/heraldhq/herald/webhook"
)

// waitFor bounds every wait of these tests.
const waitFor = 20 * time.Second

// env is a Herald server (API and console) on a real SQLite file, with a
// real dispatcher delivering to a receiver on 127.0.0.1, and two tenants,
// acme and globex, each with one endpoint at the receiver.
type env struct {
	t        *testing.T
	url      string
	admin    string
	store    hook.Store
	d        *dispatch.Dispatcher
	offset   atomic.Int64 // added to the wall clock of the server
	fail     atomic.Bool  // the receiver answers 500 while set
	received atomic.Int64
	acme     hook.Endpoint
	globex   hook.Endpoint
}

type envOption func(*server.Config)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	return newEnvBreaker(t, dispatch.BreakerConfig{MinAttempts: 1 << 30}, opts...)
}

// newEnvBreaker is newEnv with the dispatcher's circuit breakers tuned by
// breaker; newEnv's never open.
func newEnvBreaker(t *testing.T, breaker dispatch.BreakerConfig, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t}
	db := sqlitetest.Open(t)
	e.store = db
	key, token := hook.NewAPIKey("", time.Now())
	if err := db.CreateAPIKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	e.admin = token

	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.received.Add(1)
		if e.fail.Load() {
			w.Header().Set("X-Receiver", "down")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"error":"receiver is down for maintenance"}`)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(recv.Close)

	client, err := sender.New(sender.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.CloseIdleConnections)
	e.d, err = dispatch.New(dispatch.Config{
		Store: db, Sender: client, PollInterval: 10 * time.Millisecond, LeaseMargin: time.Second,
		ShutdownGrace: time.Second, Breaker: breaker, UserAgent: "Herald/test",
	})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.d.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dispatcher: %v", err)
			}
		case <-time.After(waitFor):
			t.Error("dispatcher did not stop")
		}
	})

	var h http.Handler
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(hs.Close)
	e.url = hs.URL
	cfg := server.Config{
		Store: db, PublicURL: hs.URL, Now: e.now, TestSender: e.d, Ingested: e.d.Notify, Circuit: e.d.Circuit,
		ConsoleKey: bytes.Repeat([]byte{6}, 32),
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h = srv

	for _, tn := range []hook.Tenant{{ID: "acme", Name: "Acme Payouts"}, {ID: "globex", Name: "Globex Shop"}} {
		tn.CreatedAt = hook.Timestamp(time.Now())
		if err := db.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	e.acme = e.endpoint("acme", recv.URL+"/acme-hooks")
	e.globex = e.endpoint("globex", recv.URL+"/globex-hooks")
	return e
}

func (e *env) now() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) }

// endpoint registers an endpoint of tenant at url with no retries, so
// that one failed attempt makes a failed delivery.
func (e *env) endpoint(tenant, url string) hook.Endpoint {
	e.t.Helper()
	now := hook.Timestamp(time.Now())
	ep := hook.Endpoint{
		ID: hook.NewID(hook.PrefixEndpoint), TenantID: tenant, URL: url, Description: tenant + " payouts hook",
		Events: []string{"*"}, Secrets: []hook.Secret{{Key: webhook.NewSecret()}}, SignatureScheme: hook.SchemeStandard,
		Headers:     map[string]string{"X-Api-Token": "custom-header-value-" + tenant},
		MaxInFlight: hook.DefaultMaxInFlight, Timeout: 2 * time.Second, RetrySchedule: []time.Duration{},
		Status: hook.EndpointActive, CreatedAt: now, UpdatedAt: now,
	}
	if err := e.store.CreateEndpoint(context.Background(), ep); err != nil {
		e.t.Fatal(err)
	}
	return ep
}

// send ingests an event of tenant and returns its one delivery.
func (e *env) send(tenant, typ string) hook.Delivery {
	e.t.Helper()
	ev := hook.Event{
		ID: hook.NewID(hook.PrefixEvent), TenantID: tenant, Type: typ,
		Data:      json.RawMessage(`{"payoutId":"po_` + tenant + `_44","amountPaise":250000}`),
		CreatedAt: hook.Timestamp(time.Now()),
	}
	r, err := e.store.Ingest(context.Background(), ev)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(r.Deliveries) != 1 {
		e.t.Fatalf("event made %d deliveries, want 1", len(r.Deliveries))
	}
	e.d.Notify(r)
	return r.Deliveries[0]
}

// failed sends an event of tenant while the receiver fails, and waits for
// its delivery to fail.
func (e *env) failed(tenant, typ string) hook.Delivery {
	e.t.Helper()
	e.fail.Store(true)
	defer e.fail.Store(false)
	d := e.send(tenant, typ)
	return e.waitDelivery(d.ID, func(d hook.Delivery) bool { return d.Status == hook.DeliveryFailed })
}

func (e *env) waitDelivery(id string, done func(hook.Delivery) bool) hook.Delivery {
	e.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		d, err := e.store.Delivery(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if done(d) {
			return d
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("delivery %s: gave up waiting; it is %s after %d attempts", id, d.Status, d.AttemptCount)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// portalLink asks the API for a portal link of tenant.
func (e *env) portalLink(tenant, body string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.url+"/v1/tenants/"+tenant+"/portal-links", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.admin)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// browser is an HTTP client with a cookie jar, as a browser keeps cookies.
type browser struct {
	t    *testing.T
	e    *env
	c    *http.Client
	csrf string // the CSRF token of the last page that had a form
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, e: e, c: &http.Client{Jar: jar, Timeout: waitFor}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get fetches a page (following redirects) and returns its status and body.
func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	return b.do("GET", path, nil)
}

// post submits a form; the CSRF token of the last page is added unless
// the form sets "csrf" itself.
func (b *browser) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	return b.do("POST", path, form)
}

func (b *browser) do(method, path string, form url.Values) (int, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	u := path
	if !strings.HasPrefix(path, "http") {
		u = b.e.url + path
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindSubmatch(out); m != nil {
		b.csrf = string(m[1])
	}
	// Unescaped, so that a secret with "+" in it (&#43;) is found too.
	return resp.StatusCode, html.UnescapeString(string(out))
}

// signIn signs in with key and fails the test unless that worked.
func (b *browser) signIn(key string) {
	b.t.Helper()
	b.get("/ui/login")
	code, body := b.post("/ui/login", url.Values{"key": {key}})
	if code != http.StatusOK || !strings.Contains(body, "Overview") {
		b.t.Fatalf("sign in: %d\n%s", code, body)
	}
}

// open opens a portal link and fails the test unless it worked.
func (b *browser) open(link string) {
	b.t.Helper()
	code, body := b.get(link)
	if code != http.StatusOK || !strings.Contains(body, "Portal") {
		b.t.Fatalf("open portal link: %d\n%s", code, body)
	}
}
