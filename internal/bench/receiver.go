package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// rawPrefix starts the webhook-id of the raw phase's requests, which the
// receiver verifies and answers like any other but does not record as
// deliveries, and never fails or holds.
const rawPrefix = "raw_"

// maxBody bounds what the receiver reads of one request.
const maxBody = 2 << 20

// receiver is the webhook consumer of a run: an HTTP server on 127.0.0.1
// where endpoint number g is the path /e/g. It verifies every request with
// the webhook package and the endpoint's secret, and records when each
// (endpoint, webhook-id) was first answered 2xx and how often.
type receiver struct {
	url       string
	srv       *http.Server
	endpoints []*inbox
	failRate  float64
	slowDelay time.Duration

	requests  atomic.Int64 // every request
	badSigs   atomic.Int64 // requests that failed verification
	injected  atomic.Int64 // requests answered 500 because of the fail rate
	delivered atomic.Int64 // distinct deliveries answered 2xx
	raw       atomic.Int64 // raw-phase requests answered 2xx
	lastBad   atomic.Pointer[string]

	bodies sync.Pool // of *[]byte, a request's body
}

// inbox is what one endpoint received.
type inbox struct {
	verifier atomic.Pointer[webhook.Verifier] // set once the endpoint exists
	slow     bool

	mu  sync.Mutex
	got map[string]*arrival // by webhook-id
}

// arrival is one delivery as the receiver saw it: when its first request
// that was answered 2xx arrived, and how many requests were answered 2xx.
type arrival struct {
	first time.Time
	n     int
}

func startReceiver(cfg Config) (*receiver, error) {
	rc := &receiver{failRate: cfg.FailRate, slowDelay: cfg.SlowDelay}
	rc.bodies.New = func() any { return new([]byte) }
	for g := range cfg.totalEndpoints() {
		rc.endpoints = append(rc.endpoints, &inbox{slow: g < cfg.SlowEndpoints, got: map[string]*arrival{}})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	rc.srv = &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	rc.url = "http://" + ln.Addr().String()
	go func() { _ = rc.srv.Serve(ln) }() // returns ErrServerClosed when close shuts it down
	return rc, nil
}

// close stops the receiver, ending requests that are still held.
func (rc *receiver) close() { _ = rc.srv.Close() }

// trust makes endpoint g verify with secret.
func (rc *receiver) trust(g int, secret string) error {
	v, err := webhook.NewVerifier([]string{secret})
	if err != nil {
		return err
	}
	rc.endpoints[g].verifier.Store(v)
	return nil
}

// ServeHTTP answers POST /e/{g}. It routes by hand rather than with a
// ServeMux: the receiver has one route, and it runs for every delivery.
func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	seg, ok := strings.CutPrefix(r.URL.Path, "/e/")
	if !ok || seg == "" || strings.IndexByte(seg, '/') >= 0 {
		http.NotFound(w, r)
		return
	}
	if r.Method != "POST" {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rc.requests.Add(1)
	g, err := strconv.Atoi(seg)
	if err != nil || g < 0 || g >= len(rc.endpoints) || rc.endpoints[g].verifier.Load() == nil {
		http.Error(w, "unknown endpoint", http.StatusNotFound)
		return
	}
	in := rc.endpoints[g]
	buf := rc.bodies.Get().(*[]byte)
	defer rc.bodies.Put(buf)
	body, err := readBody(w, r, buf)
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if err := in.verifier.Load().Verify(r.Header, body); err != nil {
		rc.badSigs.Add(1)
		msg := fmt.Sprintf("endpoint %d: %v", g, err)
		rc.lastBad.Store(&msg)
		http.Error(w, "signature not verified", http.StatusUnauthorized)
		return
	}
	// No Date header: formatting it is a share of an answer's cost, and
	// nobody reads it.
	w.Header()["Date"] = nil
	id := r.Header.Get(webhook.HeaderID)
	if strings.HasPrefix(id, rawPrefix) {
		rc.raw.Add(1)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if in.slow && rc.slowDelay > 0 {
		if !hold(r.Context(), rc.slowDelay) {
			return // the client gave up, or the receiver is closing
		}
	}
	if rc.failRate > 0 && rand.Float64() < rc.failRate {
		rc.injected.Add(1)
		http.Error(w, "failure injected by --fail-rate", http.StatusInternalServerError)
		return
	}
	in.mu.Lock()
	a := in.got[id]
	if a == nil {
		a = &arrival{first: now}
		in.got[id] = a
		rc.delivered.Add(1)
	}
	a.n++
	in.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// readBody reads r's body, at most maxBody bytes, into *buf (grown as
// needed and kept there for the next request) and returns it. A body of
// known length is read at once, without the growing of io.ReadAll.
func readBody(w http.ResponseWriter, r *http.Request, buf *[]byte) ([]byte, error) {
	n := r.ContentLength
	if n < 0 || n > maxBody {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		return b, err
	}
	if int64(cap(*buf)) < n {
		*buf = make([]byte, n)
	}
	b := (*buf)[:n]
	_, err := io.ReadFull(r.Body, b)
	return b, err
}

// hold waits for d, or less if ctx ends first; it reports whether d passed.
func hold(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// arrival returns what endpoint g received of webhook-id id.
func (rc *receiver) arrival(g int, id string) (arrival, bool) {
	in := rc.endpoints[g]
	in.mu.Lock()
	defer in.mu.Unlock()
	a, ok := in.got[id]
	if !ok {
		return arrival{}, false
	}
	return *a, true
}

// badSignatureError describes the requests that failed verification, if
// any.
func (rc *receiver) badSignatureError() error {
	n := rc.badSigs.Load()
	if n == 0 {
		return nil
	}
	last := ""
	if p := rc.lastBad.Load(); p != nil {
		last = *p
	}
	return fmt.Errorf("%d requests failed signature verification (last: %s)", n, last)
}
