// Package server is Herald's HTTP transport: the JSON API through which a
// platform manages tenants, keys and endpoints and hands Herald its events.
// Every route is listed in routes.go; every error answer is an RFC 9457
// problem (problem.go).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// DefaultMaxPayload is the largest event body accepted when
// Config.MaxPayload is zero.
const DefaultMaxPayload = 256 << 10

// Config is what a Server needs. Store is required; the rest have defaults.
type Config struct {
	Store  hook.Store
	Logger *slog.Logger // nil discards logs
	// MaxPayload is the largest request body, in bytes, of an event (and of
	// an event type, whose JSON Schema may be as large). Other bodies are
	// capped at 64 KiB. Zero means DefaultMaxPayload.
	MaxPayload int64
	// PublicURL is how clients reach this server, such as
	// "https://herald.example.com"; it prefixes the Location of created
	// objects. Empty makes those locations relative.
	PublicURL string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Ingested, when not nil, is called with the result of every ingest that
	// stored a new event, after its commit and before the answer, so that a
	// dispatcher can attempt the new deliveries at once. It must not block.
	Ingested func(hook.IngestResult)
	// Ready, when not nil, is asked by /readyz besides the store: a non-nil
	// error (such as a stuck dispatcher) makes the server not ready.
	Ready func() error
	// Metrics, when not nil, is served at GET /metrics without a key.
	Metrics http.Handler
	// HealthOnly serves /healthz, /readyz and /metrics alone, for a process
	// that delivers but does not serve the API.
	HealthOnly bool
	// TestSender sends the ping of POST /v1/webhook-endpoints/{id}/test;
	// nil answers that route with 503.
	TestSender TestSender
	// TenantRateLimit is the events per second POST /v1/events accepts from
	// one tenant, with a burst of one second's worth; above it the answer is
	// 429 with Retry-After. It is kept in this process: each node of a
	// cluster allows the rate. Zero means no limit.
	TenantRateLimit float64
	// Announce, when not nil, announces the endpoint changes made through
	// the API as operational events (see opevent.go). It must not fail:
	// the change is made when it is called.
	Announce func(ctx context.Context, op hook.Operation)
	// ConsoleKey is secret key material from which the web console derives
	// the keys that sign its sessions and portal links (see console.go);
	// nil means a random key for this process.
	ConsoleKey []byte
	// FrameAncestors are the origins that may frame the console's pages;
	// none means framing is refused.
	FrameAncestors []string
	// Circuit, when not nil, tells the console an endpoint's circuit state
	// in this process's dispatcher (dispatch.Dispatcher.Circuit).
	Circuit func(endpointID string) string
}

// Server serves the HTTP API. It is an http.Handler; the caller runs it in
// an http.Server with timeouts.
type Server struct {
	store      hook.Store
	log        *slog.Logger
	maxPayload int64
	publicURL  string
	nowFunc    func() time.Time
	ingested   func(hook.IngestResult)
	ready      func() error
	metrics    http.Handler
	healthOnly bool
	testSender TestSender
	limiter    *tenantLimiter // nil: no per-tenant ingest limit
	announcer  func(context.Context, hook.Operation)
	mux        *http.ServeMux
	console    webConsole // the web console of /ui/; see console.go
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: Config.Store is required")
	}
	if cfg.TenantRateLimit < 0 || math.IsNaN(cfg.TenantRateLimit) || math.IsInf(cfg.TenantRateLimit, 0) {
		return nil, fmt.Errorf("server: Config.TenantRateLimit is %v, want a finite rate, or 0 for none", cfg.TenantRateLimit)
	}
	if cfg.MaxPayload < 0 {
		return nil, fmt.Errorf("server: Config.MaxPayload is %d, want a positive size", cfg.MaxPayload)
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("server: Config.PublicURL %q is not an absolute http or https URL", cfg.PublicURL)
		}
	}
	s := &Server{
		store:      cfg.Store,
		log:        cfg.Logger,
		maxPayload: cfg.MaxPayload,
		publicURL:  strings.TrimSuffix(cfg.PublicURL, "/"),
		nowFunc:    cfg.Now,
		ingested:   cfg.Ingested,
		ready:      cfg.Ready,
		metrics:    cfg.Metrics,
		healthOnly: cfg.HealthOnly,
		testSender: cfg.TestSender,
		limiter:    newTenantLimiter(cfg.TenantRateLimit),
		announcer:  cfg.Announce,
		mux:        http.NewServeMux(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxPayload == 0 {
		s.maxPayload = DefaultMaxPayload
	}
	if s.nowFunc == nil {
		s.nowFunc = time.Now
	}
	con, err := newConsole(cfg)
	if err != nil {
		return nil, err
	}
	s.console = con
	s.routes()
	return s, nil
}

// now is the current time as stores keep it.
func (s *Server) now() time.Time { return hook.Timestamp(s.nowFunc()) }

// ServeHTTP serves one request. Requests that match no route, or match one
// only by path, are answered with 404 and 405 problems instead of
// ServeMux's plain-text pages; a panic in a handler becomes a 500 problem.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.writeProblem(w, r, fmt.Errorf("panic: %v", v))
		}
	}()
	if _, pattern := s.mux.Handler(r); pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	// ServeMux's own answer: 404, or 405 with the Allow header. Let it
	// write into a recorder to learn which, then answer as a problem.
	var rec recorder
	h, _ := s.mux.Handler(r)
	h.ServeHTTP(&rec, r)
	if rec.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", rec.header.Get("Allow"))
		sendProblem(w, newProblem(http.StatusMethodNotAllowed, typeMethodNotAllowed,
			fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, rec.header.Get("Allow"))))
		return
	}
	sendProblem(w, newProblem(http.StatusNotFound, typeNotFound, fmt.Sprintf("no route matches %s", r.URL.Path)))
}

// recorder is a ResponseWriter that keeps the status and headers and drops
// the body.
type recorder struct {
	header http.Header
	status int
}

func (r *recorder) Header() http.Header {
	if r.header == nil {
		r.header = http.Header{}
	}
	return r.header
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return len(b), nil
}
