package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/webhook"
)

// endpointIn is the body of POST /v1/webhook-endpoints. Pointers tell an
// absent field (the default) from a zero one (an error).
type endpointIn struct {
	TenantID        string            `json:"tenantId"`
	URL             string            `json:"url"`
	Description     string            `json:"description"`
	Events          []string          `json:"events"`
	Secret          string            `json:"secret"`
	SignatureScheme string            `json:"signatureScheme"`
	Headers         map[string]string `json:"headers"`
	RateLimit       float64           `json:"rateLimit"`
	MaxInFlight     *int              `json:"maxInFlight"`
	Timeout         *string           `json:"timeout"`
	RetrySchedule   []string          `json:"retrySchedule"` // null: the server's schedule; []: no retries
	Metadata        map[string]string `json:"metadata"`
}

// endpointOut is an endpoint as the API shows it: never with its secret,
// but with the public key of an ed25519 endpoint, which is not secret.
type endpointOut struct {
	ID                  string            `json:"id"`
	TenantID            string            `json:"tenantId"`
	URL                 string            `json:"url"`
	Description         string            `json:"description"`
	Events              []string          `json:"events"`
	SignatureScheme     string            `json:"signatureScheme"`
	PublicKey           string            `json:"publicKey,omitempty"`
	Headers             map[string]string `json:"headers"`
	RateLimit           *float64          `json:"rateLimit"` // null: no limit
	MaxInFlight         int               `json:"maxInFlight"`
	Timeout             string            `json:"timeout"`
	RetrySchedule       []string          `json:"retrySchedule"` // null: the server's schedule
	Metadata            map[string]string `json:"metadata"`
	Status              string            `json:"status"`
	DisabledReason      string            `json:"disabledReason,omitempty"`
	CreatedAt           time.Time         `json:"createdAt"`
	UpdatedAt           time.Time         `json:"updatedAt"`
	LastSuccessAt       *time.Time        `json:"lastSuccessAt"`
	LastFailureAt       *time.Time        `json:"lastFailureAt"`
	ConsecutiveFailures int               `json:"consecutiveFailures"`
	FailingSince        *time.Time        `json:"failingSince"` // null: not failing
}

// secretOut is the answer of GET …/secret and POST …/rotate-secret;
// endpointWithSecret is the answer that creates an endpoint. They are the
// only answers with a secret.
type secretOut struct {
	Secret    string         `json:"secret"`
	PublicKey string         `json:"publicKey,omitempty"`
	Old       []oldSecretOut `json:"old,omitempty"` // earlier secrets that still sign, if any; see lifecycle.go
}

type endpointWithSecret struct {
	endpointOut
	Secret string `json:"secret"`
}

func endpointJSON(e hook.Endpoint) endpointOut {
	out := endpointOut{
		ID: e.ID, TenantID: e.TenantID, URL: e.URL, Description: e.Description,
		Events: nonNil(e.Events), SignatureScheme: string(e.SignatureScheme),
		PublicKey: publicKey(e), Headers: nonNilMap(e.Headers),
		MaxInFlight: e.MaxInFlight, Timeout: e.Timeout.String(), RetrySchedule: durations(e.RetrySchedule),
		Metadata: nonNilMap(e.Metadata), Status: string(e.Status), DisabledReason: e.DisabledReason,
		CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC(),
		LastSuccessAt: timeOrNull(e.LastSuccessAt), LastFailureAt: timeOrNull(e.LastFailureAt),
		ConsecutiveFailures: e.ConsecutiveFailures,
		FailingSince:        timeOrNull(e.FailingSince),
	}
	if e.RateLimit > 0 {
		out.RateLimit = &e.RateLimit
	}
	return out
}

// publicKey returns the whpk_ key of an ed25519 endpoint, else "".
func publicKey(e hook.Endpoint) string {
	if e.SignatureScheme != hook.SchemeEd25519 {
		return ""
	}
	pk, _ := webhook.PublicKey(e.Secret()) // stored keys were checked when set
	return pk
}

// newSecret generates a signing key of the kind scheme uses.
func newSecret(scheme hook.SignatureScheme) string {
	if scheme == hook.SchemeEd25519 {
		return webhook.NewSigningKey()
	}
	return webhook.NewSecret()
}

// checkSecret checks that a caller-given secret is of the kind scheme uses.
func checkSecret(fe *fieldErrors, scheme hook.SignatureScheme, secret string) {
	var err error
	switch scheme {
	case hook.SchemeEd25519:
		_, err = webhook.ParseSigningKey(secret)
	case hook.SchemeStandard, hook.SchemeXSignature:
		_, err = webhook.ParseSecret(secret)
	default:
		return // the scheme itself is reported
	}
	if err != nil {
		what := fmt.Sprintf("a whsec_ secret of %d to %d bytes", webhook.MinSecretBytes, webhook.MaxSecretBytes)
		if scheme == hook.SchemeEd25519 {
			what = "a whsk_ ed25519 signing key"
		}
		fe.add("secret", "must be %s for the %s scheme", what, scheme)
	}
}

