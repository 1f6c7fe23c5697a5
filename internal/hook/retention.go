package hook

import "time"

// ExpireParams is one batch of Store.DeleteExpired.
type ExpireParams struct {
	// Before is the retention's horizon: events created before it expire.
	Before time.Time
	// After is empty for the first batch, else the Next of the previous
	// batch of the same store.
	After string
	// Limit bounds the expired events the batch examines (deleted or kept
	// for a pending delivery), so that one batch stays short; at least 1.
	Limit int
}

// ExpireResult is what one batch of Store.DeleteExpired did.
type ExpireResult struct {
	// Deleted counts the events deleted, each with its deliveries and their
	// attempts.
	Deleted int
	// Next is the After of the following batch, or empty when the batch
	// examined every event that had expired.
	Next string
}
