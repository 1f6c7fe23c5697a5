package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// TestClaimStress ingests, claims, completes, fails, releases and disables
// concurrently, and checks the delivery invariants: one
// live lease at a time, MaxInFlight, no claim after a success or while the
// endpoint is disabled, and every delivery succeeds in the end.
func TestClaimStress(t *testing.T) {
	t.Parallel()
	const (
		nEP         = 4
		maxInFlight = 3
		perIngester = 150
	)
	db, eps, _ := claimSetup(t, Options{}, nEP, maxInFlight)
	ctx := context.Background()

	var (
		mu        sync.Mutex
		held      = map[string]bool{}
		inFlight  = map[string]int{}
		succeeded = map[string]bool{}
		created   = map[string]bool{}
		disabled  atomic.Int64 // odd: ep_3 is disabled (set after the disable returned)
		stop      atomic.Bool
		ingested  atomic.Int64
		wg        sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		t.Errorf(format, args...)
		stop.Store(true)
	}
	for g := range 2 {
		wg.Go(func() {
			for i := 0; i < perIngester && !stop.Load(); i += 5 {
				var evs []hook.Event
				for j := range 5 {
					id := fmt.Sprintf("evt_%d_%d", g, i+j)
					evs = append(evs, hook.Event{ID: id, TenantID: "acme", Type: fmt.Sprintf("t.%d", (i+j)%nEP), Data: []byte(`{"n":1}`)})
				}
				evs = append(evs, evs[0]) // a duplicate in the batch
				items, err := db.IngestBatch(ctx, evs)
				if err != nil {
					fail("ingest: %v", err)
					return
				}
				mu.Lock()
				for _, it := range items {
					for _, d := range it.Result.Deliveries {
						if created[d.ID] {
							fail("delivery %s created twice", d.ID)
						}
						created[d.ID] = true
					}
				}
				mu.Unlock()
				time.Sleep(time.Millisecond)
			}
			ingested.Add(1)
		})
	}
	wg.Go(func() {
		for !stop.Load() {
			time.Sleep(3 * time.Millisecond)
			if _, err := db.DisableEndpoint(ctx, eps[3].ID, "test", time.Now()); err != nil {
				fail("disable: %v", err)
				return
			}
			disabled.Add(1)
			time.Sleep(3 * time.Millisecond)
			disabled.Add(1)
			if _, err := db.EnableEndpoint(ctx, eps[3].ID, time.Now()); err != nil {
				fail("enable: %v", err)
				return
			}
		}
	})
	var attempts sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for !stop.Load() {
				gen := disabled.Load()
				cs, err := db.ClaimDeliveries(ctx, hook.ClaimParams{Now: time.Now(), Limit: 5, LeaseMargin: time.Hour, MaxPerEndpoint: 2})
				if err != nil {
					fail("claim: %v", err)
					return
				}
				stillDisabled := gen%2 == 1 && disabled.Load() == gen
				mu.Lock()
				for _, c := range cs {
					id := c.Delivery.ID
					switch {
					case held[id]:
						fail("delivery %s leased twice at once", id)
					case succeeded[id]:
						fail("delivery %s claimed after it succeeded", id)
					case stillDisabled && c.Endpoint.ID == eps[3].ID:
						fail("delivery %s claimed while its endpoint is disabled", id)
					}
					held[id] = true
					inFlight[c.Endpoint.ID]++
					if inFlight[c.Endpoint.ID] > maxInFlight {
						fail("endpoint %s: %d in flight, MaxInFlight %d", c.Endpoint.ID, inFlight[c.Endpoint.ID], maxInFlight)
					}
				}
				mu.Unlock()
				for _, c := range cs {
					attempts.Go(func() {
						time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
						mu.Lock()
						delete(held, c.Delivery.ID)
						inFlight[c.Endpoint.ID]--
						mu.Unlock()
						at := time.Now()
						a := hook.Attempt{ID: hook.NewID(hook.PrefixAttempt), DeliveryID: c.Delivery.ID, EndpointID: c.Endpoint.ID,
							TenantID: "acme", Number: c.Delivery.AttemptCount + 1, StartedAt: at, Duration: time.Microsecond, StatusCode: 200}
						var err error
						switch r := rand.IntN(10); {
						case r < 6:
							_, err = db.CompleteAttempt(ctx, c.Token, hook.Outcome{Attempt: a, Status: hook.DeliverySucceeded})
							if err == nil {
								mu.Lock()
								succeeded[c.Delivery.ID] = true
								mu.Unlock()
							}
						case r < 9:
							a.StatusCode, a.Error, a.NextRetryAt = 500, "status", at.Add(time.Duration(rand.IntN(5))*time.Millisecond)
							_, err = db.CompleteAttempt(ctx, c.Token, hook.Outcome{Attempt: a, Status: hook.DeliveryPending})
						default:
							err = db.ReleaseClaim(ctx, c.Delivery.ID, c.Token, at)
						}
						if err != nil {
							fail("complete %s: %v", c.Delivery.ID, err)
						}
					})
				}
				time.Sleep(200 * time.Microsecond)
			}
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for !stop.Load() {
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		all := ingested.Load() == 2 && len(succeeded) == len(created)
		mu.Unlock()
		if all {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			fail("after 30s: %d created, %d succeeded", len(created), len(succeeded))
			mu.Unlock()
		}
	}
	stop.Store(true)
	wg.Wait()
	attempts.Wait()
}
