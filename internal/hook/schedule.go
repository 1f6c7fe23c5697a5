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
