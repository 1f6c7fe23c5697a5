package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// clock is a settable clock shared by a test's sender and receiver.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is a receiver in front of a handler, and a sender that signs
// deliveries to it at the receiver's time, as a retrying sender does.
type fixture struct {
	t      *testing.T
	clock  *clock
	signer *webhook.Signer
	rc     *webhook.Receiver
}

func newFixture(t *testing.T, store webhook.Store) *fixture {
	t.Helper()
	secret := webhook.NewSecret()
	c := &clock{now: t0}
	v, err := webhook.NewVerifier([]string{secret}, webhook.WithClock(c.Now))
	if err != nil {
		t.Fatal(err)
	}
	s, err := webhook.NewSigner(webhook.SchemeStandard, secret)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, clock: c, signer: s, rc: &webhook.Receiver{Verifier: v, Store: store}}
}

// request returns a delivery of event id, signed now.
func (f *fixture) request(id, body string) *http.Request {
	f.t.Helper()
	h, err := f.signer.Sign(id, f.clock.Now(), []byte(body))
	if err != nil {
		f.t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
	for k, v := range h {
		r.Header[k] = v
	}
	return r
}

// deliver sends event id through the receiver to next.
func (f *fixture) deliver(next http.Handler, id string) *httptest.ResponseRecorder {
	f.t.Helper()
	w := httptest.NewRecorder()
	f.rc.Middleware(next).ServeHTTP(w, f.request(id, `{"id":"`+id+`"}`))
	return w
}

func wantCode(t *testing.T, what string, w *httptest.ResponseRecorder, want int) {
	t.Helper()
	if w.Code != want {
		t.Fatalf("%s: status %d (%q), want %d", what, w.Code, w.Body.String(), want)
	}
}

// counter is a handler that counts its runs and answers each with the next
// of codes (then 200).
type counter struct {
	runs  atomic.Int32
	codes []int
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(c.runs.Add(1))
	if n <= len(c.codes) {
		w.WriteHeader(c.codes[n-1])
	}
}

func (c *counter) want(t *testing.T, n int) {
	t.Helper()
	if got := int(c.runs.Load()); got != n {
		t.Fatalf("handler ran %d times, want %d", got, n)
	}
}

func TestReceiverDedupe(t *testing.T) {
	t.Parallel()
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			t.Run("processed once", func(t *testing.T) {
				t.Parallel()
				f := newFixture(t, st.open(t))
				var h counter
				wantCode(t, "first delivery", f.deliver(&h, "evt_1"), 200)
				f.clock.Advance(time.Minute)
				wantCode(t, "redelivery", f.deliver(&h, "evt_1"), 200)
				h.want(t, 1)
				wantCode(t, "another event", f.deliver(&h, "evt_2"), 200)
				h.want(t, 2)
			})
			t.Run("failing handler", func(t *testing.T) {
				t.Parallel()
				f := newFixture(t, st.open(t))
				h := counter{codes: []int{500, 302}}
				wantCode(t, "first delivery", f.deliver(&h, "evt_1"), 500)
				wantCode(t, "second delivery", f.deliver(&h, "evt_1"), 302)
				wantCode(t, "third delivery", f.deliver(&h, "evt_1"), 200)
				wantCode(t, "fourth delivery", f.deliver(&h, "evt_1"), 200)
				h.want(t, 3)
			})
			t.Run("panicking handler", func(t *testing.T) {
				t.Parallel()
				f := newFixture(t, st.open(t))
				func() {
					defer func() {
						if recover() == nil {
							t.Error("the handler's panic did not reach the caller")
						}
					}()
					f.deliver(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }), "evt_1")
				}()
				var h counter
				wantCode(t, "delivery after a panic", f.deliver(&h, "evt_1"), 200)
				h.want(t, 1)
			})
			t.Run("concurrent redeliveries", func(t *testing.T) {
				t.Parallel()
				testConcurrentRedeliveries(t, newFixture(t, st.open(t)))
			})
			t.Run("expired claim", func(t *testing.T) {
				t.Parallel()
				testExpiredClaim(t, newFixture(t, st.open(t)))
			})
			t.Run("retention", func(t *testing.T) {
				t.Parallel()
				f := newFixture(t, st.open(t))
				var h counter
				f.deliver(&h, "evt_1")
				f.clock.Advance(webhook.DefaultRetention - time.Second)
				f.deliver(&h, "evt_1")
				h.want(t, 1)
				f.clock.Advance(time.Second)
				f.deliver(&h, "evt_1")
				h.want(t, 2)
			})
		})
	}
}

