package dispatch_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/dispatch"
	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/sender"
	"github.com/heraldhq/herald/internal/sqlite"
	"github.com/heraldhq/herald/internal/sqlitetest"
	"github.com/heraldhq/herald/webhook"
)

// waitFor bounds every wait of these tests.
const waitFor = 20 * time.Second

// loopback opens 127.0.0.1 and ::1, which tests opt in to.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}

// env is a running dispatcher on a SQLite file, with one tenant.
type env struct {
	t      *testing.T
	store  *sqlite.DB
	d      *dispatch.Dispatcher
	tenant string
	stop   func() error // cancels Run and returns its result
}

type envOption func(*dispatch.Config, *sender.Config)

// newEnv starts a dispatcher with test timings: a 10 ms poll, a one-second
// lease margin, three retries 10 ms apart, and a circuit breaker that does
// not open unless a test asks.
func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	db := sqlitetest.Open(t)
	scfg := sender.Config{Allow: loopback}
	cfg := dispatch.Config{
		Store:         db,
		PollInterval:  10 * time.Millisecond,
		LeaseMargin:   time.Second,
		ShutdownGrace: time.Second,
		RetrySchedule: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond},
		Breaker:       dispatch.BreakerConfig{MinAttempts: 1 << 30},
		UserAgent:     "Herald/test",
	}
	for _, o := range opts {
		o(&cfg, &scfg)
	}
	client, err := sender.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.CloseIdleConnections)
	cfg.Sender = client
	d, err := dispatch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: db, d: d, tenant: "acme"}
	if err := db.CreateTenant(ctx, hook.Tenant{ID: e.tenant, Name: "Acme", CreatedAt: hook.Timestamp(time.Now())}); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(rctx) }()
	var once sync.Once
	var runErr error
	e.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(waitFor):
				t.Error("Run did not return after its context ended")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := e.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return e
}

// endpoint registers an endpoint for every event type at url.
func (e *env) endpoint(url string, mod ...func(*hook.Endpoint)) hook.Endpoint {
	e.t.Helper()
	now := hook.Timestamp(time.Now())
	ep := hook.Endpoint{
		ID:              hook.NewID(hook.PrefixEndpoint),
		TenantID:        e.tenant,
		URL:             url,
		Events:          []string{"*"},
		Secrets:         []hook.Secret{{Key: webhook.NewSecret()}},
		SignatureScheme: hook.SchemeStandard,
		MaxInFlight:     hook.DefaultMaxInFlight,
		Timeout:         2 * time.Second,
		Status:          hook.EndpointActive,
		CreatedAt:       now,
		UpdatedAt:       now,
	}
	for _, m := range mod {
		m(&ep)
	}
	if err := e.store.CreateEndpoint(context.Background(), ep); err != nil {
		e.t.Fatal(err)
	}
	return ep
}

// send ingests an event and wakes the dispatcher, as the server does.
func (e *env) send(typ string) hook.IngestResult {
	e.t.Helper()
	ev := hook.Event{
		ID:        hook.NewID(hook.PrefixEvent),
		TenantID:  e.tenant,
		Type:      typ,
		Data:      json.RawMessage(`{"amount": 1200, "currency":"EUR"}`),
		CreatedAt: hook.Timestamp(time.Now()),
	}
	r, err := e.store.Ingest(context.Background(), ev)
	if err != nil {
		e.t.Fatal(err)
	}
	e.d.Notify(r)
	return r
}

// sendOne sends an event that must match exactly one endpoint, and returns
// its delivery.
func (e *env) sendOne(typ string) hook.Delivery {
	e.t.Helper()
	r := e.send(typ)
	if len(r.Deliveries) != 1 {
		e.t.Fatalf("event made %d deliveries, want 1", len(r.Deliveries))
	}
	return r.Deliveries[0]
}

// wait polls the delivery until done says so, for at most waitFor.
func (e *env) wait(id string, what string, done func(hook.Delivery) bool) hook.Delivery {
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
			e.t.Fatalf("delivery %s: gave up waiting for %s; it is %s after %d attempts", id, what, d.Status, d.AttemptCount)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitStatus waits until the delivery has the status s.
func (e *env) waitStatus(id string, s hook.DeliveryStatus) hook.Delivery {
	e.t.Helper()
	return e.wait(id, string(s), func(d hook.Delivery) bool { return d.Status == s })
}

// attempts returns a delivery's attempt log.
func (e *env) attempts(id string) []hook.Attempt {
	e.t.Helper()
	var all []hook.Attempt
	f := hook.AttemptFilter{DeliveryID: id}
	for {
		p, err := e.store.ListAttempts(context.Background(), f)
		if err != nil {
			e.t.Fatal(err)
		}
		all = append(all, p.Items...)
		if p.Next == "" {
			return all
		}
		f.Cursor = p.Next
	}
}

func (e *env) getEndpoint(id string) hook.Endpoint {
	e.t.Helper()
	ep, err := e.store.Endpoint(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return ep
}

// receiver is a local endpoint that verifies every request it gets with the
// webhook package and answers with its handler.
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	secret   string
	got      []received
	handler  http.HandlerFunc
	arrivals chan received
}

type received struct {
	header http.Header
	body   []byte
	at     time.Time
	err    error // the signature check
}

func newReceiver(t *testing.T, h http.HandlerFunc) *receiver {
	t.Helper()
	r := &receiver{t: t, handler: h, arrivals: make(chan received, 100000)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	secret, h := r.secret, r.handler
	r.mu.Unlock()
	rec := received{header: req.Header.Clone(), body: body, at: time.Now()}
	if secret != "" {
		rec.err = webhook.Verify(req.Header, body, []string{secret})
	}
	r.mu.Lock()
	r.got = append(r.got, rec)
	r.mu.Unlock()
	r.arrivals <- rec
	if h == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	h(w, req)
}

// verifyWith makes the receiver check signatures with the endpoint's key.
func (r *receiver) verifyWith(ep hook.Endpoint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret = ep.Secret()
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *receiver) url() string { return r.srv.URL + "/hooks" }
