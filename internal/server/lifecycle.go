package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/webhook"
)

// TestSender sends one signed request for an event to an endpoint, as a
// delivery would be sent, and returns the attempt without recording it.
// *dispatch.Dispatcher is one.
type TestSender interface {
	SendTest(ctx context.Context, ep hook.Endpoint, ev hook.Event) (hook.Attempt, error)
}

// maxReason bounds the reason given to POST …/disable.
const maxReason = 1024

// disableIn is the body of POST …/disable; it may be empty.
type disableIn struct {
	Reason string `json:"reason"` // empty: hook.DisabledByAPI
}

// rotateIn is the body of POST …/rotate-secret; it may be empty.
type rotateIn struct {
	Secret         string  `json:"secret"`         // empty: a new key of the endpoint's scheme
	ExpireOldAfter *string `json:"expireOldAfter"` // absent: hook.DefaultSecretOverlap
}

// oldSecretOut is an earlier secret that still signs, in GET …/secret.
type oldSecretOut struct {
	Secret    string    `json:"secret"`
	PublicKey string    `json:"publicKey,omitempty"` // of an ed25519 key
	ExpiresAt time.Time `json:"expiresAt"`
}

// secretJSON is the answer of GET …/secret and POST …/rotate-secret: the
// current secret and the old ones that have not expired at now, which
// still sign every request until they do. Without old ones the answer is
// the same as before rotation existed: no "old" member.
func secretJSON(e hook.Endpoint, now time.Time) secretOut {
	out := secretOut{Secret: e.Secret(), PublicKey: publicKey(e)}
	for _, k := range e.Secrets[min(1, len(e.Secrets)):] {
		if !k.ExpiresAt.After(now) {
			continue
		}
		old := oldSecretOut{Secret: k.Key, ExpiresAt: k.ExpiresAt.UTC()}
		if e.SignatureScheme == hook.SchemeEd25519 {
			old.PublicKey, _ = webhook.PublicKey(k.Key) // stored keys were checked when set
		}
		out.Old = append(out.Old, old)
	}
	return out
}

// endpointGone is the answer when an endpoint was deleted between its
// lookup and the write.
func endpointGone(err error, id, what string) error {
	if errors.Is(err, hook.ErrNotFound) {
		return notFound("no webhook endpoint %q", id)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (s *Server) disableEndpoint(ctx context.Context, c *call[disableIn]) (reply, error) {
	e, err := s.endpoint(ctx, c.key, c.r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	reason := c.in.Reason
	if utf8.RuneCountInString(reason) > maxReason {
		return reply{}, invalid("reason", "must be at most %d characters", maxReason)
	}
	if reason == "" {
		reason = hook.DisabledByAPI
	}
	was := e.Status
	e, err = s.store.DisableEndpoint(ctx, e.ID, reason, s.now())
	if err != nil {
		return reply{}, endpointGone(err, c.r.PathValue("id"), "disable endpoint")
	}
	if was != hook.EndpointDisabled {
		s.announce(ctx, hook.OpEndpointDisabled, e, reason)
	}
	return ok(endpointJSON(e)), nil
}

// enableEndpoint makes the endpoint active, resets its failure streak and
// brings its waiting deliveries forward to now (see hook.Store): after an
// outage the receiver is back, so nothing should wait out a long retry
// delay. Dispatchers find them at their next poll.
func (s *Server) enableEndpoint(ctx context.Context, c *call[none]) (reply, error) {
	e, err := s.endpoint(ctx, c.key, c.r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	was := e.Status
	e, err = s.store.EnableEndpoint(ctx, e.ID, s.now())
	if err != nil {
		return reply{}, endpointGone(err, c.r.PathValue("id"), "enable endpoint")
	}
	if was != hook.EndpointActive {
		s.announce(ctx, hook.OpEndpointEnabled, e, "")
	}
	return ok(endpointJSON(e)), nil
}

func (s *Server) rotateEndpointSecret(ctx context.Context, c *call[rotateIn]) (reply, error) {
	e, err := s.endpoint(ctx, c.key, c.r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	now := s.now()
	var fe fieldErrors
	overlap := hook.DefaultSecretOverlap
	if c.in.ExpireOldAfter != nil {
		overlap = parseDuration(&fe, "expireOldAfter", *c.in.ExpireOldAfter)
		if len(fe) == 0 && (overlap < 0 || overlap > hook.MaxSecretOverlap) {
			fe.add("expireOldAfter", "must be from 0s (the old secret stops signing at once) to %s", hook.MaxSecretOverlap)
		}
	}
	key := c.in.Secret
	if key == "" {
		key = newSecret(e.SignatureScheme)
	} else {
		checkSecret(&fe, e.SignatureScheme, key)
		for _, k := range e.Secrets {
			if k.Key == key && (k.ExpiresAt.IsZero() || k.ExpiresAt.After(now)) {
				fe.add("secret", "is already a signing key of this endpoint")
			}
		}
	}
	if err := fe.err(); err != nil {
		return reply{}, err
	}
	e, err = s.store.RotateEndpointSecret(ctx, e.ID, hook.SecretRotation{Key: key, ExpireOld: now.Add(overlap), Now: now})
	switch {
	case errors.Is(err, hook.ErrTooManySecrets):
		return reply{}, conflict("the endpoint has %d old secrets that still sign, the most it may have; "+
			"rotate again once one expires (GET …/secret lists them), or with expireOldAfter \"0s\" "+
			"to stop the current secret at once", hook.MaxOldSecrets)
	case errors.Is(err, hook.ErrConflict):
		// The scheme changed, or the same key was set, since the read.
		return reply{}, conflict("the endpoint changed during the rotation; read it again and retry")
	case err != nil:
		return reply{}, endpointGone(err, c.r.PathValue("id"), "rotate endpoint secret")
	}
	return ok(secretJSON(e, now)), nil
}

// testEndpoint sends a herald.ping event to the endpoint now, whatever its
// status, and answers with the attempt. The ping is not stored: it has no
// event, delivery or attempt log entry, and the attempt's id is only a
// name for this answer.
func (s *Server) testEndpoint(ctx context.Context, c *call[none]) (reply, error) {
	e, err := s.endpoint(ctx, c.key, c.r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	if s.testSender == nil {
		return reply{}, &statusError{http.StatusServiceUnavailable, typeUnavailable, "delivery is not enabled on this node", nil}
	}
	a, err := s.testSender.SendTest(ctx, e, hook.NewPing(e, s.now()))
	if err != nil {
		return reply{}, fmt.Errorf("test endpoint: %w", err)
	}
	return ok(attemptJSON(a)), nil
}
