package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/sender"
	"github.com/heraldhq/herald/webhook"
)

// storeTimeout bounds the store calls that end an attempt. They run on a
// context of their own, so that a shutdown does not lose an attempt that
// was made.
const storeTimeout = 30 * time.Second

// redacted replaces the values of an endpoint's custom headers in the
// attempt log: they often carry credentials, which the store seals in the
// endpoint but would keep in clear in the log.
const redacted = "[redacted]"

// attempt makes one attempt of a claimed delivery, or releases it when its
// gate holds it back.
func (d *Dispatcher) attempt(ctx context.Context, c hook.Claim, g *gate, body []byte) {
	ep := c.Endpoint
	d.mu.Lock()
	now := d.nowFunc()
	admitted, probe, retryAt := g.breaker.admit(now)
	var r *rate.Reservation
	if admitted && g.limiter != nil {
		// Reserved under the lock with the time read under it: the limiter
		// counts tokens wrongly when reservations go back in time.
		r = g.limiter.ReserveN(now, 1)
	}
	d.mu.Unlock()
	if !admitted {
		d.release(c, retryAt)
		return
	}
	// An attempt must end, and leave half the margin to record it, within
	// the lease; past it, another dispatcher may claim the delivery.
	budget := func(at time.Time) time.Duration { return c.LeaseUntil.Sub(at) - ep.Timeout - d.leaseMargin/2 }
	if r != nil {
		wait := r.DelayFrom(now)
		if !r.OK() || wait > budget(now) {
			d.mu.Lock()
			r.CancelAt(d.nowFunc())
			d.mu.Unlock()
			d.abandon(g, c, probe, now.Add(wait))
			return
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				d.mu.Lock()
				r.CancelAt(d.nowFunc())
				d.mu.Unlock()
				d.abandon(g, c, probe, d.nowFunc())
				return
			case <-t.C:
			}
		}
	}

	start := d.nowFunc()
	if budget(start) < 0 {
		// The claim waited too long (a slow store, a long rate wait).
		d.abandon(g, c, probe, start)
		return
	}
	header, err := d.header(c, g, body, start)
	if err != nil {
		// The endpoint's keys were checked when they were set; this is a
		// bug or a damaged row, not something a retry soon would fix.
		d.log.Error("sign delivery", "delivery", c.Delivery.ID, "endpoint", ep.ID, "err", err)
		d.abandon(g, c, probe, start.Add(time.Hour))
		return
	}
	res := d.send.Send(ctx, sender.Request{URL: ep.URL, Header: header, Body: body, Timeout: ep.Timeout})
	if res.Class == sender.ClassInterrupted && ctx.Err() != nil {
		// Cut by shutdown: not the endpoint's failure, and it costs no
		// attempt. The delivery is due again at once, here or elsewhere.
		d.abandon(g, c, probe, d.nowFunc())
		return
	}
	o := d.outcome(c, res, start)
	d.mu.Lock()
	g.breaker.record(d.nowFunc(), probe, res.Success())
	d.mu.Unlock()
	d.metrics.attempt(o, res)

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	disabled, err := d.store.CompleteAttempt(sctx, c.Token, o)
	if err != nil {
		// The attempt was made but not recorded; the lease expires and the
		// delivery is attempted again: at least once.
		level := slog.LevelError
		if errors.Is(err, hook.ErrConflict) {
			level = slog.LevelWarn // the lease was lost: canceled or reclaimed
		}
		d.log.Log(sctx, level, "record attempt", "delivery", c.Delivery.ID, "endpoint", ep.ID, "err", err)
		return
	}
	d.announce(sctx, c, o, disabled)
}

// abandon releases a delivery whose attempt was not made, giving up its
// probe if it was one.
func (d *Dispatcher) abandon(g *gate, c hook.Claim, probe bool, next time.Time) {
	d.mu.Lock()
	g.breaker.abandon(probe)
	d.mu.Unlock()
	d.release(c, next)
}

// release ends a claim without an attempt; the delivery is due at next.
func (d *Dispatcher) release(c hook.Claim, next time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := d.store.ReleaseClaim(ctx, c.Delivery.ID, c.Token, hook.Timestamp(next)); err != nil && !errors.Is(err, hook.ErrConflict) {
		// The lease expires by itself; only the wait is longer.
		d.log.Error("release delivery", "delivery", c.Delivery.ID, "err", err)
	}
}

// header returns the request header of an attempt at t: the endpoint's
// custom headers, then Herald's, then the signature of its scheme made with
// every key that is valid at t. g is the endpoint's gate, which keeps its
// signer; nil makes a signer for this attempt alone.
func (d *Dispatcher) header(c hook.Claim, g *gate, body []byte, t time.Time) (http.Header, error) {
	ep := c.Endpoint
	signer, err := g.signer(ep, t)
	if err != nil {
		return nil, err
	}
	sig, err := signer.Sign(c.Event.ID, t, body)
	if err != nil {
		return nil, err
	}
	h := make(http.Header, len(ep.Headers)+len(sig)+2)
	for k, v := range ep.Headers {
		h.Set(k, v)
	}
	h["Content-Type"] = []string{"application/json"}
	h["User-Agent"] = []string{d.userAgent}
	for k, v := range sig {
		h[k] = v
	}
	return h, nil
}

