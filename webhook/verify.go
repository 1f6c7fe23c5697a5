package webhook

import (
	"crypto/ed25519"
	"crypto/hmac"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Errors of verification. Verify wraps one of them with the detail of what
// is wrong; test for them with errors.Is.
var (
	ErrMissingHeader       = errors.New("missing header")
	ErrMalformedHeader     = errors.New("malformed header")
	ErrTimestampTooOld     = errors.New("timestamp too old")
	ErrTimestampTooNew     = errors.New("timestamp too new")
	ErrNoMatchingSignature = errors.New("no matching signature")
)

// DefaultTolerance is how far a request's timestamp may be from the
// receiver's clock, in either direction, unless WithTolerance says otherwise.
// It bounds how long a captured request can be replayed.
const DefaultTolerance = 5 * time.Minute

// Option configures a Verifier.
type Option func(*Verifier)

// WithTolerance sets how far a request's timestamp may be from now, in
// either direction. It must be positive. The default is DefaultTolerance.
func WithTolerance(d time.Duration) Option {
	return func(v *Verifier) { v.tolerance = d }
}

// WithClock sets the function that tells the time, time.Now by default.
// Tests use it to verify requests signed at a fixed time.
func WithClock(now func() time.Time) Option {
	return func(v *Verifier) { v.now = now }
}

// Verifier checks the signatures of incoming requests against a trust list
// of keys. A Verifier is safe for concurrent use.
type Verifier struct {
	secrets   []verifyingSecret
	publics   []ed25519.PublicKey
	tolerance time.Duration
	now       func() time.Time
}

// verifyingSecret holds a whsec_ secret in both forms it is used in: its
// decoded bytes are the key of Standard Webhooks v1, the string itself the
// key of X-Signature.
type verifyingSecret struct {
	decoded []byte
	raw     []byte
	macs    *macPool // keyed with decoded
}

// NewVerifier returns a Verifier that accepts requests signed by any of the
// keys: whsec_ secrets (Standard Webhooks v1 and X-Signature) and whpk_
// public keys (Standard Webhooks v1a). During a rotation, list the old key
// and the new one. At least one key is required.
func NewVerifier(keys []string, opts ...Option) (*Verifier, error) {
	v := &Verifier{tolerance: DefaultTolerance, now: time.Now}
	for _, o := range opts {
		o(v)
	}
	if v.tolerance <= 0 {
		return nil, fmt.Errorf("tolerance is %s, want a positive duration", v.tolerance)
	}
	if v.now == nil {
		return nil, errors.New("clock is nil")
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: verifier needs at least one key", ErrInvalidKey)
	}
	for i, k := range keys {
		if err := v.addKey(k); err != nil {
			return nil, fmt.Errorf("key %d of %d: %w", i+1, len(keys), err)
		}
	}
	return v, nil
}

func (v *Verifier) addKey(k string) error {
	switch {
	case strings.HasPrefix(k, SecretPrefix):
		b, err := ParseSecret(k)
		if err != nil {
			return err
		}
		v.secrets = append(v.secrets, verifyingSecret{decoded: b, raw: []byte(k), macs: newMACPool(b)})
	case strings.HasPrefix(k, PublicKeyPrefix):
		pub, err := ParsePublicKey(k)
		if err != nil {
			return err
		}
		v.publics = append(v.publics, pub)
	case strings.HasPrefix(k, SigningKeyPrefix):
		return fmt.Errorf("%w: got a whsk_ signing key, which must stay with the sender; verify with its whpk_ public key", ErrInvalidKey)
	case k == "":
		return fmt.Errorf("%w: key is empty", ErrInvalidKey)
	default:
		return fmt.Errorf("%w: key must start with %q or %q", ErrInvalidKey, SecretPrefix, PublicKeyPrefix)
	}
	return nil
}

// Verify checks a request in one call; see Verifier.Verify.
func Verify(h http.Header, body []byte, keys []string, opts ...Option) error {
	v, err := NewVerifier(keys, opts...)
	if err != nil {
		return err
	}
	return v.Verify(h, body)
}

// Verify reports whether a request with headers h and exactly the bytes
// body was signed by one of v's keys, recently. It returns nil or an error
// that wraps one of ErrMissingHeader, ErrMalformedHeader,
// ErrNoMatchingSignature, ErrTimestampTooOld and ErrTimestampTooNew and says
// what is wrong.
//
// A request signed by Standard Webhooks carries webhook-id,
// webhook-timestamp and webhook-signature (or their svix-* names); one
// signed by the X-Signature scheme carries X-Signature. Any one matching
// entry passes; entries of unknown versions and malformed entries are
// skipped, so a sender may add new versions. The signature is checked before
// the timestamp, so that a too old or too new timestamp is reported only for
// a request that is otherwise genuine: a replay or a skewed clock.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	sig := headerValues(h, " ", HeaderSignature, HeaderSvixSignature)
	if sig == "" {
		if x := headerValues(h, ",", HeaderXSignature); x != "" {
			return v.verifyXSignature(x, body)
		}
		return fmt.Errorf("%w: webhook-signature (or X-Signature)", ErrMissingHeader)
	}
	id := headerValue(h, HeaderID, HeaderSvixID)
	if id == "" {
		return fmt.Errorf("%w: webhook-id", ErrMissingHeader)
	}
	ts := headerValue(h, HeaderTimestamp, HeaderSvixTimestamp)
	if ts == "" {
		return fmt.Errorf("%w: webhook-timestamp", ErrMissingHeader)
	}
	t, err := parseTimestamp(ts)
	if err != nil {
		return fmt.Errorf("%w: webhook-timestamp %v", ErrMalformedHeader, err)
	}
	if err := v.matchStandard(sig, id, ts, body); err != nil {
		return err
	}
	return v.checkTime(t)
}

