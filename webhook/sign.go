package webhook

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scheme names the way a request is signed. Its values are those of an
// endpoint's signatureScheme in the Herald API.
type Scheme string

// Signature schemes.
const (
	// SchemeStandard is Standard Webhooks v1: webhook-signature carries
	// "v1,<base64 HMAC-SHA256>" entries made with whsec_ secrets.
	SchemeStandard Scheme = "standard"
	// SchemeEd25519 is Standard Webhooks v1a: webhook-signature carries
	// "v1a,<base64 ed25519 signature>" entries made with whsk_ signing keys.
	SchemeEd25519 Scheme = "ed25519"
	// SchemeXSignature is the Stripe-style X-Signature header,
	// "t=<unix>,v1=<hex HMAC-SHA256>", made with whsec_ secrets.
	SchemeXSignature Scheme = "x-signature"
)

// Header names, in the canonical form of net/http. The svix-* names are the
// older spelling of the same headers; receivers accept both.
const (
	HeaderID            = "Webhook-Id"
	HeaderTimestamp     = "Webhook-Timestamp"
	HeaderSignature     = "Webhook-Signature"
	HeaderXSignature    = "X-Signature"
	HeaderSvixID        = "Svix-Id"
	HeaderSvixTimestamp = "Svix-Timestamp"
	HeaderSvixSignature = "Svix-Signature"
)

const (
	maxIDLength    = 255
	versionHMAC    = "v1"  // webhook-signature entry made with HMAC-SHA256
	versionEd25519 = "v1a" // webhook-signature entry made with ed25519
	xFieldTime     = "t"   // X-Signature field holding the timestamp
	xFieldHMAC     = "v1"  // X-Signature field holding an HMAC-SHA256
)

// ErrInvalidID is returned by Signer.Sign for a webhook id that cannot be
// signed unambiguously or sent in a header.
var ErrInvalidID = errors.New("invalid webhook id")

// Signer signs requests with one scheme and one or more keys. During a key
// rotation every key signs, so that receivers holding either the old or the
// new key accept the request. A Signer is safe for concurrent use.
type Signer struct {
	scheme Scheme
	keys   []signingKey
}

// signingKey is one key of a Signer. hmac is the HMAC key of SchemeStandard
// and SchemeXSignature (they differ: see NewSigner); ed is the private key of
// SchemeEd25519.
type signingKey struct {
	hmac []byte
	ed   ed25519.PrivateKey
	macs *macPool // of hmac, for the HMAC schemes
}

// NewSigner returns a Signer for the scheme. Its keys must suit the scheme:
// whsec_ secrets for SchemeStandard and SchemeXSignature, whsk_ signing keys
// for SchemeEd25519. At least one key is required; each signs, in order.
//
// SchemeStandard uses the decoded bytes of a secret as the HMAC key, as the
// Standard Webhooks specification says; SchemeXSignature uses the whole
// secret string, "whsec_" included, as Stripe does, so that Stripe's
// verification libraries accept Herald's X-Signature.
func NewSigner(scheme Scheme, keys ...string) (*Signer, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: signer needs at least one key", ErrInvalidKey)
	}
	s := &Signer{scheme: scheme, keys: make([]signingKey, 0, len(keys))}
	for i, k := range keys {
		var sk signingKey
		var err error
		switch scheme {
		case SchemeStandard:
			sk.hmac, err = ParseSecret(k)
		case SchemeXSignature:
			// Parsed only to reject what is not a secret; the string is the key.
			_, err = ParseSecret(k)
			sk.hmac = []byte(k)
		case SchemeEd25519:
			sk.ed, err = ParseSigningKey(k)
		default:
			return nil, fmt.Errorf("unknown signature scheme %q (want %q, %q or %q)",
				scheme, SchemeStandard, SchemeEd25519, SchemeXSignature)
		}
		if err != nil {
			return nil, fmt.Errorf("key %d of %d for scheme %q: %w", i+1, len(keys), scheme, err)
		}
		if sk.hmac != nil {
			sk.macs = newMACPool(sk.hmac)
		}
		s.keys = append(s.keys, sk)
	}
	return s, nil
}

// Scheme returns the scheme s signs with.
func (s *Signer) Scheme() Scheme { return s.scheme }

