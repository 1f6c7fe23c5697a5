package hook

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// The types of Herald's operational events. Endpoints receive them only by
// subscribing to them by name or with a "herald.*" pattern.
const (
	OpEndpointCreated   = OperationalPrefix + "endpoint.created"
	OpEndpointUpdated   = OperationalPrefix + "endpoint.updated"
	OpEndpointDeleted   = OperationalPrefix + "endpoint.deleted"
	OpEndpointDisabled  = OperationalPrefix + "endpoint.disabled"
	OpEndpointEnabled   = OperationalPrefix + "endpoint.enabled"
	OpDeliveryFailing   = OperationalPrefix + "delivery.failing"
	OpDeliveryExhausted = OperationalPrefix + "delivery.exhausted"
	OpDeliveryRecovered = OperationalPrefix + "delivery.recovered"
)

// FailingAttempts is the number of failed attempts after which a delivery
// is announced as failing, and which a later success announces as
// recovered. Four failures rule out a brief glitch (a deploy, a restart)
// while the default schedule still has hours of retries left.
const FailingAttempts = 4

// Operation is something that happened to an endpoint or a delivery, which
// Herald announces as operational events: one of the herald tenant, which
// its endpoints receive about every tenant, and one of the tenant concerned,
// which that tenant's own endpoints receive.
type Operation struct {
	Type       string // one of the Op* types
	TenantID   string
	EndpointID string
	DeliveryID string // of delivery operations
	EventID    string // the delivered event, of delivery operations
	EventType  string
	Attempts   int    // the delivery's attempts so far, of delivery operations
	StatusCode int    // of the last attempt, when it got an answer
	Reason     string // why, in words, when there is more to say than the type
	At         time.Time
	// Key names this occurrence, such as a delivery id and an attempt
	// number: the events of two operations with the same type and key have
	// the same ids, so that announcing one twice stores it once. Empty
	// gives fresh ids.
	Key string
}

// opData is the data of an operational event.
type opData struct {
	TenantID   string `json:"tenantId"`
	EndpointID string `json:"endpointId"`
	DeliveryID string `json:"deliveryId,omitempty"`
	EventID    string `json:"eventId,omitempty"`
	EventType  string `json:"eventType,omitempty"`
	Attempts   int    `json:"attempts,omitempty"`
	StatusCode int    `json:"statusCode,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// Events returns the events that announce o: one of OperationalTenant,
// then, unless o is about that tenant, one of o's tenant. Both carry the
// same data.
func (o Operation) Events() []Event {
	data, _ := json.Marshal(opData{ // strings and ints always marshal
		TenantID: o.TenantID, EndpointID: o.EndpointID, DeliveryID: o.DeliveryID,
		EventID: o.EventID, EventType: o.EventType, Attempts: o.Attempts,
		StatusCode: o.StatusCode, Reason: o.Reason,
	})
	tenants := []string{OperationalTenant}
	if o.TenantID != OperationalTenant {
		tenants = append(tenants, o.TenantID)
	}
	evs := make([]Event, len(tenants))
	for i, t := range tenants {
		evs[i] = Event{ID: o.eventID(t), TenantID: t, Type: o.Type, Data: data, CreatedAt: Timestamp(o.At)}
	}
	return evs
}

// eventID returns the id of o's event of tenant t: a hash of the type, the
// key and t when o has a key (event ids are unique across tenants), else a
// new id.
func (o Operation) eventID(t string) string {
	if o.Key == "" {
		return NewID(PrefixEvent)
	}
	h := sha256.Sum256([]byte(o.Type + "\x00" + o.Key + "\x00" + t))
	return PrefixEvent + "op_" + hex.EncodeToString(h[:16])
}

// DeliveryOperations returns the operations that the completed attempt a
// of delivery d (of event ev, to endpoint ep) announces: failing after the
// FailingAttempts-th failure, exhausted when status is DeliveryFailed, and
// recovered on a success after at least FailingAttempts failures. There are
// none about the delivery of an operational event, so that a failing
// receiver of them does not raise more of them without end.
func DeliveryOperations(d Delivery, ev Event, a Attempt, status DeliveryStatus) []Operation {
	if strings.HasPrefix(ev.Type, OperationalPrefix) || d.TenantID == OperationalTenant {
		return nil
	}
	op := func(typ, reason string) Operation {
		return Operation{
			Type: typ, TenantID: d.TenantID, EndpointID: d.EndpointID, DeliveryID: d.ID,
			EventID: ev.ID, EventType: ev.Type, Attempts: a.Number, StatusCode: a.StatusCode,
			Reason: reason, At: a.StartedAt.Add(a.Duration), Key: d.ID + "/" + strconv.Itoa(a.Number),
		}
	}
	var ops []Operation
	switch {
	case a.Succeeded():
		if a.Number > FailingAttempts {
			ops = append(ops, op(OpDeliveryRecovered, ""))
		}
	default:
		reason := a.ErrorMessage
		if reason == "" {
			reason = a.Error
		}
		if a.Number == FailingAttempts {
			ops = append(ops, op(OpDeliveryFailing, reason))
		}
		if status == DeliveryFailed {
			ops = append(ops, op(OpDeliveryExhausted, reason))
		}
	}
	return ops
}

// EndpointOperation returns the operation of type typ about ep at now.
func EndpointOperation(typ string, ep Endpoint, reason string, now time.Time) Operation {
	return Operation{Type: typ, TenantID: ep.TenantID, EndpointID: ep.ID, Reason: reason, At: now}
}
