package dispatch_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/dispatch"
	"github.com/heraldhq/herald/internal/hook"
)

// failFirst answers 500 to the first n requests and 200 after.
func failFirst(n int32) http.HandlerFunc {
	var seen atomic.Int32
	return func(w http.ResponseWriter, _ *http.Request) {
		if seen.Add(1) <= n {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}

// singleAttempt gives an endpoint no retries.
func singleAttempt(ep *hook.Endpoint) { ep.RetrySchedule = []time.Duration{} }

func TestRetryFailedDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := newReceiver(t, failFirst(2))
	ep := e.endpoint(r.url(), singleAttempt)
	r.verifyWith(ep)
	d := e.sendOne("payout.paid")
	e.waitStatus(d.ID, hook.DeliveryFailed)

	for range 2 {
		if _, err := e.store.RetryDelivery(context.Background(), d.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	e.d.Wake()
	got := e.wait(d.ID, "two replays", func(d hook.Delivery) bool { return d.AttemptCount == 3 && d.Status != hook.DeliveryPending })
	if got.Status != hook.DeliverySucceeded {
		t.Errorf("status after a failed and a successful replay: %s, want succeeded", got.Status)
	}
	reqs := r.requests()
	if len(reqs) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(reqs))
	}
	for i, rq := range reqs {
		if id := rq.header.Get("Webhook-Id"); id != d.EventID || rq.err != nil {
			t.Errorf("request %d: webhook-id %q, signature %v; want %q, valid", i+1, id, rq.err, d.EventID)
		}
	}
	for i, a := range e.attempts(d.ID) {
		if a.Number != i+1 {
			t.Errorf("attempt %d has number %d", i+1, a.Number)
		}
	}
}

func TestRecoverWindow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	r := newReceiver(t, failFirst(1))
	ep := e.endpoint(r.url(), singleAttempt)
	since := hook.Timestamp(time.Now().Add(-time.Second))
	failed := e.sendOne("payout.paid")
	e.waitStatus(failed.ID, hook.DeliveryFailed)
	if _, err := e.store.DisableEndpoint(ctx, ep.ID, "maintenance", time.Now()); err != nil {
		t.Fatal(err)
	}
	unsent := e.send("payout.paid")
	if len(unsent.Deliveries) != 0 {
		t.Fatalf("an event ingested while the endpoint was disabled made %d deliveries", len(unsent.Deliveries))
	}
	if _, err := e.store.EnableEndpoint(ctx, ep.ID, time.Now()); err != nil {
		t.Fatal(err)
	}

	job, err := e.store.CreateJob(ctx, hook.NewRecoverJob(ep, since, time.Now().Add(time.Second), time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	runner, err := dispatch.NewJobRunner(dispatch.JobConfig{Store: e.store, Poll: 10 * time.Millisecond, Batch: 1, Wake: e.d.Wake})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runner.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("JobRunner.Run: %v", err)
		}
	})

	e.waitStatus(failed.ID, hook.DeliverySucceeded)
	deadline := time.Now().Add(waitFor)
	for {
		ds, err := e.store.ListDeliveries(ctx, hook.DeliveryFilter{EventID: unsent.Event.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds.Items) == 1 && ds.Items[0].Status == hook.DeliverySucceeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the event ingested while disabled was not delivered: %+v", ds.Items)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The deliveries may succeed before the job's last batch, which finds
	// nothing more and ends it.
	var j hook.Job
	for deadline := time.Now().Add(waitFor); ; time.Sleep(5 * time.Millisecond) {
		if j, err = e.store.Job(ctx, job.ID); err != nil {
			t.Fatal(err)
		}
		if j.Status != hook.JobRunning || time.Now().After(deadline) {
			break
		}
	}
	// The window may also hold operational events stored for the tenant.
	if j.Status != hook.JobSucceeded || j.Total < 2 || j.Done != j.Total || j.FinishedAt.IsZero() {
		t.Errorf("job = %s, %d of %d, finished %s; want succeeded, every event of at least 2", j.Status, j.Done, j.Total, j.FinishedAt)
	}
	if n := len(r.requests()); n != 3 {
		t.Errorf("receiver got %d requests, want 3 (a failure, then both events)", n)
	}
}

// TestRetryPendingDelivery: a failed replay of a pending delivery keeps its
// place in the schedule: the replay does not count, so the next delay is
// still the first one.
func TestRetryPendingDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := newReceiver(t, failFirst(1<<30))
	e.endpoint(r.url(), func(ep *hook.Endpoint) { ep.RetrySchedule = []time.Duration{time.Hour, 2 * time.Hour} })
	d := e.sendOne("payout.paid")
	e.wait(d.ID, "a first attempt", func(d hook.Delivery) bool { return d.AttemptCount == 1 })

	start := time.Now()
	if _, err := e.store.RetryDelivery(context.Background(), d.ID, start); err != nil {
		t.Fatal(err)
	}
	e.d.Wake()
	got := e.wait(d.ID, "the replay", func(d hook.Delivery) bool { return d.AttemptCount == 2 })
	lo, hi := start.Add(time.Hour*8/10), time.Now().Add(time.Hour*12/10)
	if got.Status != hook.DeliveryPending || got.NextAttemptAt.Before(lo) || got.NextAttemptAt.After(hi) {
		t.Errorf("after a failed replay: %s, next %s; want pending, about an hour after %s", got.Status, got.NextAttemptAt, start)
	}
	if n := len(r.requests()); n != 2 {
		t.Errorf("receiver got %d requests, want 2", n)
	}
}
