package client

import (
	"encoding/json"
	"time"
)

// ListParams page through a list: Limit (0: the server's default of 50, at
// most 250) and the Cursor of the previous page's NextCursor.
type ListParams struct {
	Limit  int
	Cursor string
}

// Page is one page of a list. NextCursor is nil on the last page (except
// for ListAttempts, whose cursor always points past the newest attempt).
type Page[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"nextCursor"`
}

// Tenant is one customer of the platform.
type Tenant struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Metadata  map[string]string `json:"metadata"`
	CreatedAt time.Time         `json:"createdAt"`
}

// TenantInput creates a tenant; an empty ID is generated.
type TenantInput struct {
	ID       string            `json:"id,omitempty"`
	Name     string            `json:"name,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// APIKey is a tenant's API key, without the key itself.
type APIKey struct {
	ID         string     `json:"id"`
	TenantID   string     `json:"tenantId"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
}

// NewAPIKey is a key just created: the only time Key is shown.
type NewAPIKey struct {
	APIKey
	Key string `json:"key"`
}

// PortalLinkInput asks for a link to a tenant's portal.
type PortalLinkInput struct {
	ExpiresIn string `json:"expiresIn,omitempty"` // a duration such as "1h"; empty: the server's default
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

// PortalLink is a signed link to a tenant's portal.
type PortalLink struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Endpoint is a webhook endpoint, without its secret.
type Endpoint struct {
	ID                  string            `json:"id"`
	TenantID            string            `json:"tenantId"`
	URL                 string            `json:"url"`
	Description         string            `json:"description"`
	Events              []string          `json:"events"`
	SignatureScheme     string            `json:"signatureScheme"`
	PublicKey           string            `json:"publicKey,omitempty"`
	Headers             map[string]string `json:"headers"`
	RateLimit           *float64          `json:"rateLimit"`
	MaxInFlight         int               `json:"maxInFlight"`
	Timeout             string            `json:"timeout"`
	RetrySchedule       []string          `json:"retrySchedule"`
	Metadata            map[string]string `json:"metadata"`
	Status              string            `json:"status"`
	DisabledReason      string            `json:"disabledReason,omitempty"`
	CreatedAt           time.Time         `json:"createdAt"`
	UpdatedAt           time.Time         `json:"updatedAt"`
	LastSuccessAt       *time.Time        `json:"lastSuccessAt"`
	LastFailureAt       *time.Time        `json:"lastFailureAt"`
	ConsecutiveFailures int               `json:"consecutiveFailures"`
	FailingSince        *time.Time        `json:"failingSince"`
}

// EndpointWithSecret is an endpoint just created, with its signing secret.
type EndpointWithSecret struct {
	Endpoint
	Secret string `json:"secret"`
}

// EndpointInput registers an endpoint. URL and Events are required;
// TenantID is required with the admin key.
type EndpointInput struct {
	TenantID        string            `json:"tenantId,omitempty"`
	URL             string            `json:"url"`
	Description     string            `json:"description,omitempty"`
	Events          []string          `json:"events"`
	Secret          string            `json:"secret,omitempty"`
	SignatureScheme string            `json:"signatureScheme,omitempty"`
	Headers         map[string]string `json:"headers,omitempty"`
	RateLimit       float64           `json:"rateLimit,omitempty"`
	MaxInFlight     *int              `json:"maxInFlight,omitempty"`
	Timeout         string            `json:"timeout,omitempty"`
	RetrySchedule   []string          `json:"retrySchedule,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
}

// EndpointPatch changes an endpoint (a JSON merge patch): nil fields stay
// as they are, Reset names fields to return to their defaults, and a nil
// value in Headers or Metadata removes that entry.
type EndpointPatch struct {
	URL             *string            `json:"url,omitempty"`
	Description     *string            `json:"description,omitempty"`
	Events          []string           `json:"events,omitempty"`
	SignatureScheme *string            `json:"signatureScheme,omitempty"`
	Headers         map[string]*string `json:"headers,omitempty"`
	RateLimit       *float64           `json:"rateLimit,omitempty"`
	MaxInFlight     *int               `json:"maxInFlight,omitempty"`
	Timeout         *string            `json:"timeout,omitempty"`
	RetrySchedule   []string           `json:"retrySchedule,omitempty"`
	Metadata        map[string]*string `json:"metadata,omitempty"`
	// Reset lists JSON field names ("rateLimit", "timeout", …) to send as
	// null, which resets them to the server's default.
	Reset []string `json:"-"`
}

// MarshalJSON encodes the patch with a null for each field in Reset.
func (p EndpointPatch) MarshalJSON() ([]byte, error) {
	type plain EndpointPatch
	b, err := json.Marshal(plain(p))
	if err != nil || len(p.Reset) == 0 {
		return b, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for _, f := range p.Reset {
		m[f] = json.RawMessage("null")
	}
	return json.Marshal(m)
}

// Secret is an endpoint's signing secret and the older ones that still sign.
type Secret struct {
	Secret    string      `json:"secret"`
	PublicKey string      `json:"publicKey,omitempty"`
	Old       []OldSecret `json:"old,omitempty"`
}

// OldSecret is an earlier secret that signs until ExpiresAt.
type OldSecret struct {
	Secret    string    `json:"secret"`
	PublicKey string    `json:"publicKey,omitempty"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// RotateInput asks for a new signing secret. Empty Secret: one is
// generated; empty ExpireOldAfter: the server's default overlap (24h).
type RotateInput struct {
	Secret         string `json:"secret,omitempty"`
	ExpireOldAfter string `json:"expireOldAfter,omitempty"`
}

// RecoverInput is the window of events to recover; zero Until means now.
type RecoverInput struct {
	Since time.Time  `json:"since"`
	Until *time.Time `json:"until,omitempty"`
}

// EndpointStats are an endpoint's delivery statistics.
type EndpointStats struct {
	EndpointID string `json:"endpointId"`
	Windows    struct {
		Hour WindowStats `json:"hour"`
		Day  WindowStats `json:"day"`
		Week WindowStats `json:"week"`
	} `json:"windows"`
	At time.Time `json:"at"`
}

// WindowStats cover the time from Since to EndpointStats.At.
type WindowStats struct {
	Since      time.Time `json:"since"`
	Deliveries struct {
		Pending   int64 `json:"pending"`
		Succeeded int64 `json:"succeeded"`
		Failed    int64 `json:"failed"`
		Canceled  int64 `json:"canceled"`
	} `json:"deliveries"`
	Attempts    int64    `json:"attempts"`
	SuccessRate *float64 `json:"successRate"`
	LatencyMs   struct {
		P50 *float64 `json:"p50"`
		P99 *float64 `json:"p99"`
	} `json:"latencyMs"`
}

// Event is an event as stored.
type Event struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	TenantID  string          `json:"tenantId"`
	CreatedAt time.Time       `json:"createdAt"`
	Data      json.RawMessage `json:"data"`
}

// EventInput sends an event. Type and Data (a JSON object) are required,
// TenantID too with the admin key. Give an ID to make sending idempotent.
type EventInput struct {
	ID       string          `json:"id,omitempty"`
	Type     string          `json:"type"`
	TenantID string          `json:"tenantId,omitempty"`
	Data     json.RawMessage `json:"data"`
}

// SentEvent is the answer to SendEvent. Duplicate is true when the event
// was stored before (the same id and content), and nothing was created.
type SentEvent struct {
	Event
	Duplicate bool `json:"-"`
}

// EventType is an entry of the catalogue of event types.
type EventType struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Version     string          `json:"version"`
	Schema      json.RawMessage `json:"schema"`
	CreatedAt   time.Time       `json:"createdAt"`
}

// EventTypeInput adds an event type; Schema is an optional JSON Schema.
type EventTypeInput struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Version     string          `json:"version,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
}

// Delivery is one event to one endpoint.
type Delivery struct {
	ID            string     `json:"id"`
	EventID       string     `json:"eventId"`
	EndpointID    string     `json:"endpointId"`
	TenantID      string     `json:"tenantId"`
	EventType     string     `json:"eventType"`
	Status        string     `json:"status"`
	AttemptCount  int        `json:"attemptCount"`
	NextAttemptAt *time.Time `json:"nextAttemptAt"`
	CreatedAt     time.Time  `json:"createdAt"`
	UpdatedAt     time.Time  `json:"updatedAt"`
}

// DeliveryDetail is a delivery with its first 100 attempts.
type DeliveryDetail struct {
	Delivery
	Attempts []Attempt `json:"attempts"`
}

// Attempt is one HTTP request of a delivery.
type Attempt struct {
	ID              string            `json:"id"`
	DeliveryID      string            `json:"deliveryId"`
	EndpointID      string            `json:"endpointId"`
	Attempt         int               `json:"attempt"`
	StartedAt       time.Time         `json:"startedAt"`
	DurationMs      float64           `json:"durationMs"`
	RequestHeaders  map[string]string `json:"requestHeaders"`
	StatusCode      *int              `json:"statusCode"`
	ResponseHeaders map[string]string `json:"responseHeaders"`
	ResponseBody    string            `json:"responseBody"`
	Error           *string           `json:"error"`
	ErrorMessage    string            `json:"errorMessage"`
	NextRetryAt     *time.Time        `json:"nextRetryAt"`
}

// Succeeded reports whether the attempt got a 2xx answer.
func (a Attempt) Succeeded() bool { return a.Error == nil }

// Job is a background job, such as a recovery.
type Job struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	EndpointID string     `json:"endpointId"`
	Status     string     `json:"status"` // running, succeeded or failed
	Total      int        `json:"total"`
	Done       int        `json:"done"`
	Error      string     `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"createdAt"`
	FinishedAt *time.Time `json:"finishedAt"`
}

// Filters of the lists that take them. Zero fields do not filter;
// TenantID is for the admin key.
type (
	EndpointFilter struct {
		ListParams
		TenantID string
	}
	EventFilter struct {
		ListParams
		TenantID, Type string
		Since, Until   time.Time
	}
	DeliveryFilter struct {
		ListParams
		TenantID, EndpointID, EventID, EventType, Status string
		Since, Until                                     time.Time
	}
	AttemptFilter struct {
		ListParams
		TenantID, EndpointID string
		Since                time.Time
	}
)