// Sign returns the headers to set on a request that carries body: webhook-id
// with every scheme, and webhook-timestamp and webhook-signature, or
// X-Signature. id is the event id, the same on every retry, by which
// receivers deduplicate; t is the time of this attempt, sent in whole
// seconds.
//
// The id is part of the signed content, joined to the timestamp with ".", so
// it must not contain "."; it must be 1 to 255 visible ASCII characters.
// Sign returns an error wrapping ErrInvalidID otherwise.
func (s *Signer) Sign(id string, t time.Time, body []byte) (http.Header, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if t.Unix() < 0 {
		return nil, fmt.Errorf("timestamp %s is before 1970", t.Format(time.RFC3339))
	}
	ts := strconv.FormatInt(t.Unix(), 10)
	// The names are canonical already: set without h.Set's canonicalizing.
	h := make(http.Header, 3)
	h[HeaderID] = []string{id}
	if s.scheme == SchemeXSignature {
		h[HeaderXSignature] = []string{s.xSignature(ts, body)}
		return h, nil
	}
	// ed25519 signs the content whole; HMAC reads its prefix, then the body
	// (a kilobyte or more), rather than a copy of them joined.
	var msg []byte
	prefix := signedContent(id, ts, nil)
	entries := make([]string, len(s.keys))
	for i, k := range s.keys {
		if k.ed != nil {
			if msg == nil {
				msg = signedContent(id, ts, body)
			}
			entries[i] = versionEd25519 + "," + base64.StdEncoding.EncodeToString(ed25519.Sign(k.ed, msg))
		} else {
			entries[i] = versionHMAC + "," + base64.StdEncoding.EncodeToString(k.macs.sum(prefix, body))
		}
	}
	h[HeaderTimestamp] = []string{ts}
	h[HeaderSignature] = []string{strings.Join(entries, " ")}
	return h, nil
}

// xSignature returns the X-Signature value "t=<ts>,v1=<hex>[,v1=<hex>…]".
func (s *Signer) xSignature(ts string, body []byte) string {
	prefix := xSignedContent(ts, nil)
	var b strings.Builder
	b.WriteString(xFieldTime + "=" + ts)
	for _, k := range s.keys {
		b.WriteString("," + xFieldHMAC + "=")
		b.WriteString(hex.EncodeToString(k.macs.sum(prefix, body)))
	}
	return b.String()
}

// signedContent is what Standard Webhooks signs: id "." timestamp "." body.
func signedContent(id, ts string, body []byte) []byte {
	msg := make([]byte, 0, len(id)+len(ts)+len(body)+2)
	msg = append(msg, id...)
	msg = append(msg, '.')
	msg = append(msg, ts...)
	msg = append(msg, '.')
	return append(msg, body...)
}

// xSignedContent is what the X-Signature scheme signs: timestamp "." body.
func xSignedContent(ts string, body []byte) []byte {
	msg := make([]byte, 0, len(ts)+len(body)+1)
	msg = append(msg, ts...)
	msg = append(msg, '.')
	return append(msg, body...)
}

func mac(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// macPool holds HMAC-SHA256 states keyed with one key, reused: a Signer
// kept for an endpoint signs every attempt of it, and a Verifier checks
// every request to its receiver, where a new state was three allocations
// and the SHA-256 of the key's pads.
type macPool struct {
	key []byte
	p   sync.Pool
}

func newMACPool(key []byte) *macPool { return &macPool{key: key} }

// sum returns the HMAC-SHA256 of prefix followed by body, written in turn:
// the same as of their concatenation, without copying the body to make it.
func (m *macPool) sum(prefix, body []byte) []byte {
	h, _ := m.p.Get().(hash.Hash)
	if h == nil {
		h = hmac.New(sha256.New, m.key)
	}
	h.Write(prefix)
	h.Write(body)
	sum := h.Sum(make([]byte, 0, sha256.Size))
	h.Reset()
	m.p.Put(h)
	return sum
}

// checkID reports why id cannot be signed, if it cannot.
func checkID(id string) error {
	if id == "" || len(id) > maxIDLength {
		return fmt.Errorf("%w: %d bytes long, want 1 to %d", ErrInvalidID, len(id), maxIDLength)
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c == '.':
			return fmt.Errorf("%w: %q contains \".\", which separates the signed parts", ErrInvalidID, id)
		case c <= ' ' || c > '~':
			return fmt.Errorf("%w: %q contains a space, control or non-ASCII character", ErrInvalidID, id)
		}
	}
	return nil
}
