package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"

	"github.com/heraldhq/herald/internal/hook"
)

// opt is one member of a JSON merge patch (RFC 7396): absent (leave the
// field as it is), null (remove it: reset it to its default), or a value.
type opt[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// UnmarshalJSON is called only for members present in the object, null
// included, which is what tells the three cases apart.
func (o *opt[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}

// endpointPatch is the body of PATCH /v1/webhook-endpoints/{id}. Headers
// and metadata are objects, so they merge: a member set to null removes
// that entry, others are added or replaced.
type endpointPatch struct {
	URL             opt[string]             `json:"url"`
	Description     opt[string]             `json:"description"`
	Events          opt[[]string]           `json:"events"`
	SignatureScheme opt[string]             `json:"signatureScheme"`
	Headers         opt[map[string]*string] `json:"headers"`
	RateLimit       opt[float64]            `json:"rateLimit"`
	MaxInFlight     opt[int]                `json:"maxInFlight"`
	Timeout         opt[string]             `json:"timeout"`
	RetrySchedule   opt[[]string]           `json:"retrySchedule"`
	Metadata        opt[map[string]*string] `json:"metadata"`

	// Fields that exist but that a PATCH may not change; named here so that
	// the refusal says why instead of calling them unknown.
	Secret   json.RawMessage `json:"secret"`
	Status   json.RawMessage `json:"status"`
	TenantID json.RawMessage `json:"tenantId"`
}

// apply changes e as the patch asks, collecting errors of fields that do
// not parse or may not change. A null resets a field to its default.
func (p endpointPatch) apply(e *hook.Endpoint, fe *fieldErrors) {
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"secret", p.Secret}, {"status", p.Status}, {"tenantId", p.TenantID}} {
		if f.raw != nil {
			fe.add(f.name, "cannot be changed by PATCH")
		}
	}
	set(p.URL, &e.URL, "")
	set(p.Description, &e.Description, "")
	set(p.Events, &e.Events, nil) // null: no list, which Validate refuses
	scheme := string(e.SignatureScheme)
	set(p.SignatureScheme, &scheme, string(hook.SchemeStandard))
	e.SignatureScheme = hook.SignatureScheme(scheme)
	set(p.RateLimit, &e.RateLimit, 0)
	set(p.MaxInFlight, &e.MaxInFlight, hook.DefaultMaxInFlight)
	switch {
	case p.Timeout.Null:
		e.Timeout = hook.DefaultTimeout
	case p.Timeout.Set:
		e.Timeout = parseDuration(fe, "timeout", p.Timeout.Value)
	}
	switch {
	case p.RetrySchedule.Null:
		e.RetrySchedule = nil // the server's schedule
	case p.RetrySchedule.Set:
		e.RetrySchedule = schedule(fe, p.RetrySchedule.Value)
	}
	e.Headers = mergeMap(e.Headers, p.Headers, http.CanonicalHeaderKey)
	e.Metadata = mergeMap(e.Metadata, p.Metadata, func(k string) string { return k })
}

// set applies a patch member to a field that a null resets to def.
func set[T any](o opt[T], field *T, def T) {
	switch {
	case o.Null:
		*field = def
	case o.Set:
		*field = o.Value
	}
}

// mergeMap merges a patch into m, per RFC 7396: null removes the whole map,
// a member set to null removes that key, others are set. Keys match when
// their norm is equal (header names are case-insensitive).
func mergeMap(m map[string]string, o opt[map[string]*string], norm func(string) string) map[string]string {
	switch {
	case o.Null:
		return nil
	case !o.Set:
		return m
	}
	out := maps.Clone(m)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range o.Value {
		for old := range out {
			if norm(old) == norm(k) {
				delete(out, old)
			}
		}
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

// keyKind names the kind of signing key a scheme uses.
func keyKind(s hook.SignatureScheme) string {
	if s == hook.SchemeEd25519 {
		return "whsk"
	}
	return "whsec"
}

func (s *Server) patchEndpoint(ctx context.Context, c *call[endpointPatch]) (reply, error) {
	e, err := s.endpoint(ctx, c.key, c.r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	oldScheme := e.SignatureScheme
	var fe fieldErrors
	c.in.apply(&e, &fe)
	if err := fe.validate(e.Validate()); err != nil {
		return reply{}, err
	}
	// A scheme that signs with another kind of key needs a new key; its
	// secret (and public key) are then read with GET …/secret.
	// Otherwise the stored secrets stay (nil Secrets), whatever a rotation
	// committed since the read.
	upd := e
	upd.Secrets = nil
	if keyKind(e.SignatureScheme) != keyKind(oldScheme) {
		upd.Secrets = []hook.Secret{{Key: newSecret(e.SignatureScheme)}}
	}
	upd.UpdatedAt = s.now()
	if err := s.store.UpdateEndpoint(ctx, upd); err != nil {
		if errors.Is(err, hook.ErrNotFound) { // deleted meanwhile
			return reply{}, notFound("no webhook endpoint %q", e.ID)
		}
		return reply{}, fmt.Errorf("update endpoint: %w", err)
	}
	s.announce(ctx, hook.OpEndpointUpdated, upd, "")
	if e, err = s.store.Endpoint(ctx, upd.ID); err != nil {
		if errors.Is(err, hook.ErrNotFound) { // deleted meanwhile
			return reply{}, notFound("no webhook endpoint %q", upd.ID)
		}
		return reply{}, fmt.Errorf("read updated endpoint: %w", err)
	}
	return ok(endpointJSON(e)), nil
}