// signed is a Signer and what it was made of.
type signed struct {
	signer *webhook.Signer
	scheme hook.SignatureScheme
	keys   []string
}

// signer returns a Signer of ep's scheme with its keys valid at t: the
// gate's last one if it was made of the same, else a new one, kept in g
// unless g is nil. Making one for each attempt decoded every key again
// (and for ed25519 derived its public key: tens of microseconds), for
// keys that change only when a secret is rotated or expires.
func (g *gate) signer(ep hook.Endpoint, t time.Time) (*webhook.Signer, error) {
	valid := func(s hook.Secret) bool { return s.ExpiresAt.IsZero() || s.ExpiresAt.After(t) }
	if g != nil {
		if last := g.signed.Load(); last != nil && last.scheme == ep.SignatureScheme && last.madeOf(ep.Secrets, valid) {
			return last.signer, nil
		}
	}
	keys := make([]string, 0, len(ep.Secrets))
	for _, s := range ep.Secrets {
		if valid(s) {
			keys = append(keys, s.Key)
		}
	}
	signer, err := webhook.NewSigner(webhook.Scheme(ep.SignatureScheme), keys...)
	if err != nil {
		return nil, err
	}
	if g != nil {
		g.signed.Store(&signed{signer: signer, scheme: ep.SignatureScheme, keys: keys})
	}
	return signer, nil
}

// madeOf reports whether s.keys are the keys of secrets that valid keeps,
// in order.
func (s *signed) madeOf(secrets []hook.Secret, valid func(hook.Secret) bool) bool {
	n := 0
	for _, sec := range secrets {
		if !valid(sec) {
			continue
		}
		if n == len(s.keys) || s.keys[n] != sec.Key {
			return false
		}
		n++
	}
	return n == len(s.keys)
}

// outcome turns a response into the attempt to record and the delivery's
// next state.
func (d *Dispatcher) outcome(c hook.Claim, res sender.Result, start time.Time) hook.Outcome {
	ep := c.Endpoint
	start = hook.Timestamp(start)
	// The header sent is the dispatcher's own (see header), kept as it is
	// unless it has values to hide.
	reqHeader := res.RequestHeader
	if len(ep.Headers) > 0 {
		reqHeader = reqHeader.Clone()
		for k := range ep.Headers {
			if reqHeader.Get(k) != "" {
				reqHeader.Set(k, redacted)
			}
		}
	}
	a := hook.Attempt{
		ID:             hook.NewID(hook.PrefixAttempt),
		DeliveryID:     c.Delivery.ID,
		EndpointID:     ep.ID,
		TenantID:       c.Delivery.TenantID,
		Number:         c.Delivery.AttemptCount + 1,
		StartedAt:      start,
		Duration:       res.Duration.Truncate(time.Microsecond),
		RequestHeader:  reqHeader,
		StatusCode:     res.StatusCode,
		ResponseHeader: res.Header,
		ResponseBody:   res.Body,
		Error:          string(res.Class),
		ErrorMessage:   res.Message,
	}
	o := hook.Outcome{DisableAfter: d.disableAfter, Replay: c.Replay.Queued}
	if res.Success() {
		o.Status = hook.DeliverySucceeded
		o.Attempt = a
		return o
	}
	if res.StatusCode == http.StatusGone {
		o.Disable = "the endpoint answered 410 Gone"
	}
	schedule := ep.RetrySchedule
	if schedule == nil {
		schedule = d.schedule
	}
	if c.Replay.Queued {
		o.Status, a.NextRetryAt = replayFailed(c, schedule, res, start)
		o.Attempt = a
		return o
	}
	o.Status = hook.DeliveryFailed
	if delay, ok := hook.RetryDelay(schedule, a.Number-c.Replay.Unscheduled, res.RetryAfter, jitter()); ok {
		o.Status = hook.DeliveryPending
		a.NextRetryAt = hook.Timestamp(start.Add(res.Duration + delay))
	}
	o.Attempt = a
	return o
}

// envelope is the body of every request for ev: the same bytes for every
// endpoint and attempt, with the event's data as the producer sent it.
func envelope(ev hook.Event) []byte {
	b := make([]byte, 0, len(ev.Data)+len(ev.ID)+len(ev.Type)+96)
	b = append(b, `{"id":`...)
	b = hook.AppendJSONString(b, ev.ID)
	b = append(b, `,"type":`...)
	b = hook.AppendJSONString(b, ev.Type)
	b = append(b, `,"createdAt":`...)
	b = appendJSONTime(b, ev.CreatedAt.UTC())
	b = append(b, `,"data":`...)
	b = append(b, ev.Data...)
	return append(b, '}')
}

// appendJSONTime appends t as json.Marshal encodes it (RFC 3339 with
// nanoseconds, quoted), or null for a time it cannot encode (a year
// outside 0-9999, which json.Marshal refuses).
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	out, err := t.AppendText(b)
	if err != nil {
		return append(b[:len(b)-1], "null"...)
	}
	return append(out, '"')
}