// testConcurrentRedeliveries sends one event several times at once while
// the first to arrive is still being processed: it alone runs, and the
// others are answered 409, so that the sender retries them later.
func testConcurrentRedeliveries(t *testing.T, f *fixture) {
	const n = 8
	release := make(chan struct{})
	var runs atomic.Int32
	slow := f.rc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if runs.Add(1) == 1 { // only the first waits, so that a bug fails rather than hangs
			<-release
		}
	}))
	codes := make(chan *httptest.ResponseRecorder, n)
	for range n {
		r := f.request("evt_1", `{"id":"evt_1"}`)
		go func() {
			w := httptest.NewRecorder()
			slow.ServeHTTP(w, r)
			codes <- w
		}()
	}
	// All but the one being processed answer without waiting for it.
	for range n - 1 {
		w := <-codes
		wantCode(t, "redelivery while in progress", w, 409)
		if got := w.Header().Get("Retry-After"); got != "300" {
			t.Errorf("Retry-After = %q, want 300 (the processing timeout)", got)
		}
	}
	close(release)
	wantCode(t, "the delivery processed", <-codes, 200)
	if got := runs.Load(); got != 1 {
		t.Errorf("handler ran %d times, want 1", got)
	}
	var h counter
	wantCode(t, "delivery after processing", f.deliver(&h, "evt_1"), 200)
	h.want(t, 0)
}

// testExpiredClaim lets a delivery run past the processing timeout, as if
// its process had crashed: the next delivery takes the claim over, and the
// first one's failure, when it finally returns, cannot undo that.
func testExpiredClaim(t *testing.T, f *fixture) {
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	stuck := f.rc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { // only the first waits, so that a bug fails rather than hangs
			close(started)
			<-release
		})
		w.WriteHeader(http.StatusInternalServerError)
	}))
	first := make(chan *httptest.ResponseRecorder)
	r := f.request("evt_1", `{"id":"evt_1"}`)
	go func() {
		w := httptest.NewRecorder()
		stuck.ServeHTTP(w, r)
		first <- w
	}()
	<-started

	var h counter
	f.clock.Advance(webhook.DefaultProcessingTimeout - time.Second)
	wantCode(t, "delivery while the claim holds", f.deliver(&h, "evt_1"), 409)
	f.clock.Advance(time.Second)
	wantCode(t, "delivery once the claim expired", f.deliver(&h, "evt_1"), 200)
	h.want(t, 1)

	close(release)
	wantCode(t, "the stuck delivery", <-first, 500)
	wantCode(t, "delivery after both", f.deliver(&h, "evt_1"), 200)
	h.want(t, 1)
}

func TestReceiverRejects(t *testing.T) {
	t.Parallel()
	f := newFixture(t, webhook.NewMemoryStore(10))
	f.rc.MaxBodyBytes = 100
	var h counter
	serve := func(r *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		f.rc.Middleware(&h).ServeHTTP(w, r)
		return w
	}

	r := f.request("evt_1", `{"id":"evt_1"}`)
	r.Header.Set("webhook-signature", "v1,"+v1Sig)
	w := serve(r)
	wantCode(t, "wrong signature", w, 401)
	if got, want := w.Body.String(), "webhook verification failed: no matching signature"; !strings.HasPrefix(got, want) {
		t.Errorf("401 body = %q, want it to start %q", got, want)
	}

	r = f.request("evt_1", `{"id":"evt_1"}`)
	f.clock.Advance(time.Hour)
	wantCode(t, "an hour late", serve(r), 401)

	r = f.request("evt_1", strings.Repeat("x", 101))
	w = serve(r)
	wantCode(t, "101-byte body", w, 413)
	if got := w.Body.String(); !strings.Contains(got, "larger than 100 bytes") {
		t.Errorf("413 body = %q, want the limit", got)
	}
	wantCode(t, "100-byte body", serve(f.request("evt_1", strings.Repeat("x", 100))), 200)
	h.want(t, 1)
}

