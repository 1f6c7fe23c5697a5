package hook

import "time"

// AttemptLogFilter follows the attempt log of every delivery: ordered by
// the order attempts were recorded, oldest first, newest last.
//
// Unlike other lists, a page of the attempt log always has a Next cursor,
// also when it is empty: a position at or after its last attempt, and never
// before the cursor it was asked with. Polling with it returns only
// attempts recorded since, so a client can follow the log as it grows (the
// CLI's tail). A full page means more attempts may follow at once.
type AttemptLogFilter struct {
	ListParams
	TenantID   string    // empty for every tenant
	EndpointID string    // empty for every endpoint
	Since      time.Time // StartedAt >= Since, unless zero
}

// StatsWindows are the windows of EndpointStats, shortest first.
var StatsWindows = [3]time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// EndpointStats describes an endpoint's recent deliveries and attempts over
// each of StatsWindows, in that order.
type EndpointStats struct {
	Windows [len(StatsWindows)]WindowStats
}

// WindowStats describes an endpoint's deliveries created, and attempts
// started, at or after Since.
type WindowStats struct {
	Since      time.Time
	Deliveries DeliveryCounts
	Attempts   int64 // attempts started in the window
	Succeeded  int64 // of which succeeded (see Attempt.Succeeded)
	// P50 and P99 are percentiles of the attempts' durations, interpolated
	// linearly between the two nearest attempts (PostgreSQL's
	// percentile_cont); zero when there was no attempt.
	P50, P99 time.Duration
}

// DeliveryCounts counts deliveries by their status now.
type DeliveryCounts struct {
	Pending, Succeeded, Failed, Canceled int64
}

// Add counts n deliveries of status s; an unknown status is not counted.
func (c *DeliveryCounts) Add(s DeliveryStatus, n int64) {
	switch s {
	case DeliveryPending:
		c.Pending += n
	case DeliverySucceeded:
		c.Succeeded += n
	case DeliveryFailed:
		c.Failed += n
	case DeliveryCanceled:
		c.Canceled += n
	}
}
