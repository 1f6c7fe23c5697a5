package hook

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// Key token prefixes: an admin key acts on every tenant, a tenant key on its
// own tenant only.
const (
	AdminKeyPrefix  = "hka_"
	TenantKeyPrefix = "hkt_"
	keyDisplayLen   = 12 // characters of a token kept in clear to tell keys apart
)

// APIKey is a credential for the HTTP API. Only its SHA-256 hash is stored:
// tokens carry 256 random bits, so a fast hash is enough, and the hash is
// looked up through an index and then compared in constant time.
type APIKey struct {
	ID         string
	TenantID   string // empty for an admin key
	Prefix     string // the first characters of the token, to tell keys apart
	Hash       []byte
	CreatedAt  time.Time
	LastUsedAt time.Time // zero when never used
}

// Admin reports whether the key acts on every tenant.
func (k APIKey) Admin() bool { return k.TenantID == "" }

// NewAPIKey makes a key for tenantID (empty for an admin key) and returns it
// with the token, which is shown once and never stored.
func NewAPIKey(tenantID string, now time.Time) (APIKey, string) {
	prefix := TenantKeyPrefix
	if tenantID == "" {
		prefix = AdminKeyPrefix
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	token := prefix + base64.RawURLEncoding.EncodeToString(b)
	return KeyFromToken(tenantID, token, now), token
}

// KeyFromToken makes the stored form of a token chosen elsewhere, such as an
// admin key given on the command line.
func KeyFromToken(tenantID, token string, now time.Time) APIKey {
	// Show at most a third of a short token, so the prefix never gives
	// away most of a key chosen by hand.
	p := token[:min(keyDisplayLen, len(token)/3)]
	return APIKey{
		ID:        NewID(PrefixAPIKey),
		TenantID:  tenantID,
		Prefix:    p,
		Hash:      HashToken(token),
		CreatedAt: Timestamp(now),
	}
}

// HashToken returns the stored hash of an API key token.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