func TestReceiverXSignatureNeedsID(t *testing.T) {
	t.Parallel()
	secret := webhook.NewSecret()
	v, _ := webhook.NewVerifier([]string{secret})
	s, _ := webhook.NewSigner(webhook.SchemeXSignature, secret)
	h, _ := s.Sign("evt_1", time.Now(), []byte("{}"))
	rc := &webhook.Receiver{Verifier: v, Store: webhook.NewMemoryStore(10)}

	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}"))
	r.Header.Set("X-Signature", h.Get("X-Signature"))
	w := httptest.NewRecorder()
	var next counter
	rc.Middleware(&next).ServeHTTP(w, r)
	wantCode(t, "X-Signature without webhook-id", w, 400)

	r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}"))
	r.Header = h
	w = httptest.NewRecorder()
	rc.Middleware(&next).ServeHTTP(w, r)
	wantCode(t, "X-Signature with webhook-id", w, 200)
	next.want(t, 1)
}

func TestReceiverHandlerSeesBody(t *testing.T) {
	t.Parallel()
	for _, store := range []webhook.Store{nil, webhook.NewMemoryStore(10)} {
		f := newFixture(t, store)
		var got []byte
		next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, _ = io.ReadAll(r.Body)
		})
		f.deliver(next, "evt_1")
		if want := `{"id":"evt_1"}`; string(got) != want {
			t.Errorf("handler read %q, want %q", got, want)
		}
		f.deliver(next, "evt_1")
	}
}

func TestReceiverWithoutStore(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	var h counter
	f.deliver(&h, "evt_1")
	f.deliver(&h, "evt_1")
	h.want(t, 2)
}

// brokenStore fails every call, as a store whose database is down.
type brokenStore struct{}

var errDown = errors.New("database is down")

func (brokenStore) Claim(context.Context, string, string, time.Time, time.Time) (webhook.Claim, error) {
	return webhook.Claim{}, errDown
}
func (brokenStore) Done(context.Context, string, time.Time) error { return errDown }
func (brokenStore) Release(context.Context, string, string) error { return errDown }

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func TestReceiverStoreDown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, brokenStore{})
	var logged bytes.Buffer
	f.rc.Logger = slogTo(&logged)
	var h counter
	w := f.deliver(&h, "evt_1")
	wantCode(t, "store down", w, 503)
	if strings.Contains(w.Body.String(), errDown.Error()) {
		t.Errorf("503 body %q shows the store's error to the sender", w.Body.String())
	}
	if !strings.Contains(logged.String(), errDown.Error()) {
		t.Errorf("log = %q, want the store's error", logged.String())
	}
	h.want(t, 0)
}

func TestReceiverNilVerifier(t *testing.T) {
	t.Parallel()
	defer func() {
		if r := recover(); r == nil {
			t.Error("Middleware with a nil Verifier did not panic")
		}
	}()
	(&webhook.Receiver{}).Middleware(http.NotFoundHandler())
}

// TestReceiverResponseWriter checks that the handler's status is read
// however it answers, and that http.ResponseController still reaches the
// server's ResponseWriter through the middleware.
func TestReceiverResponseWriter(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		handler http.HandlerFunc
		want    int // the status, unless 0
		runs    int // after two deliveries
	}{
		{"Write alone", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }, 200, 1},
		{"201", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201); io.WriteString(w, "made") }, 201, 1},
		{"flushed 500", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("Flush through the middleware: %v", err)
			}
		}, 500, 2},
		{"103 then 503", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(503)
		}, 0, 2}, // httptest.ResponseRecorder reports the 103; net/http sends 503 last
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, webhook.NewMemoryStore(10))
			var runs atomic.Int32
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				runs.Add(1)
				tt.handler(w, r)
			})
			if w := f.deliver(h, "evt_1"); tt.want != 0 {
				wantCode(t, tt.name, w, tt.want)
			}
			f.deliver(h, "evt_1")
			if got := int(runs.Load()); got != tt.runs {
				t.Errorf("handler ran %d times in two deliveries, want %d", got, tt.runs)
			}
		})
	}
}