// matchStandard looks for an entry of the webhook-signature value sig that
// one of v's keys made over id "." ts "." body.
func (v *Verifier) matchStandard(sig, id, ts string, body []byte) error {
	entries := strings.Fields(sig)
	if len(entries) == 0 {
		return fmt.Errorf("%w: webhook-signature is blank", ErrMalformedHeader)
	}
	var macs [][]byte // computed once, on the first v1 entry
	var prefix []byte // id "." ts ".", what the HMAC reads before the body
	var msg []byte    // the signed content, built on the first v1a entry
	var nHMAC, nEd int
	for _, e := range entries {
		version, encoded, _ := strings.Cut(e, ",")
		switch version {
		case versionHMAC:
			nHMAC++
			if macs == nil {
				for _, s := range v.secrets {
					if prefix == nil {
						prefix = signedContent(id, ts, nil)
					}
					macs = append(macs, s.macs.sum(prefix, body))
				}
			}
			got, err := base64.StdEncoding.Strict().DecodeString(encoded)
			if err != nil {
				continue
			}
			for _, want := range macs {
				if hmac.Equal(got, want) {
					return nil
				}
			}
		case versionEd25519:
			nEd++
			got, err := base64.StdEncoding.Strict().DecodeString(encoded)
			if err != nil || len(got) != ed25519.SignatureSize {
				continue
			}
			if msg == nil {
				msg = signedContent(id, ts, body)
			}
			for _, pub := range v.publics {
				if ed25519.Verify(pub, msg, got) {
					return nil
				}
			}
		}
	}
	if nHMAC+nEd == 0 {
		return fmt.Errorf("%w: webhook-signature has no %s or %s entry", ErrNoMatchingSignature, versionHMAC, versionEd25519)
	}
	var checked []string
	if nHMAC > 0 {
		checked = append(checked, plural(nHMAC, "v1 entry", "v1 entries")+" against "+
			plural(len(v.secrets), "whsec_ secret", "whsec_ secrets"))
	}
	if nEd > 0 {
		checked = append(checked, plural(nEd, "v1a entry", "v1a entries")+" against "+
			plural(len(v.publics), "whpk_ public key", "whpk_ public keys"))
	}
	return fmt.Errorf("%w: checked %s", ErrNoMatchingSignature, strings.Join(checked, " and "))
}

