package hook

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestMatchType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, typ string
		want         bool
	}{
		{"payout.paid", "payout.paid", true},
		{"payout.paid", "payout.paid.v2", false},
		{"payout.paid", "payout", false},
		{"payout.*", "payout.paid", true},
		{"payout.*", "payout.paid.v2", true},
		{"payout.*", "payout", false},
		{"payout.*", "payouts.paid", false},
		{"*", "payout.paid", true},
		{"*", "herald.endpoint.disabled", false},
		{"herald.*", "herald.endpoint.disabled", true},
		{"herald.endpoint.disabled", "herald.endpoint.disabled", true},
	}
	for _, tt := range tests {
		if got := MatchType(tt.pattern, tt.typ); got != tt.want {
			t.Errorf("MatchType(%q, %q) = %v, want %v", tt.pattern, tt.typ, got, tt.want)
		}
	}
	ep := Endpoint{Events: []string{}}
	if ep.Matches("payout.paid") {
		t.Error("an empty events list matched")
	}
}

func TestValidEventType(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"a", "payout.paid", "payout.paid.v2", "A-b_c.9", strings.Repeat("a", 255)} {
		if !ValidEventType(ok) {
			t.Errorf("ValidEventType(%q) = false, want true", ok)
		}
	}
	for _, bad := range []string{"", ".", "a.", ".a", "a..b", "a b", "a*", "payout.*", "é", strings.Repeat("a", 256)} {
		if ValidEventType(bad) {
			t.Errorf("ValidEventType(%q) = true, want false", bad)
		}
	}
}

func TestValidID(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"a", "evt_981", "A-9_z", strings.Repeat("x", 255)} {
		if !ValidID(ok) {
			t.Errorf("ValidID(%q) = false, want true", ok)
		}
	}
	for _, bad := range []string{"", "evt.981", "a b", "ü", strings.Repeat("x", 256)} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true, want false", bad)
		}
	}
}

func validEndpoint() Endpoint {
	return Endpoint{
		URL: "https://merchant.example.com/hooks", Events: []string{"payout.*"},
		SignatureScheme: SchemeStandard, MaxInFlight: DefaultMaxInFlight,
		Timeout: DefaultTimeout, Status: EndpointActive,
	}
}

func TestEndpointValidate(t *testing.T) {
	t.Parallel()
	if err := validEndpoint().Validate(); err != nil {
		t.Fatalf("valid endpoint: %v", err)
	}
	tests := []struct {
		field  string
		change func(*Endpoint)
	}{
		{"url", func(e *Endpoint) { e.URL = "" }},
		{"url", func(e *Endpoint) { e.URL = "ftp://x.example" }},
		{"url", func(e *Endpoint) { e.URL = "/relative" }},
		{"url", func(e *Endpoint) { e.URL = "https://user:pw@x.example/" }},
		{"url", func(e *Endpoint) { e.URL = "https://x.example/" + strings.Repeat("a", MaxURLLength) }},
		{"events", func(e *Endpoint) { e.Events = nil }},
		{"events", func(e *Endpoint) { e.Events = []string{"payout.*.paid"} }},
		{"events", func(e *Endpoint) { e.Events = []string{"*.paid"} }},
		{"signatureScheme", func(e *Endpoint) { e.SignatureScheme = "md5" }},
		{"headers.Host", func(e *Endpoint) { e.Headers = map[string]string{"Host": "x"} }},
		{"headers.content-type", func(e *Endpoint) { e.Headers = map[string]string{"content-type": "x"} }},
		{"headers.WEBHOOK-ID", func(e *Endpoint) { e.Headers = map[string]string{"WEBHOOK-ID": "x"} }},
		{"headers.Transfer-Encoding", func(e *Endpoint) { e.Headers = map[string]string{"Transfer-Encoding": "x"} }},
		{"headers.X-Token", func(e *Endpoint) { e.Headers = map[string]string{"X-Token": "a\r\nb"} }},
		{"headers", func(e *Endpoint) { e.Headers = map[string]string{"Bad Name": "x"} }},
		{"rateLimit", func(e *Endpoint) { e.RateLimit = -1 }},
		{"maxInFlight", func(e *Endpoint) { e.MaxInFlight = 0 }},
		{"timeout", func(e *Endpoint) { e.Timeout = 50 * time.Millisecond }},
		{"timeout", func(e *Endpoint) { e.Timeout = 31 * time.Second }},
		{"retrySchedule", func(e *Endpoint) { e.RetrySchedule = []time.Duration{time.Second, 0} }},
		{"metadata", func(e *Endpoint) { e.Metadata = map[string]string{"": "x"} }},
		{"description", func(e *Endpoint) { e.Description = "a\x00b" }},
	}
	for _, tt := range tests {
		e := validEndpoint()
		tt.change(&e)
		err := e.Validate()
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Fields) == 0 || ve.Fields[0].Field != tt.field {
			t.Errorf("%s: Validate() = %v, want a ValidationError naming %s", tt.field, err, tt.field)
		}
	}
	e := validEndpoint()
	e.Headers = map[string]string{"Authorization": "Bearer x", "X-Shop": "1"}
	if err := e.Validate(); err != nil {
		t.Errorf("custom headers refused: %v", err)
	}
}

