package hook

import (
	"strings"
	"time"
	"unicode/utf8"
)

// OperationalTenant is the reserved tenant whose endpoints receive Herald's
// own operational events about every tenant. It exists from the first
// migration and cannot be created or deleted through the API.
const OperationalTenant = "herald"

// Tenant is one customer of the platform (a merchant). It owns endpoints and
// API keys; events are addressed to one tenant.
type Tenant struct {
	ID        string
	Name      string
	Metadata  map[string]string
	CreatedAt time.Time
}

// Validate checks the fields a caller may set.
func (t Tenant) Validate() error {
	var fe fieldErrors
	if !ValidID(t.ID) {
		fe.add("id", "must be 1 to 255 characters of A-Z, a-z, 0-9, _ and -")
	}
	if utf8.RuneCountInString(t.Name) > 255 {
		fe.add("name", "must be at most 255 characters")
	}
	checkText(&fe, "name", t.Name)
	validateMetadata(&fe, t.Metadata)
	return fe.err()
}

// Limits on metadata objects, so one object cannot grow without bound.
const (
	maxMetadataEntries = 50
	maxMetadataKey     = 64
	maxMetadataValue   = 512
)

// checkText refuses the NUL character in a free-text field: no store can
// keep it in a text column (PostgreSQL refuses it), and no name needs it.
func checkText(fe *fieldErrors, field, s string) {
	if strings.ContainsRune(s, 0) {
		fe.add(field, "must not contain the NUL character")
	}
}

func validateMetadata(fe *fieldErrors, m map[string]string) {
	if len(m) > maxMetadataEntries {
		fe.add("metadata", "must have at most %d entries", maxMetadataEntries)
		return
	}
	for k, v := range m {
		switch {
		case k == "" || len(k) > maxMetadataKey:
			fe.add("metadata", "keys must be 1 to %d bytes", maxMetadataKey)
			return
		case len(v) > maxMetadataValue:
			fe.add("metadata."+k, "must be at most %d bytes", maxMetadataValue)
		}
	}
}

// Timestamp returns t in UTC truncated to microseconds, the precision every
// store keeps, so that a time read back equals the time written.
func Timestamp(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}
