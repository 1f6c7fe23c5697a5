package hook

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"
)

// OperationalPrefix begins the types of Herald's own operational events.
// Producers cannot send them.
const OperationalPrefix = "herald."

// MaxEventTypeLength bounds an event type name.
const MaxEventTypeLength = 255

// Event is one thing that happened in a tenant. It is immutable; its id is
// its idempotency key, unique across Herald.
type Event struct {
	ID        string
	TenantID  string
	Type      string
	Data      json.RawMessage // a JSON object, the bytes the producer sent
	CreatedAt time.Time
}

// ValidEventType reports whether t is dot-separated segments of
// [A-Za-z0-9_-], at most MaxEventTypeLength characters.
func ValidEventType(t string) bool {
	if t == "" || len(t) > MaxEventTypeLength {
		return false
	}
	for seg := range strings.SplitSeq(t, ".") { // not Split: a slice for each event ingested
		if seg == "" || strings.IndexFunc(seg, func(r rune) bool { return !idRune(r) }) >= 0 {
			return false
		}
	}
	return true
}

// Validate checks an event a producer sent. Herald's own herald.* types are
// refused; operational events are made by Herald itself.
func (e Event) Validate() error { return e.validate(true) }

// ValidateParsed is Validate for an event whose Data a JSON parser has
// already accepted as one value, as encoding/json does for a
// json.RawMessage: it does not check the syntax of Data again, which for
// kilobytes of data costs as much as parsing them did.
func (e Event) ValidateParsed() error { return e.validate(false) }

func (e Event) validate(syntax bool) error {
	var fe fieldErrors
	if e.ID != "" && !ValidID(e.ID) {
		fe.add("id", "must be 1 to 255 characters of A-Z, a-z, 0-9, _ and -")
	}
	switch {
	case e.Type == "":
		fe.add("type", "is required")
	case !ValidEventType(e.Type):
		fe.add("type", "must be dot-separated segments of A-Z, a-z, 0-9, _ and -, at most %d characters", MaxEventTypeLength)
	case strings.HasPrefix(e.Type, OperationalPrefix):
		fe.add("type", "types beginning with %q are reserved for Herald's operational events", OperationalPrefix)
	}
	switch {
	case len(e.Data) == 0:
		fe.add("data", "is required")
	case syntax && !json.Valid(e.Data):
		fe.add("data", "must be valid JSON")
	case !utf8.Valid(e.Data): // json.Valid accepts invalid UTF-8 in strings; RFC 8259 does not
		fe.add("data", "must be UTF-8")
	case bytes.TrimLeft(e.Data, " \t\r\n")[0] != '{':
		fe.add("data", "must be a JSON object")
	}
	return fe.err()
}

// SameContent reports whether o repeats e: the same id, tenant, type and
// data, where data that differs only in insignificant white space is the same.
func (e Event) SameContent(o Event) bool {
	if e.ID != o.ID || e.TenantID != o.TenantID || e.Type != o.Type {
		return false
	}
	return bytes.Equal(compact(e.Data), compact(o.Data))
}

func compact(b []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}

// EventType is an entry of the platform-wide catalogue of event types.
// Registering a type is optional; it documents the contract.
type EventType struct {
	Name        string
	Description string
	Version     string
	Schema      json.RawMessage // optional JSON Schema, stored and shown
	CreatedAt   time.Time
}

// Validate checks a catalogue entry.
func (t EventType) Validate() error {
	var fe fieldErrors
	if !ValidEventType(t.Name) {
		fe.add("name", "must be dot-separated segments of A-Z, a-z, 0-9, _ and -, at most %d characters", MaxEventTypeLength)
	}
	if len(t.Description) > maxDescription {
		fe.add("description", "must be at most %d bytes", maxDescription)
	}
	if len(t.Version) > 64 {
		fe.add("version", "must be at most 64 bytes")
	}
	checkText(&fe, "description", t.Description)
	checkText(&fe, "version", t.Version)
	if len(t.Schema) > 0 && (!json.Valid(t.Schema) || bytes.TrimLeft(t.Schema, " \t\r\n")[0] != '{') {
		fe.add("schema", "must be a JSON object")
	}
	return fe.err()
}

// AppendJSONString appends s to b as json.Marshal encodes it: as it is,
// quoted, when it is printable ASCII with nothing to escape (json.Marshal
// escapes '"', '\\' and, for HTML, '<', '>' and '&'); otherwise through
// json.Marshal. Ids, types and most header values are plain, and
// json.Marshal allocates for each.
func AppendJSONString(b []byte, s string) []byte {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
