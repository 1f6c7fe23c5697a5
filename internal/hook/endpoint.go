package hook

import (
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// EndpointStatus is active or disabled.
type EndpointStatus string

// Endpoint statuses.
const (
	EndpointActive   EndpointStatus = "active"
	EndpointDisabled EndpointStatus = "disabled"
)

// SignatureScheme names how requests to an endpoint are signed.
type SignatureScheme string

// Signature schemes; see ../shared/standard-webhooks.md.
const (
	SchemeStandard   SignatureScheme = "standard"    // webhook-signature: v1,<HMAC-SHA256>
	SchemeEd25519    SignatureScheme = "ed25519"     // webhook-signature: v1a,<ed25519>
	SchemeXSignature SignatureScheme = "x-signature" // X-Signature: t=…,v1=<hex>
)

// Valid reports whether s is a known scheme.
func (s SignatureScheme) Valid() bool {
	switch s {
	case SchemeStandard, SchemeEd25519, SchemeXSignature:
		return true
	}
	return false
}

// Endpoint limits and defaults.
const (
	DefaultMaxInFlight = 8
	DefaultTimeout     = 15 * time.Second
	MinTimeout         = 100 * time.Millisecond
	MaxTimeout         = 30 * time.Second
	MaxURLLength       = 2048
	maxMaxInFlight     = 1000
	maxEventPatterns   = 100
	maxHeaders         = 20
	maxHeaderValue     = 4096
	maxDescription     = 1024
	maxRetrySchedule   = 50
	maxRetryDelay      = 7 * 24 * time.Hour
)

// Secret is one signing key of an endpoint: a whsec_ secret, or a whsk_
// private key for the ed25519 scheme. During a rotation an endpoint has
// several; each one signs until it expires.
type Secret struct {
	Key       string
	ExpiresAt time.Time // zero for the current secret
}

// Endpoint is a URL a tenant registered to receive events of some types.
type Endpoint struct {
	ID              string
	TenantID        string
	URL             string
	Description     string
	Events          []string // exact types, "*" and "prefix.*" patterns
	Secrets         []Secret // the current secret first; never empty once created
	SignatureScheme SignatureScheme
	Headers         map[string]string
	RateLimit       float64       // requests per second; 0 means no limit
	MaxInFlight     int           // concurrent attempts at most
	Timeout         time.Duration // per attempt, connect to last byte
	RetrySchedule   []time.Duration
	Metadata        map[string]string
	Status          EndpointStatus
	DisabledReason  string
	CreatedAt       time.Time
	UpdatedAt       time.Time

	// Health.
	LastSuccessAt       time.Time // zero when never
	LastFailureAt       time.Time // zero when never
	ConsecutiveFailures int
	// FailingSince is when the current failure streak began: the first
	// failure after a success (or ever); zero while not failing.
	FailingSince time.Time
}

// Secret returns the current signing key.
func (e Endpoint) Secret() string {
	if len(e.Secrets) == 0 {
		return ""
	}
	return e.Secrets[0].Key
}

// Matches reports whether the endpoint subscribes to events of type t.
func (e Endpoint) Matches(t string) bool {
	for _, p := range e.Events {
		if MatchType(p, t) {
			return true
		}
	}
	return false
}

// MatchType reports whether the pattern p matches the event type t: "*"
// matches every type except Herald's own "herald.*" ones, "prefix.*" matches
// every type that begins with "prefix." at any depth, and anything else
// matches itself exactly.
func MatchType(p, t string) bool {
	switch {
	case p == "*":
		return !strings.HasPrefix(t, OperationalPrefix)
	case strings.HasSuffix(p, ".*"):
		return strings.HasPrefix(t, p[:len(p)-1])
	default:
		return p == t
	}
}

// Validate checks an endpoint's caller-settable fields. Secrets are checked
// by the caller, which knows the signature formats.
func (e Endpoint) Validate() error {
	var fe fieldErrors
	validateURL(&fe, e.URL)
	if e.Events == nil {
		fe.add("events", "is required (an empty list matches nothing)")
	}
	if len(e.Events) > maxEventPatterns {
		fe.add("events", "must have at most %d entries", maxEventPatterns)
	}
	for _, p := range e.Events {
		if !validPattern(p) {
			fe.add("events", "%q is not an event type, \"*\" or \"prefix.*\"", p)
		}
	}
	if utf8.RuneCountInString(e.Description) > maxDescription {
		fe.add("description", "must be at most %d characters", maxDescription)
	}
	checkText(&fe, "description", e.Description)
	if !e.SignatureScheme.Valid() {
		fe.add("signatureScheme", "must be standard, ed25519 or x-signature")
	}
	validateHeaders(&fe, e.Headers)
	if e.RateLimit < 0 || e.RateLimit > 1e6 {
		fe.add("rateLimit", "must be a positive number of requests per second")
	}
	if e.MaxInFlight < 1 || e.MaxInFlight > maxMaxInFlight {
		fe.add("maxInFlight", "must be from 1 to %d", maxMaxInFlight)
	}
	if e.Timeout < MinTimeout || e.Timeout > MaxTimeout {
		fe.add("timeout", "must be from %s to %s", MinTimeout, MaxTimeout)
	}
	if err := ValidateSchedule(e.RetrySchedule); err != nil {
		fe.add("retrySchedule", "%s", err.Error())
	}
	validateMetadata(&fe, e.Metadata)
	if e.Status != EndpointActive && e.Status != EndpointDisabled {
		fe.add("status", "must be active or disabled")
	}
	return fe.err()
}

func validateURL(fe *fieldErrors, raw string) {
	if raw == "" {
		fe.add("url", "is required")
		return
	}
	if len(raw) > MaxURLLength {
		fe.add("url", "must be at most %d characters", MaxURLLength)
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		fe.add("url", "is not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		fe.add("url", "must be an absolute http or https URL")
	case u.Host == "" || u.Hostname() == "":
		fe.add("url", "must name a host")
	case u.User != nil:
		fe.add("url", "must not contain user information")
	case u.Fragment != "":
		fe.add("url", "must not contain a fragment")
	}
}

func validPattern(p string) bool {
	if p == "*" {
		return true
	}
	return ValidEventType(strings.TrimSuffix(p, ".*"))
}

// refusedHeaders are request headers an endpoint may not set: Herald sets
// them itself, or they belong to the connection rather than the request.
var refusedHeaders = map[string]bool{
	"Host": true, "User-Agent": true, "X-Signature": true,
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Proxy-Connection": true, "Te": true,
	"Trailer": true, "Trailers": true, "Transfer-Encoding": true, "Upgrade": true,
}

// HeaderAllowed reports whether an endpoint may set the request header name.
func HeaderAllowed(name string) bool {
	c := http.CanonicalHeaderKey(name)
	if refusedHeaders[c] {
		return false
	}
	for _, p := range []string{"Content-", "Webhook-", "Svix-"} {
		if strings.HasPrefix(c, p) {
			return false
		}
	}
	return true
}

func validateHeaders(fe *fieldErrors, h map[string]string) {
	if len(h) > maxHeaders {
		fe.add("headers", "must have at most %d entries", maxHeaders)
		return
	}
	for k, v := range h {
		switch {
		case !validHeaderName(k):
			fe.add("headers", "%q is not a valid header name", k)
		case !HeaderAllowed(k):
			fe.add("headers."+k, "is set by Herald or the connection and cannot be configured")
		case len(v) > maxHeaderValue || strings.ContainsAny(v, "\r\n\x00"):
			fe.add("headers."+k, "must be at most %d bytes with no line breaks", maxHeaderValue)
		}
	}
}

func validHeaderName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}
