package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Defaults of a Receiver.
const (
	DefaultMaxBodyBytes = 1 << 20 // 1 MiB
	// DefaultProcessingTimeout is how long a claim holds: a receiver that
	// crashed while processing blocks redeliveries of that id this long.
	DefaultProcessingTimeout = 5 * time.Minute
	// DefaultRetention is how long a processed id is remembered. Senders
	// retry for days (Herald's default schedule spans more than three), so
	// the specification's five-minute replay window is too short to catch
	// every redelivery.
	DefaultRetention = 7 * 24 * time.Hour
)

// Receiver verifies and deduplicates incoming webhooks in front of an
// http.Handler; see Receiver.Middleware. Set Verifier; the other fields
// are optional and the zero value of each means its default. A Receiver
// must not be changed once it is in use.
type Receiver struct {
	// Verifier checks signatures and timestamps. Its clock is the
	// receiver's clock too.
	Verifier *Verifier
	// Store records the ids claimed and processed. Nil turns deduplication
	// off: every verified request reaches the handler.
	Store Store
	// MaxBodyBytes caps the body; a larger one is answered 413.
	MaxBodyBytes int64
	// ProcessingTimeout is how long a claim holds before another delivery
	// of the same id may take it over.
	ProcessingTimeout time.Duration
	// Retention is how long a processed id is remembered.
	Retention time.Duration
	// Logger receives the errors of Store, which the sender never sees;
	// slog.Default() if nil.
	Logger *slog.Logger
}

// Middleware returns a handler that, for each request:
//
//   - reads the body, at most MaxBodyBytes of it (413 past that);
//   - verifies it (401 with the reason on failure);
//   - with a Store, claims its webhook-id: a request whose id was processed
//     is answered 200 without running next; one whose id is claimed by a
//     request still in progress is answered 409 with Retry-After, never
//     2xx, so that the sender retries and nothing is lost if the first
//     attempt fails;
//   - runs next with the body in r.Body, unread;
//   - marks the id processed if next answered 2xx (or nothing), and
//     releases the claim otherwise or if next panics, so that the sender's
//     retry is processed.
//
// The X-Signature scheme signs the timestamp and body but not webhook-id,
// so with it a captured request replayed within the tolerance under another
// id would be processed again; the Standard Webhooks schemes sign the id.
//
// Middleware panics if Verifier is nil.
func (rc *Receiver) Middleware(next http.Handler) http.Handler {
	if rc.Verifier == nil {
		panic("webhook: Receiver.Verifier is nil")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := rc.readBody(w, r)
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				http.Error(w, fmt.Sprintf("body larger than %d bytes", tooLarge.Limit), http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		// The reason helps the sender's operator (Herald shows the answer
		// to a failed attempt) and names nothing secret.
		if err := rc.Verifier.Verify(r.Header, body); err != nil {
			http.Error(w, "webhook verification failed: "+err.Error(), http.StatusUnauthorized)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if rc.Store == nil {
			next.ServeHTTP(w, r)
			return
		}
		id := headerValue(r.Header, HeaderID, HeaderSvixID)
		if id == "" {
			// Only X-Signature requests get here; Verify requires an id
			// of the others.
			http.Error(w, "missing webhook-id header, needed to deduplicate", http.StatusBadRequest)
			return
		}
		rc.serveOnce(w, r, id, next)
	})
}

func (rc *Receiver) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := positiveOr(rc.MaxBodyBytes, DefaultMaxBodyBytes)
	return io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
}

// serveOnce runs next for the delivery of id unless it was processed or is
// being processed.
func (rc *Receiver) serveOnce(w http.ResponseWriter, r *http.Request, id string, next http.Handler) {
	now := rc.Verifier.now()
	token := rand.Text()
	claim, err := rc.Store.Claim(r.Context(), id, token, now, now.Add(positiveOr(rc.ProcessingTimeout, DefaultProcessingTimeout)))
	if err != nil {
		if r.Context().Err() == nil { // else the sender hung up: nothing is wrong here
			rc.logger().ErrorContext(r.Context(), "webhook: claim id", "id", id, "err", err)
		}
		http.Error(w, "cannot check for duplicates now", http.StatusServiceUnavailable)
		return
	}
	switch claim.State {
	case Processed:
		w.WriteHeader(http.StatusOK)
		return
	case InProgress:
		w.Header().Set("Retry-After", retryAfter(claim.Until.Sub(now)))
		http.Error(w, "already being processed", http.StatusConflict)
		return
	}

	rec := &statusRecorder{ResponseWriter: w}
	returned := false
	defer func() {
		// The sender may have hung up; the record must be written anyway.
		ctx := context.WithoutCancel(r.Context())
		var err error
		if returned && rec.ok() {
			err = rc.Store.Done(ctx, id, rc.Verifier.now().Add(positiveOr(rc.Retention, DefaultRetention)))
		} else {
			// A failure or a panic: let the sender's retry be processed.
			// A panic goes on up to net/http once the claim is released.
			err = rc.Store.Release(ctx, id, token)
		}
		if err != nil {
			rc.logger().ErrorContext(ctx, "webhook: record outcome", "id", id, "err", err)
		}
	}()
	next.ServeHTTP(rec, r)
	returned = true
}

func (rc *Receiver) logger() *slog.Logger {
	if rc.Logger != nil {
		return rc.Logger
	}
	return slog.Default()
}

// retryAfter formats d as the whole seconds of a Retry-After header, rounded
// up and at least 1.
func retryAfter(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}

// positiveOr returns v, or def if v is zero or negative: a negative cap or
// timeout would refuse everything, which no one means.
func positiveOr[T int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// statusRecorder remembers the status code a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	// 1xx responses are informational; the final status comes after.
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the ResponseWriter's Flush,
// deadlines and the like.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// ok reports whether the handler succeeded: a 2xx, or no answer at all,
// which net/http sends as 200.
func (s *statusRecorder) ok() bool {
	return s.status == 0 || s.status >= 200 && s.status < 300
}
