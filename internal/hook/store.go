package hook

import (
	"context"
	"slices"
	"time"
)

// Page is one page of a list. Next is the cursor of the following page, or
// empty when this page is the last.
type Page[T any] struct {
	Items []T
	Next  string
}

// ListParams pages through a list. A zero Limit means DefaultLimit; stores
// cap it at MaxLimit. Cursor is empty for the first page, else a Next value
// the same store returned for the same list (ErrInvalidCursor otherwise).
type ListParams struct {
	Cursor string
	Limit  int
}

// List limits.
const (
	DefaultLimit = 50
	MaxLimit     = 250
)

// PageLimit returns the limit a store applies.
func (p ListParams) PageLimit() int {
	switch {
	case p.Limit <= 0:
		return DefaultLimit
	case p.Limit > MaxLimit:
		return MaxLimit
	}
	return p.Limit
}

// EndpointFilter selects endpoints; ordered by id, oldest first.
type EndpointFilter struct {
	ListParams
	TenantID string // empty for every tenant
}

// EventFilter selects events; ordered newest first.
type EventFilter struct {
	ListParams
	TenantID string    // empty for every tenant
	Type     string    // exact type; empty for every type
	Since    time.Time // createdAt >= Since, unless zero
	Until    time.Time // createdAt < Until, unless zero
}

// DeliveryFilter selects deliveries; ordered newest first.
type DeliveryFilter struct {
	ListParams
	TenantID   string         // empty for every tenant
	EventID    string         // empty for every event
	EndpointID string         // empty for every endpoint
	EventType  string         // exact type; empty for every type
	Status     DeliveryStatus // empty for every status
	Since      time.Time      // createdAt >= Since, unless zero
	Until      time.Time      // createdAt < Until, unless zero
}

// IngestItem is what Store.IngestBatch did with one event: a result, or
// the error that kept that event out (ErrNotFound: no such tenant).
type IngestItem struct {
	Result IngestResult
	Err    error
}

// StampEvents returns a copy of evs for a store to ingest: a zero CreatedAt
// becomes now, and every CreatedAt is a Timestamp.
func StampEvents(evs []Event, now time.Time) []Event {
	evs = slices.Clone(evs)
	for i := range evs {
		if evs[i].CreatedAt.IsZero() {
			evs[i].CreatedAt = now
		}
		evs[i].CreatedAt = Timestamp(evs[i].CreatedAt)
	}
	return evs
}

// IngestResult is what Store.Ingest did.
type IngestResult struct {
	// Event is the stored event: the one given, or, when Duplicate, the one
	// stored earlier under the same id (which may differ in content or
	// tenant; the caller decides whether the repeat is the same event).
	Event Event
	// Deliveries are the deliveries created, one for each active endpoint
	// of the event's tenant that matches its type; none when Duplicate.
	Deliveries []Delivery
	// Duplicate is true when an event with this id existed; nothing was
	// written.
	Duplicate bool
}

