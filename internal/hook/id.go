package hook

import (
	"strings"

	"github.com/oklog/ulid/v2"
)

// Prefixes of the ids Herald makes. Ids are the prefix followed by a ULID, so
// they sort by creation time.
const (
	PrefixEvent    = "evt_"
	PrefixEndpoint = "ep_"
	PrefixDelivery = "dlv_"
	PrefixAttempt  = "att_"
	PrefixAPIKey   = "key_"
	PrefixTenant   = "ten_" // for tenants created without a caller-chosen id
)

// NewID returns a new prefixed, time-sortable id such as "evt_01J…".
func NewID(prefix string) string {
	return prefix + ulid.Make().String()
}

// ValidID reports whether s is a valid caller-chosen id (tenant and event
// ids): 1 to 255 characters of [A-Za-z0-9_-]. The id is part of the signed
// content of a webhook, so it may not contain ".".
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool { return !idRune(r) }) < 0
}

func idRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
}