// verifyXSignature verifies the X-Signature value x: "t=<unix>,v1=<hex>…".
func (v *Verifier) verifyXSignature(x string, body []byte) error {
	var ts string
	var sigs []string
	for _, field := range strings.Split(x, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(field), "=")
		switch {
		case !ok:
			continue // not a field; skipped like an unknown one
		case name == xFieldTime && ts != "":
			return fmt.Errorf("%w: X-Signature has more than one %s=", ErrMalformedHeader, xFieldTime)
		case name == xFieldTime:
			ts = value
		case name == xFieldHMAC:
			sigs = append(sigs, value)
		}
	}
	if ts == "" {
		return fmt.Errorf("%w: X-Signature has no %s= timestamp", ErrMalformedHeader, xFieldTime)
	}
	t, err := parseTimestamp(ts)
	if err != nil {
		return fmt.Errorf("%w: X-Signature %s= %v", ErrMalformedHeader, xFieldTime, err)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: X-Signature has no %s= entry", ErrNoMatchingSignature, xFieldHMAC)
	}
	msg := xSignedContent(ts, body)
	var macs [][]byte
	for _, s := range v.secrets {
		macs = append(macs, mac(s.raw, msg))
	}
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		if err != nil {
			continue
		}
		for _, want := range macs {
			if hmac.Equal(got, want) {
				return v.checkTime(t)
			}
		}
	}
	return fmt.Errorf("%w: checked %s against %s", ErrNoMatchingSignature,
		plural(len(sigs), "X-Signature v1= entry", "X-Signature v1= entries"),
		plural(len(v.secrets), "whsec_ secret", "whsec_ secrets"))
}

// checkTime reports whether the signing time t, in Unix seconds, is within
// the tolerance of now.
func (v *Verifier) checkTime(t int64) error {
	now := v.now()
	// Differences are taken in whole seconds, the resolution of the header,
	// and without time.Duration, which a timestamp far away would overflow.
	diff := now.Unix() - t
	tol := int64(v.tolerance / time.Second)
	switch {
	case diff > tol:
		return fmt.Errorf("%w: signed %s ago, more than the tolerance of %s", ErrTimestampTooOld, seconds(diff), v.tolerance)
	case -diff > tol:
		return fmt.Errorf("%w: signed %s in the future, more than the tolerance of %s", ErrTimestampTooNew, seconds(-diff), v.tolerance)
	}
	return nil
}

// seconds formats n seconds as a duration, or in days from two days on,
// which also keeps clear of what a Duration can hold.
func seconds(n int64) string {
	const day = 24 * 60 * 60
	if n >= 2*day {
		return strconv.FormatInt(n/day, 10) + " days"
	}
	return (time.Duration(n) * time.Second).String()
}

// parseTimestamp parses a timestamp header: decimal Unix seconds, digits
// only. strconv.ParseInt alone would also take a sign.
func parseTimestamp(s string) (int64, error) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not an integer number of seconds", clip(s))
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", clip(s))
	}
	return n, nil
}

// clip shortens a header value quoted in an error, which may be repeated
// in a response to whoever sent it.
func clip(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// headerValue returns the first value of the first of names that h has.
func headerValue(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// headerValues joins the values of the first of names that h has, with
// sep. A signature header split over several lines (a proxy may do that to a
// long list) is read as one list.
func headerValues(h http.Header, sep string, names ...string) string {
	for _, n := range names {
		if vs := h.Values(n); len(vs) > 0 {
			return strings.Join(vs, sep)
		}
	}
	return ""
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