// Store is Herald's storage. Every implementation passes the storetest
// suite. Endpoint secrets are encrypted at rest by the store; API keys are
// stored only as hashes. Times are kept to the microsecond (see Timestamp).
// Methods return ErrNotFound, ErrConflict or ErrInvalidCursor (possibly
// wrapped) for those conditions.
type Store interface {
	// Migrate applies every pending migration; it is safe to call again.
	Migrate(ctx context.Context) error
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error

	// CreateTenant stores a new tenant; ErrConflict when the id is taken,
	// also by a deleted tenant (whose events may still be retained).
	CreateTenant(ctx context.Context, t Tenant) error
	Tenant(ctx context.Context, id string) (Tenant, error)
	// ListTenants lists tenants ordered by id.
	ListTenants(ctx context.Context, p ListParams) (Page[Tenant], error)
	// DeleteTenant removes a tenant with its endpoints and API keys; the
	// pending deliveries of its endpoints become canceled. Its events and
	// deliveries stay.
	DeleteTenant(ctx context.Context, id string, now time.Time) error

	// CreateAPIKey stores a key; ErrConflict when its hash or id exists.
	CreateAPIKey(ctx context.Context, k APIKey) error
	// CreateFirstAdminKey stores k only when no admin key exists, atomically
	// even when several processes start together, and reports whether it did.
	CreateFirstAdminKey(ctx context.Context, k APIKey) (bool, error)
	// APIKeyByHash finds the key whose token hashes to hash, looking it up
	// by an index and then comparing the stored hash in constant time.
	APIKeyByHash(ctx context.Context, hash []byte) (APIKey, error)
	// ListAPIKeys lists a tenant's keys ordered by id.
	ListAPIKeys(ctx context.Context, tenantID string, p ListParams) (Page[APIKey], error)
	// DeleteAPIKey removes a tenant's key; ErrNotFound when that tenant has
	// no such key.
	DeleteAPIKey(ctx context.Context, tenantID, id string) error
	// TouchAPIKey sets a key's LastUsedAt; ErrNotFound when it does not
	// exist.
	TouchAPIKey(ctx context.Context, id string, at time.Time) error

	// CreateEndpoint stores a new endpoint; ErrNotFound when its tenant does
	// not exist.
	CreateEndpoint(ctx context.Context, e Endpoint) error
	Endpoint(ctx context.Context, id string) (Endpoint, error)
	ListEndpoints(ctx context.Context, f EndpointFilter) (Page[Endpoint], error)
	// UpdateEndpoint replaces the endpoint's configuration: every field but
	// its id, tenant, CreatedAt, status (with DisabledReason) and health,
	// which the delivery engine owns and which an update computed from an
	// earlier read must not undo. Nil Secrets keep the stored ones, so that
	// an update does not undo a rotation that committed since its read.
	UpdateEndpoint(ctx context.Context, e Endpoint) error
	// DeleteEndpoint removes an endpoint; its pending deliveries become
	// canceled and its delivery log stays.
	DeleteEndpoint(ctx context.Context, id string, now time.Time) error
	// DisableEndpoint sets the endpoint's status to disabled with reason
	// and UpdatedAt to now, and returns it; its pending deliveries wait.
	DisableEndpoint(ctx context.Context, id, reason string, now time.Time) (Endpoint, error)
	// EnableEndpoint makes the endpoint active, clears DisabledReason,
	// resets its failure streak (ConsecutiveFailures, FailingSince) and sets
	// UpdatedAt to now; its pending deliveries due later than now become due
	// at now, in one transaction. It returns the endpoint.
	EnableEndpoint(ctx context.Context, id string, now time.Time) (Endpoint, error)
	// RotateEndpointSecret replaces the endpoint's secrets with
	// Rotate(secrets, r) and sets UpdatedAt to r.Now, reading and writing
	// in one transaction so that concurrent rotations are not lost. It
	// returns the endpoint, or Rotate's error (ErrTooManySecrets).
	RotateEndpointSecret(ctx context.Context, id string, r SecretRotation) (Endpoint, error)

	// Ingest stores ev and one pending delivery for each active endpoint of
	// its tenant whose events match its type, in one transaction, durably,
	// before it returns. When an event with ev.ID exists it writes nothing
	// and returns that event with Duplicate set; otherwise ErrNotFound when
	// the event's tenant does not exist.
	Ingest(ctx context.Context, ev Event) (IngestResult, error)
	// IngestBatch ingests every event of evs as Ingest would, all in one
	// transaction, durably, before it returns: item i answers evs[i]. An
	// event whose tenant does not exist gets ErrNotFound in its item and
	// writes nothing; the others are stored. A later event with the id of
	// an earlier one of the same batch is its Duplicate. The error is for
	// the batch as a whole: when it is not nil nothing was written.
	IngestBatch(ctx context.Context, evs []Event) ([]IngestItem, error)
	Event(ctx context.Context, id string) (Event, error)
	ListEvents(ctx context.Context, f EventFilter) (Page[Event], error)

	Delivery(ctx context.Context, id string) (Delivery, error)
	ListDeliveries(ctx context.Context, f DeliveryFilter) (Page[Delivery], error)

	// ClaimDeliveries leases up to p.Limit pending deliveries that are due
	// (NextAttemptAt <= p.Now) and not leased (or whose lease expired), of
	// active endpoints only, each with a new token and a lease until p.Now
	// plus its endpoint's timeout plus p.LeaseMargin. Per endpoint it never
	// lets the leased deliveries exceed the endpoint's MaxInFlight (counted
	// across every dispatcher sharing the store) nor the new claims exceed
	// p.EndpointLimits. Claims are fair: every endpoint's earliest due
	// delivery comes before any endpoint's second, so a large backlog of one
	// endpoint does not delay another's.
	ClaimDeliveries(ctx context.Context, p ClaimParams) ([]Claim, error)
	// CompleteAttempt records o.Attempt, sets the delivery's status, attempt
	// count and next attempt time, ends the lease and updates the endpoint's
	// health (and status, see Outcome), in one transaction. ErrConflict when
	// token no longer holds the delivery's lease; nothing is written then.
	// It returns the reason it disabled the endpoint for, empty when this
	// attempt did not disable it, so that the disabling can be announced.
	CompleteAttempt(ctx context.Context, token string, o Outcome) (disabled string, err error)
	// ReleaseClaim ends a lease without an attempt: the delivery is due
	// again at next, its attempt count unchanged. ErrConflict when token no
	// longer holds the lease.
	ReleaseClaim(ctx context.Context, deliveryID, token string, next time.Time) error
	// ListAttempts lists a delivery's attempts, oldest first.
	ListAttempts(ctx context.Context, f AttemptFilter) (Page[Attempt], error)
	// ListAttemptLog lists the attempts of every delivery in the order they
	// were recorded, newest last; see AttemptLogFilter for its cursor.
	ListAttemptLog(ctx context.Context, f AttemptLogFilter) (Page[Attempt], error)
	// EndpointStats describes the endpoint's deliveries and attempts over
	// the StatsWindows before now; an unknown endpoint has none.
	EndpointStats(ctx context.Context, endpointID string, now time.Time) (EndpointStats, error)
	// QueueStats counts pending deliveries at now.
	QueueStats(ctx context.Context, now time.Time) (QueueStats, error)

	// DeleteExpired deletes, in one short transaction, the expired events
	// among the next p.Limit events created before p.Before (oldest first,
	// from p.After), with their deliveries and attempts. An event that has
	// a pending delivery is kept with all its deliveries. Retention calls it
	// until Next is empty.
	DeleteExpired(ctx context.Context, p ExpireParams) (ExpireResult, error)

	replayStore // retries, event replays and recover jobs: see replay.go

	// CreateEventType adds a catalogue entry; ErrConflict when the name is
	// taken.
	CreateEventType(ctx context.Context, t EventType) error
	// ListEventTypes lists the catalogue ordered by name.
	ListEventTypes(ctx context.Context, p ListParams) (Page[EventType], error)
}
