package hook

import "time"

// DeliveryStatus is the state of one event's delivery to one endpoint.
type DeliveryStatus string

// Delivery statuses.
const (
	// DeliveryPending waits for its first attempt or a retry.
	DeliveryPending DeliveryStatus = "pending"
	// DeliverySucceeded got a 2xx answer.
	DeliverySucceeded DeliveryStatus = "succeeded"
	// DeliveryFailed exhausted its schedule: a dead letter, replayable.
	DeliveryFailed DeliveryStatus = "failed"
	// DeliveryCanceled will not be attempted: its endpoint was deleted.
	DeliveryCanceled DeliveryStatus = "canceled"
)

// Valid reports whether s is a known status.
func (s DeliveryStatus) Valid() bool {
	switch s {
	case DeliveryPending, DeliverySucceeded, DeliveryFailed, DeliveryCanceled:
		return true
	}
	return false
}

// Delivery is one event to one endpoint; there is at most one per pair.
// Retries and replays add attempts to it.
type Delivery struct {
	ID            string
	EventID       string
	EndpointID    string
	TenantID      string // the event's tenant, kept for filtering
	EventType     string // the event's type, kept for filtering
	Status        DeliveryStatus
	AttemptCount  int
	NextAttemptAt time.Time // zero when no attempt is due
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// NewDelivery makes the pending delivery of ev to ep, due at once.
func NewDelivery(ev Event, ep Endpoint, now time.Time) Delivery {
	now = Timestamp(now)
	return Delivery{
		ID:            NewID(PrefixDelivery),
		EventID:       ev.ID,
		EndpointID:    ep.ID,
		TenantID:      ev.TenantID,
		EventType:     ev.Type,
		Status:        DeliveryPending,
		NextAttemptAt: now,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
}
