package dispatch_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/dispatch"
	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/sender"
)

// TestClaimIntervalNoEmptyClaimAfterBurst: deliveries ingested within
// ClaimInterval of the last claim are claimed together when it ends, and
// that one claim is all they cost. The wakes that came during the wait
// were for deliveries the claim took; a claim one interval later, for
// them, finds nothing.
func TestClaimIntervalNoEmptyClaimAfterBurst(t *testing.T) {
	t.Parallel()
	const interval = time.Second
	var cs *countingStore
	e := newEnv(t, func(c *dispatch.Config, _ *sender.Config) {
		cs = &countingStore{Store: c.Store}
		c.Store = cs
		c.PollInterval = time.Hour
		c.ClaimInterval = interval
	})
	rcv := newReceiver(t, nil)
	e.endpoint(rcv.url())
	time.Sleep(interval + 100*time.Millisecond) // a quiet interval: the next claim runs at once
	e.waitStatus(e.sendOne("payout.paid").ID, hook.DeliverySucceeded)
	before := cs.claims.Load()
	var ids []string
	for range 5 {
		ids = append(ids, e.sendOne("payout.paid").ID)
	}
	for _, id := range ids {
		e.waitStatus(id, hook.DeliverySucceeded)
	}
	time.Sleep(interval + interval/2) // room for a claim the burst still asks for
	if n := cs.claims.Load() - before; n != 1 {
		t.Errorf("5 deliveries ingested within the claim interval took %d claims, want 1", n)
	}
}