// schedule parses a retry schedule, keeping nil (the server's schedule)
// apart from empty (no retries).
func schedule(fe *fieldErrors, in []string) []time.Duration {
	if in == nil {
		return nil
	}
	out := make([]time.Duration, len(in))
	for i, s := range in {
		out[i] = parseDuration(fe, fmt.Sprintf("retrySchedule[%d]", i), s)
	}
	return out
}

func (s *Server) createEndpoint(ctx context.Context, c *call[endpointIn]) (reply, error) {
	in := c.in
	tenantID, err := tenantOf(c.key, in.TenantID)
	if err != nil {
		return reply{}, err
	}
	var fe fieldErrors
	if tenantID == "" {
		fe.add("tenantId", "is required with the admin key")
	}
	now := s.now()
	e := hook.Endpoint{
		ID: hook.NewID(hook.PrefixEndpoint), TenantID: tenantID, URL: in.URL, Description: in.Description,
		Events: in.Events, SignatureScheme: hook.SignatureScheme(cmp.Or(in.SignatureScheme, string(hook.SchemeStandard))),
		Headers: in.Headers, RateLimit: in.RateLimit, MaxInFlight: hook.DefaultMaxInFlight, Timeout: hook.DefaultTimeout,
		RetrySchedule: schedule(&fe, in.RetrySchedule), Metadata: in.Metadata,
		Status: hook.EndpointActive, CreatedAt: now, UpdatedAt: now,
	}
	if in.MaxInFlight != nil {
		e.MaxInFlight = *in.MaxInFlight
	}
	if in.Timeout != nil {
		e.Timeout = parseDuration(&fe, "timeout", *in.Timeout)
	}
	secret := in.Secret
	if secret == "" {
		secret = newSecret(e.SignatureScheme)
	} else {
		checkSecret(&fe, e.SignatureScheme, secret)
	}
	e.Secrets = []hook.Secret{{Key: secret}}
	if err := fe.validate(e.Validate()); err != nil {
		return reply{}, err
	}
	if err := s.store.CreateEndpoint(ctx, e); err != nil {
		if errors.Is(err, hook.ErrNotFound) {
			return reply{}, invalid("tenantId", "no tenant %q exists", tenantID)
		}
		return reply{}, fmt.Errorf("create endpoint: %w", err)
	}
	s.announce(ctx, hook.OpEndpointCreated, e, "")
	return s.created("/v1/webhook-endpoints/"+e.ID, endpointWithSecret{endpointJSON(e), secret}), nil
}

// endpoint returns the endpoint id if the caller sees it.
func (s *Server) endpoint(ctx context.Context, key hook.APIKey, id string) (hook.Endpoint, error) {
	e, err := s.store.Endpoint(ctx, id)
	if errors.Is(err, hook.ErrNotFound) || err == nil && !sees(key, e.TenantID) {
		return hook.Endpoint{}, notFound("no webhook endpoint %q", id)
	}
	if err != nil {
		return hook.Endpoint{}, fmt.Errorf("get endpoint: %w", err)
	}
	return e, nil
}

func (s *Server) listEndpoints(ctx context.Context, c *call[none]) (reply, error) {
	q := readQuery(c.r, "tenantId")
	f := hook.EndpointFilter{ListParams: q.page()}
	if err := q.err(); err != nil {
		return reply{}, err
	}
	var err error
	if f.TenantID, err = tenantOf(c.key, q.str("tenantId")); err != nil {
		return reply{}, err
	}
	page, err := s.store.ListEndpoints(ctx, f)
	if err != nil {
		return reply{}, fmt.Errorf("list endpoints: %w", err)
	}
	return ok(newList(page, endpointJSON)), nil
}

func (s *Server) getEndpoint(ctx context.Context, c *call[none]) (reply, error) {
	e, err := s.endpoint(ctx, c.key, c.r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	return ok(endpointJSON(e)), nil
}

func (s *Server) getEndpointSecret(ctx context.Context, c *call[none]) (reply, error) {
	e, err := s.endpoint(ctx, c.key, c.r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	return ok(secretJSON(e, s.now())), nil
}

func (s *Server) deleteEndpoint(ctx context.Context, c *call[none]) (reply, error) {
	e, err := s.endpoint(ctx, c.key, c.r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	err = s.store.DeleteEndpoint(ctx, e.ID, s.now())
	if errors.Is(err, hook.ErrNotFound) { // deleted meanwhile
		return reply{}, notFound("no webhook endpoint %q", e.ID)
	}
	if err != nil {
		return reply{}, fmt.Errorf("delete endpoint: %w", err)
	}
	s.announce(ctx, hook.OpEndpointDeleted, e, "")
	return noContent(), nil
}
