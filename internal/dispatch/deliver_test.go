package dispatch_test

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/dispatch"
	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/sender"
	"github.com/heraldhq/herald/webhook"
)

// TestDeliverOK: a 200 makes one attempt, and the request is the signed
// envelope with Herald's headers and the endpoint's own.
func TestDeliverOK(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Receipt", "r-1")
		w.Write([]byte(`{"received":true}`))
	})
	ep := e.endpoint(rcv.url(), func(ep *hook.Endpoint) { ep.Headers = map[string]string{"Authorization": "Bearer s3cret"} })
	rcv.verifyWith(ep)
	r := e.send("payout.paid")
	dl := e.waitStatus(r.Deliveries[0].ID, hook.DeliverySucceeded)
	if dl.AttemptCount != 1 || !dl.NextAttemptAt.IsZero() {
		t.Errorf("delivery: %d attempts, next at %v; want 1 and none", dl.AttemptCount, dl.NextAttemptAt)
	}

	reqs := rcv.requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(reqs))
	}
	got := reqs[0]
	if got.err != nil {
		t.Errorf("signature does not verify: %v", got.err)
	}
	ev := r.Event
	for name, want := range map[string]string{
		"Content-Type":  "application/json",
		"User-Agent":    "Herald/test",
		"Webhook-Id":    ev.ID,
		"Authorization": "Bearer s3cret",
	} {
		if v := got.header.Get(name); v != want {
			t.Errorf("request header %s = %q, want %q", name, v, want)
		}
	}
	var env struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		CreatedAt time.Time       `json:"createdAt"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(got.body, &env); err != nil {
		t.Fatalf("body %s: %v", got.body, err)
	}
	if env.ID != ev.ID || env.Type != ev.Type || !env.CreatedAt.Equal(ev.CreatedAt) || !bytes.Equal(env.Data, ev.Data) {
		t.Errorf("envelope = %s; want the event %s of type %s with its data as sent", got.body, ev.ID, ev.Type)
	}

	as := e.attempts(dl.ID)
	if len(as) != 1 {
		t.Fatalf("%d attempts, want 1", len(as))
	}
	a := as[0]
	if a.Number != 1 || a.StatusCode != 200 || a.Error != "" || !a.NextRetryAt.IsZero() ||
		string(a.ResponseBody) != `{"received":true}` || a.ResponseHeader.Get("X-Receipt") != "r-1" {
		t.Errorf("attempt = %+v", a)
	}
	if a.RequestHeader.Get("Webhook-Signature") == "" || a.RequestHeader.Get("Webhook-Id") != ev.ID {
		t.Errorf("recorded request header %v lacks the signature headers", a.RequestHeader)
	}
	if v := a.RequestHeader.Get("Authorization"); v != "[redacted]" {
		t.Errorf("recorded Authorization = %q, want it redacted", v)
	}
	if h := e.getEndpoint(ep.ID); h.LastSuccessAt.IsZero() || h.ConsecutiveFailures != 0 {
		t.Errorf("endpoint health after a success: %v, %d failures", h.LastSuccessAt, h.ConsecutiveFailures)
	}
}

// TestDeliverSchemes: every signature scheme verifies with the webhook
// package, with the key the endpoint holds.
func TestDeliverSchemes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		scheme hook.SignatureScheme
		key    string
		verify string
	}{
		{hook.SchemeStandard, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		{hook.SchemeXSignature, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		{hook.SchemeEd25519, "", ""},
	} {
		t.Run(string(tc.scheme), func(t *testing.T) {
			key, verify := tc.key, tc.verify
			if tc.scheme == hook.SchemeEd25519 {
				key = webhook.NewSigningKey()
				var err error
				if verify, err = webhook.PublicKey(key); err != nil {
					t.Fatal(err)
				}
			}
			rcv := newReceiver(t, nil)
			typ := "scheme." + strings.ReplaceAll(string(tc.scheme), "-", "_")
			e.endpoint(rcv.url(), func(ep *hook.Endpoint) {
				ep.SignatureScheme = tc.scheme
				ep.Secrets = []hook.Secret{{Key: key}}
				ep.Events = []string{typ}
			})
			dl := e.sendOne(typ)
			e.waitStatus(dl.ID, hook.DeliverySucceeded)
			got := rcv.requests()[0]
			if err := webhook.Verify(got.header, got.body, []string{verify}); err != nil {
				t.Errorf("%s: %v", tc.scheme, err)
			}
		})
	}
}

// TestDeliverRotation: during a rotation every valid key signs, and an
// expired one no longer does.
func TestDeliverRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rcv := newReceiver(t, nil)
	current, old, expired := webhook.NewSecret(), webhook.NewSecret(), webhook.NewSecret()
	e.endpoint(rcv.url(), func(ep *hook.Endpoint) {
		ep.Secrets = []hook.Secret{
			{Key: current},
			{Key: old, ExpiresAt: time.Now().Add(time.Hour)},
			{Key: expired, ExpiresAt: time.Now().Add(-time.Minute)},
		}
	})
	dl := e.sendOne("payout.paid")
	e.waitStatus(dl.ID, hook.DeliverySucceeded)
	got := rcv.requests()[0]
	for _, k := range []string{current, old} {
		if err := webhook.Verify(got.header, got.body, []string{k}); err != nil {
			t.Errorf("a valid key does not verify: %v", err)
		}
	}
	if err := webhook.Verify(got.header, got.body, []string{expired}); err == nil {
		t.Error("the expired key still signs")
	}
}

// TestDeliverRetry: 500 then 200 is two attempts; the retry carries the same
// webhook-id.
func TestDeliverRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var n atomic.Int32
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			http.Error(w, "busy", http.StatusInternalServerError)
		}
	})
	ep := e.endpoint(rcv.url())
	rcv.verifyWith(ep)
	dl := e.waitStatus(e.sendOne("payout.paid").ID, hook.DeliverySucceeded)
	as := e.attempts(dl.ID)
	if len(as) != 2 || dl.AttemptCount != 2 {
		t.Fatalf("%d attempts recorded, count %d; want 2", len(as), dl.AttemptCount)
	}
	if as[0].Number != 1 || as[0].StatusCode != 500 || as[0].Error != string(sender.ClassHTTPStatus) || as[0].NextRetryAt.IsZero() {
		t.Errorf("first attempt = %d %d %q next %v; want 1, 500, http_status and a retry time", as[0].Number, as[0].StatusCode, as[0].Error, as[0].NextRetryAt)
	}
	if as[1].Number != 2 || as[1].StatusCode != 200 || as[1].Error != "" {
		t.Errorf("second attempt = %d %d %q; want 2, 200, no error", as[1].Number, as[1].StatusCode, as[1].Error)
	}
	reqs := rcv.requests()
	if reqs[0].header.Get("Webhook-Id") != reqs[1].header.Get("Webhook-Id") {
		t.Error("the retry has another webhook-id")
	}
	for _, r := range reqs {
		if r.err != nil {
			t.Errorf("signature: %v", r.err)
		}
	}
	h := e.getEndpoint(ep.ID)
	if h.ConsecutiveFailures != 0 || h.LastFailureAt.IsZero() || h.LastSuccessAt.IsZero() || !h.FailingSince.IsZero() {
		t.Errorf("endpoint health = failures %d, last failure %v, last success %v, failing since %v",
			h.ConsecutiveFailures, h.LastFailureAt, h.LastSuccessAt, h.FailingSince)
	}
}

// TestDeliverExhausted: an endpoint that always fails gets the whole
// schedule (three retries: four attempts), then the delivery fails.
func TestDeliverExhausted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	ep := e.endpoint(rcv.url())
	dl := e.waitStatus(e.sendOne("payout.paid").ID, hook.DeliveryFailed)
	as := e.attempts(dl.ID)
	if len(as) != 4 || dl.AttemptCount != 4 || !dl.NextAttemptAt.IsZero() {
		t.Fatalf("%d attempts, count %d, next %v; want 4, 4, none", len(as), dl.AttemptCount, dl.NextAttemptAt)
	}
	for i, a := range as {
		if a.Number != i+1 || a.StatusCode != 500 {
			t.Errorf("attempt %d = number %d status %d", i, a.Number, a.StatusCode)
		}
		if last := i == len(as)-1; last != a.NextRetryAt.IsZero() {
			t.Errorf("attempt %d: next retry %v", a.Number, a.NextRetryAt)
		}
		if i > 0 && a.StartedAt.Before(as[i-1].NextRetryAt) {
			t.Errorf("attempt %d started at %v, before its retry time %v", a.Number, a.StartedAt, as[i-1].NextRetryAt)
		}
	}
	if got := len(rcv.requests()); got != 4 {
		t.Errorf("receiver got %d requests, want 4", got)
	}
	if h := e.getEndpoint(ep.ID); h.ConsecutiveFailures != 4 || h.FailingSince.IsZero() || h.Status != hook.EndpointActive {
		t.Errorf("endpoint: %d failures, failing since %v, %s", h.ConsecutiveFailures, h.FailingSince, h.Status)
	}
}

// TestDeliverEndpointSchedule: an endpoint's own schedule wins over the
// server's; an empty one means a single attempt.
func TestDeliverEndpointSchedule(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	e.endpoint(rcv.url(), func(ep *hook.Endpoint) { ep.RetrySchedule = []time.Duration{} })
	dl := e.waitStatus(e.sendOne("payout.paid").ID, hook.DeliveryFailed)
	if dl.AttemptCount != 1 {
		t.Errorf("%d attempts, want 1", dl.AttemptCount)
	}
}

// TestDeliverFailures: each way an attempt can fail is recorded with its
// class.
func TestDeliverFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *dispatch.Config, _ *sender.Config) { c.RetrySchedule = []time.Duration{} })
	released := make(chan struct{})
	t.Cleanup(func() { close(released) })

	other := newReceiver(t, nil) // a redirect's target
	var endlessWritten atomic.Int64
	endless := make(chan error, 1)

	tests := []struct {
		name    string
		handler http.HandlerFunc
		timeout time.Duration
		class   sender.ErrorClass
		status  int
	}{
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-released:
			}
		}, 200 * time.Millisecond, sender.ClassTimeout, 0},
		{"trickle", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			for range 10_000 {
				if _, err := w.Write([]byte(".")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-time.After(10 * time.Millisecond):
				case <-r.Context().Done():
					return
				case <-released:
					return
				}
			}
		}, 200 * time.Millisecond, sender.ClassTimeout, 200},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.url(), http.StatusTemporaryRedirect)
		}, 0, sender.ClassRedirect, 307},
		{"reset", func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}, 0, sender.ClassReset, 0},
		{"endless body", func(w http.ResponseWriter, r *http.Request) {
			chunk := bytes.Repeat([]byte("x"), 4<<10)
			for endlessWritten.Load() < 256<<20 {
				n, err := w.Write(chunk)
				endlessWritten.Add(int64(n))
				if err != nil {
					endless <- err
					return
				}
			}
			endless <- nil
		}, 10 * time.Second, "", 200},
		{"client error", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no such account", http.StatusNotFound)
		}, 0, sender.ClassHTTPStatus, 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rcv := newReceiver(t, tc.handler)
			typ := "fail." + strings.ReplaceAll(tc.name, " ", "_")
			e.endpoint(rcv.url(), func(ep *hook.Endpoint) {
				ep.Events = []string{typ}
				if tc.timeout > 0 {
					ep.Timeout = tc.timeout
				}
			})
			want := hook.DeliveryFailed
			if tc.class == "" {
				want = hook.DeliverySucceeded
			}
			dl := e.waitStatus(e.sendOne(typ).ID, want)
			as := e.attempts(dl.ID)
			if len(as) != 1 {
				t.Fatalf("%d attempts, want 1", len(as))
			}
			a := as[0]
			if a.Error != string(tc.class) || a.StatusCode != tc.status {
				t.Errorf("attempt: class %q status %d (%s); want %q, %d", a.Error, a.StatusCode, a.ErrorMessage, tc.class, tc.status)
			}
			if tc.class != "" && a.ErrorMessage == "" {
				t.Error("a failed attempt has no error message")
			}
			if tc.name == "endless body" && len(a.ResponseBody) != sender.DefaultStoredBody {
				t.Errorf("stored %d bytes of the endless body, want %d", len(a.ResponseBody), sender.DefaultStoredBody)
			}
			t.Logf("%s: %s", a.Error, a.ErrorMessage)
		})
	}
	if n := len(other.requests()); n != 0 {
		t.Errorf("the redirect's target received %d requests, want 0", n)
	}
	select {
	case err := <-endless:
		// Herald reads 64 KiB and closes; what the endpoint wrote beyond
		// that sat in socket buffers, a few megabytes at most.
		if err == nil || endlessWritten.Load() > 16<<20 {
			t.Errorf("the endless endpoint wrote %d bytes (error %v); want its writes to fail soon after 64 KiB", endlessWritten.Load(), err)
		}
		t.Logf("the endless endpoint wrote %d bytes before its writes failed", endlessWritten.Load())
	case <-time.After(waitFor):
		t.Error("the endless endpoint never saw Herald stop reading")
	}
}

// TestDeliverGone: 410 disables the endpoint, with a reason; the delivery
// waits, and new events make no deliveries for it.
func TestDeliverGone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) })
	ep := e.endpoint(rcv.url())
	dl := e.wait(e.sendOne("payout.paid").ID, "an attempt", func(d hook.Delivery) bool { return d.AttemptCount == 1 })
	h := e.getEndpoint(ep.ID)
	if h.Status != hook.EndpointDisabled || !strings.Contains(h.DisabledReason, "410") {
		t.Fatalf("endpoint %s (%q); want disabled for 410", h.Status, h.DisabledReason)
	}
	if dl.Status != hook.DeliveryPending {
		t.Errorf("delivery %s, want pending (waiting for the endpoint)", dl.Status)
	}
	if r := e.send("payout.paid"); len(r.Deliveries) != 0 {
		t.Errorf("a new event made %d deliveries to the disabled endpoint", len(r.Deliveries))
	}
	// Well past its retry time, it has not been attempted again.
	time.Sleep(100 * time.Millisecond)
	if got := len(rcv.requests()); got != 1 {
		t.Errorf("receiver got %d requests, want 1", got)
	}
}

// TestDeliverRetryAfter: a 429 with Retry-After postpones the next attempt
// past the schedule's 10 ms.
func TestDeliverRetryAfter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	e.endpoint(rcv.url())
	dl := e.wait(e.sendOne("payout.paid").ID, "an attempt", func(d hook.Delivery) bool { return d.AttemptCount == 1 })
	a := e.attempts(dl.ID)[0]
	if a.StatusCode != 429 {
		t.Fatalf("status %d, want 429", a.StatusCode)
	}
	end := a.StartedAt.Add(a.Duration)
	if wait := a.NextRetryAt.Sub(end); wait < 119*time.Second || wait > 121*time.Second {
		t.Errorf("next retry %s after the attempt, want 120s as asked", wait)
	}
	if !dl.NextAttemptAt.Equal(a.NextRetryAt) || dl.Status != hook.DeliveryPending {
		t.Errorf("delivery %s next at %v, want pending at %v", dl.Status, dl.NextAttemptAt, a.NextRetryAt)
	}
}

// TestDeliverDisableAfter: an endpoint that fails again longer than
// DisableAfter after its streak began is disabled.
func TestDeliverDisableAfter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *dispatch.Config, _ *sender.Config) {
		c.DisableAfter = 30 * time.Millisecond
		c.RetrySchedule = []time.Duration{50 * time.Millisecond, 50 * time.Millisecond}
	})
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	ep := e.endpoint(rcv.url())
	e.wait(e.sendOne("payout.paid").ID, "a second attempt", func(d hook.Delivery) bool { return d.AttemptCount >= 2 })
	h := e.getEndpoint(ep.ID)
	if h.Status != hook.EndpointDisabled || h.DisabledReason == "" {
		t.Fatalf("endpoint %s (%q), want disabled with a reason", h.Status, h.DisabledReason)
	}
	t.Logf("reason: %s", h.DisabledReason)
}

// TestDeliverFastPath: with a poll interval of an hour, a new delivery is
// still attempted at once, through Notify.
func TestDeliverFastPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *dispatch.Config, _ *sender.Config) { c.PollInterval = time.Hour })
	rcv := newReceiver(t, nil)
	e.endpoint(rcv.url())
	for range 5 {
		e.waitStatus(e.sendOne("payout.paid").ID, hook.DeliverySucceeded)
	}
}

// TestDeliverSSRF: with the default policy, loopback and unspecified
// destinations are blocked at connect time and recorded.
func TestDeliverSSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *dispatch.Config, s *sender.Config) {
		s.Allow = nil
		c.RetrySchedule = []time.Duration{}
	})
	var hits atomic.Int32
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	port := rcv.srv.Listener.Addr().(*net.TCPAddr).Port
	p := strconv.Itoa(port)
	for i, u := range []string{
		"http://127.0.0.1:" + p + "/",
		"http://[::1]:" + p + "/",
		"http://0.0.0.0:" + p + "/",
		"http://[::ffff:127.0.0.1]:" + p + "/",
		"http://localhost:" + p + "/",
	} {
		typ := "ssrf.t" + strconv.Itoa(i)
		e.endpoint(u, func(ep *hook.Endpoint) { ep.Events = []string{typ} })
		dl := e.waitStatus(e.sendOne(typ).ID, hook.DeliveryFailed)
		a := e.attempts(dl.ID)[0]
		if a.Error != string(sender.ClassBlocked) {
			t.Errorf("%s: class %q (%s), want blocked_destination", u, a.Error, a.ErrorMessage)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the local receiver got %d requests", n)
	}
}
