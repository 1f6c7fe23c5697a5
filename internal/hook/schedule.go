package hook

import (
	"errors"
	"fmt"
	"time"
)

// DefaultRetrySchedule is the delays before each retry after the first
// attempt, as the Standard Webhooks specification suggests: eleven attempts
// over about three and a half days.
var DefaultRetrySchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
	5 * time.Hour, 10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour,
}

// ValidateSchedule checks a retry schedule: at most 50 delays, each positive
// and at most 7 days. An empty schedule means a single attempt.
func ValidateSchedule(s []time.Duration) error {
	if len(s) > maxRetrySchedule {
		return fmt.Errorf("must have at most %d delays", maxRetrySchedule)
	}
	for _, d := range s {
		if d <= 0 || d > maxRetryDelay {
			return errors.New("each delay must be positive and at most 168h")
		}
	}
	return nil
}

// Retry policy limits.
const (
	// Jitter is the fraction by which each scheduled delay is spread, so
	// that deliveries failed together are not retried together.
	Jitter = 0.2
	// MaxRetryAfter caps how long an endpoint's Retry-After may postpone
	// the next attempt.
	MaxRetryAfter = 24 * time.Hour
)

// RetryDelay returns how long after attempt n (1 for the first) the next
// attempt comes under schedule, the delays before each retry, and false when
// the schedule is exhausted. r, in [0, 1), spreads the scheduled delay by up
// to ±Jitter (0.5 keeps it exact). retryAfter is what the endpoint asked for
// (0 if nothing); the delay is the later of the two, the request capped at
// MaxRetryAfter. The retry still counts as one of the schedule's.
func RetryDelay(schedule []time.Duration, n int, retryAfter time.Duration, r float64) (time.Duration, bool) {
	if n < 1 || n > len(schedule) {
		return 0, false
	}
	d := schedule[n-1]
	d += time.Duration(float64(d) * Jitter * (2*r - 1))
	return max(d, min(retryAfter, MaxRetryAfter)), true
}
