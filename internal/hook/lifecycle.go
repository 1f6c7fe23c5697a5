package hook

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Endpoint lifecycle limits and defaults.
const (
	// MaxOldSecrets is how many earlier secrets may still sign at once:
	// each rotation keeps the previous secret until it expires, and a
	// rotation that would keep an eleventh is refused.
	MaxOldSecrets = 10
	// DefaultSecretOverlap is how long the previous secret keeps signing
	// after a rotation, so that receivers can switch to the new one.
	DefaultSecretOverlap = 24 * time.Hour
	// MaxSecretOverlap bounds that time.
	MaxSecretOverlap = 7 * 24 * time.Hour
)

// DisabledByAPI is the DisabledReason of an endpoint disabled through the
// API without a reason of its own.
const DisabledByAPI = "disabled by API"

// PingType is the type of the event POST …/test sends.
const PingType = OperationalPrefix + "ping"

// ErrTooManySecrets means a rotation would keep more than MaxOldSecrets
// unexpired old secrets. It is an ErrConflict.
var ErrTooManySecrets = fmt.Errorf("%w: more than %d old secrets would still sign", ErrConflict, MaxOldSecrets)

// SecretRotation is one rotation of an endpoint's signing key.
type SecretRotation struct {
	Key       string    // the new current secret, already checked for the scheme
	ExpireOld time.Time // when the previous current secret stops signing
	Now       time.Time // old secrets expired at Now are dropped
}

// Rotate returns the secrets after r: r.Key first, then the previous
// current secret expiring at r.ExpireOld, then the earlier old secrets that
// have not expired at r.Now. A secret that expires at or before r.Now is
// dropped, so an ExpireOld of r.Now revokes the previous secret at once.
//
// It fails with ErrTooManySecrets when more than MaxOldSecrets old ones
// would remain, and with ErrConflict when r.Key is already one of the
// remaining keys or is not of the current key's kind (whsec_ or whsk_),
// which happens when the signature scheme changed since the caller checked
// the key.
func Rotate(secrets []Secret, r SecretRotation) ([]Secret, error) {
	if len(secrets) > 0 && keyKind(secrets[0].Key) != keyKind(r.Key) {
		return nil, fmt.Errorf("%w: the new key is not of the kind of the current one", ErrConflict)
	}
	out := []Secret{{Key: r.Key}}
	for i, s := range secrets {
		if i == 0 && s.ExpiresAt.IsZero() {
			s.ExpiresAt = Timestamp(r.ExpireOld)
		}
		if !s.ExpiresAt.After(r.Now) {
			continue
		}
		if s.Key == r.Key {
			return nil, fmt.Errorf("%w: the new key is already a key of the endpoint", ErrConflict)
		}
		out = append(out, s)
	}
	if len(out)-1 > MaxOldSecrets {
		return nil, ErrTooManySecrets
	}
	return out, nil
}

// keyKind is the prefix of a signing key, such as "whsec_".
func keyKind(k string) string {
	i := strings.IndexByte(k, '_')
	return k[:i+1]
}

// NewPing returns the herald.ping event that POST …/test sends to ep: a new
// id, the endpoint's tenant, and data naming the endpoint.
func NewPing(ep Endpoint, now time.Time) Event {
	data, _ := json.Marshal(struct { // strings always marshal
		EndpointID string `json:"endpointId"`
		TenantID   string `json:"tenantId"`
	}{ep.ID, ep.TenantID})
	return Event{ID: NewID(PrefixEvent), TenantID: ep.TenantID, Type: PingType, Data: data, CreatedAt: Timestamp(now)}
}
