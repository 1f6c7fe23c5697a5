package hook

import (
	"fmt"
	"net/http"
	"time"
)

// Attempt is one try at a delivery: the request Herald sent and what came
// back. Attempts are immutable once recorded.
type Attempt struct {
	ID             string
	DeliveryID     string
	EndpointID     string
	TenantID       string
	Number         int // 1 for the first attempt of the delivery
	StartedAt      time.Time
	Duration       time.Duration
	RequestHeader  http.Header // as sent; custom header values redacted
	StatusCode     int         // 0 when no response arrived
	ResponseHeader http.Header
	ResponseBody   []byte // the stored part, at most 16 KiB
	// Error is the failure class (sender.ErrorClass values: "timeout",
	// "dns", "refused", "tls", "blocked_destination", "redirect", "reset",
	// "interrupted", "http_status"); empty on success.
	Error        string
	ErrorMessage string
	NextRetryAt  time.Time // zero when no retry follows
}

// Succeeded reports whether the attempt got a 2xx answer.
func (a Attempt) Succeeded() bool { return a.Error == "" && a.StatusCode >= 200 && a.StatusCode < 300 }

// AttemptFilter selects a delivery's attempts; ordered oldest first.
type AttemptFilter struct {
	ListParams
	DeliveryID string // required
}

// ClaimParams says which due deliveries a dispatcher wants.
type ClaimParams struct {
	// Now is the claim time: deliveries due at or before it, and leases
	// that expired at or before it, are claimable.
	Now time.Time
	// Limit is the most claims returned.
	Limit int
	// LeaseMargin is added to each endpoint's timeout to make the lease.
	LeaseMargin time.Duration
	// MaxPerEndpoint, when positive, is the most claims one endpoint gets
	// from this call.
	MaxPerEndpoint int
	// EndpointLimits lowers the number of new claims for some endpoints,
	// such as 0 for an endpoint whose circuit is open, or 1 for its probe.
	// An endpoint absent here is limited only by its MaxInFlight.
	EndpointLimits map[string]int
}

// Claim is a delivery leased to one dispatcher until LeaseUntil, with what
// it needs to make the attempt. Token fences the completion: once the lease
// has expired and another dispatcher has claimed the delivery, completing
// or releasing with the old token fails with ErrConflict.
type Claim struct {
	Delivery   Delivery
	Event      Event
	Endpoint   Endpoint
	Token      string
	LeaseUntil time.Time
	Replay     Replay // the delivery's manual attempts
}

// Outcome is what an attempt did, for Store.CompleteAttempt.
type Outcome struct {
	// Attempt is recorded as given; its Number must be the delivery's
	// AttemptCount plus one.
	Attempt Attempt
	// Status is the delivery's new status: succeeded, failed (schedule
	// exhausted) or pending (with Attempt.NextRetryAt as its next time).
	Status DeliveryStatus
	// Disable, when not empty, disables the endpoint with this reason (a
	// 410 Gone answer).
	Disable string
	// DisableAfter disables the endpoint when this attempt failed and the
	// endpoint's failure streak began at least this long before it; zero
	// never does.
	DisableAfter time.Duration
	// Replay is true when the attempt was a replay (Claim.Replay.Queued):
	// it uses up one queued replay and does not count toward the schedule.
	Replay bool
}

// QueueStats counts pending deliveries, for metrics.
type QueueStats struct {
	Pending int64 // every pending delivery
	Due     int64 // pending, due now and not leased
	Leased  int64 // pending and leased to a dispatcher
}

// Check returns an error when o's Status is not one an attempt can leave
// its delivery in: pending (a retry is due), succeeded or failed.
func (o Outcome) Check() error {
	switch o.Status {
	case DeliveryPending, DeliverySucceeded, DeliveryFailed:
		return nil
	}
	return fmt.Errorf("delivery status %q is not an attempt's outcome", o.Status)
}

// DisableReason returns why the endpoint is to be disabled after o, an
// attempt recorded at t when its failure streak began at failingSince (zero
// when not failing), or "" when it stays active: o.Disable, or a failure
// more than o.DisableAfter after the streak began.
func (o Outcome) DisableReason(failingSince, t time.Time) string {
	if o.Disable != "" {
		return o.Disable
	}
	if o.DisableAfter <= 0 || o.Attempt.Succeeded() || failingSince.IsZero() || failingSince.After(t.Add(-o.DisableAfter)) {
		return ""
	}
	return fmt.Sprintf("failing since %s: no successful delivery for %s",
		failingSince.Format(time.RFC3339), t.Sub(failingSince).Round(time.Second))
}