func TestEventValidate(t *testing.T) {
	t.Parallel()
	ok := Event{Type: "payout.paid", Data: []byte(` {"n": 12345678901234567890123}`)}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid event: %v", err)
	}
	for name, ev := range map[string]Event{
		"id":        {ID: "a.b", Type: "x", Data: []byte(`{}`)},
		"type":      {Type: "herald.ping", Data: []byte(`{}`)},
		"type ":     {Type: "", Data: []byte(`{}`)},
		"data":      {Type: "x", Data: []byte(`[1]`)},
		"data ":     {Type: "x", Data: []byte(`{"a":`)},
		"data  ":    {Type: "x"},
		"data utf8": {Type: "x", Data: []byte("{\"a\":\"\xff\"}")},
	} {
		var ve *ValidationError
		err := ev.Validate()
		if !errors.As(err, &ve) || ve.Fields[0].Field != strings.Fields(name)[0] {
			t.Errorf("%s: Validate() = %v, want a ValidationError naming %s", name, err, strings.Fields(name)[0])
		}
		// Data that a parser accepted is checked alike, but for its syntax.
		if json.Valid(ev.Data) {
			if parsed := ev.ValidateParsed(); fmt.Sprint(parsed) != fmt.Sprint(err) {
				t.Errorf("%s: ValidateParsed() = %v, want %v as Validate()", name, parsed, err)
			}
		}
	}
	if err := ok.ValidateParsed(); err != nil {
		t.Errorf("valid event: ValidateParsed() = %v", err)
	}
}

func TestSameContent(t *testing.T) {
	t.Parallel()
	a := Event{ID: "e1", TenantID: "t", Type: "x", Data: []byte(`{"a": 1, "b": [1, 2]}`)}
	b := a
	b.Data = []byte(`{"a":1,"b":[1,2]}`)
	if !a.SameContent(b) {
		t.Error("white space made events differ")
	}
	for _, change := range []func(*Event){
		func(e *Event) { e.TenantID = "u" },
		func(e *Event) { e.Type = "y" },
		func(e *Event) { e.Data = []byte(`{"a":2,"b":[1,2]}`) },
		func(e *Event) { e.Data = []byte(`{"b":[1,2],"a":1}`) },
	} {
		c := a
		change(&c)
		if a.SameContent(c) {
			t.Errorf("SameContent(%+v) = true, want false", c)
		}
	}
}

func TestAPIKey(t *testing.T) {
	t.Parallel()
	k, token := NewAPIKey("acme", time.Now())
	if !strings.HasPrefix(token, TenantKeyPrefix) || k.Admin() || k.TenantID != "acme" {
		t.Errorf("tenant key = %+v, %q", k, token)
	}
	if len(k.Prefix) != keyDisplayLen || !strings.HasPrefix(token, k.Prefix) {
		t.Errorf("prefix %q is not a short prefix of the token", k.Prefix)
	}
	a, atok := NewAPIKey("", time.Now())
	if !a.Admin() || !strings.HasPrefix(atok, AdminKeyPrefix) {
		t.Errorf("admin key = %+v, %q", a, atok)
	}
	short := KeyFromToken("", "0123456789abcdef", time.Now())
	if len(short.Prefix) > 5 {
		t.Errorf("a 16-character token shows %q, more than a third", short.Prefix)
	}
}

func TestValidateSchedule(t *testing.T) {
	t.Parallel()
	if err := ValidateSchedule(DefaultRetrySchedule); err != nil {
		t.Errorf("default schedule: %v", err)
	}
	if err := ValidateSchedule(nil); err != nil {
		t.Errorf("empty schedule: %v", err)
	}
	if err := ValidateSchedule(make([]time.Duration, 51)); err == nil {
		t.Error("51 delays accepted")
	}
	if err := ValidateSchedule([]time.Duration{8 * 24 * time.Hour}); err == nil {
		t.Error("8 days accepted")
	}
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	s := []time.Duration{5 * time.Second, 5 * time.Minute}
	tests := []struct {
		name       string
		n          int
		retryAfter time.Duration
		r          float64
		want       time.Duration
		ok         bool
	}{
		{"first retry exact", 1, 0, 0.5, 5 * time.Second, true},
		{"second retry exact", 2, 0, 0.5, 5 * time.Minute, true},
		{"exhausted", 3, 0, 0.5, 0, false},
		{"no attempt yet", 0, 0, 0.5, 0, false},
		{"jitter low end", 1, 0, 0, 4 * time.Second, true},
		{"jitter high end", 2, 0, 1, 6 * time.Minute, true},
		{"retry-after later wins", 1, time.Minute, 0.5, time.Minute, true},
		{"schedule later wins", 2, time.Second, 0.5, 5 * time.Minute, true},
		{"retry-after capped", 1, 48 * time.Hour, 0.5, 24 * time.Hour, true},
		{"retry-after cannot extend an exhausted schedule", 3, time.Hour, 0.5, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := RetryDelay(s, tt.n, tt.retryAfter, tt.r)
			if got != tt.want || ok != tt.ok {
				t.Errorf("RetryDelay(n=%d, retryAfter=%s, r=%v) = %s, %v; want %s, %v",
					tt.n, tt.retryAfter, tt.r, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestTextRefusesNUL(t *testing.T) {
	t.Parallel()
	for name, err := range map[string]error{
		"tenant name":            Tenant{ID: "acme", Name: "A\x00"}.Validate(),
		"event type description": EventType{Name: "a.b", Description: "\x00"}.Validate(),
		"event type version":     EventType{Name: "a.b", Version: "1\x00"}.Validate(),
	} {
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s with NUL: Validate() = %v, want a ValidationError", name, err)
		}
	}
}

func TestDisableReason(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	fail := Outcome{Attempt: Attempt{StatusCode: 500, Error: "http_status"}, DisableAfter: time.Hour}
	ok := Outcome{Attempt: Attempt{StatusCode: 200}, DisableAfter: time.Hour}
	gone := fail
	gone.Disable = "gone"
	for _, tt := range []struct {
		name  string
		o     Outcome
		since time.Time
		want  string
	}{
		{"a new streak", fail, t0, ""},
		{"within the window", fail, t0.Add(-59 * time.Minute), ""},
		{"past the window", fail, t0.Add(-time.Hour), "failing since 2026-11-29T11:00:00Z: no successful delivery for 1h0m0s"},
		{"a success", ok, t0.Add(-2 * time.Hour), ""},
		{"not failing", fail, time.Time{}, ""},
		{"410", gone, time.Time{}, "gone"},
		{"never", Outcome{Attempt: fail.Attempt}, t0.Add(-100 * time.Hour), ""},
	} {
		if got := tt.o.DisableReason(tt.since, t0); got != tt.want {
			t.Errorf("%s: DisableReason = %q, want %q", tt.name, got, tt.want)
		}
	}
}
