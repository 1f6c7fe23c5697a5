package storetest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

func testReplay(t *testing.T, open OpenFunc) {
	t.Run("RetryFailed", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		t0 := hook.Timestamp(now)
		createTenant(t, s, "acme")
		createEndpoint(t, s, "acme", "*")
		d := ingestN(t, s, "acme", "payout.paid", 1)[0]
		c := claimOne(t, s, t0)
		a := attemptOf(c, t0, http.StatusServiceUnavailable)
		complete(t, s, c, hook.Outcome{Attempt: a, Status: hook.DeliveryFailed})

		t1 := t0.Add(time.Hour)
		for range 2 {
			if _, err := s.RetryDelivery(t.Context(), d.ID, t1); err != nil {
				t.Fatalf("RetryDelivery: %v", err)
			}
		}
		got := getDelivery(t, s, d.ID)
		if got.Status != hook.DeliveryPending || !got.NextAttemptAt.Equal(t1) || got.AttemptCount != 1 {
			t.Fatalf("after two retries: status %s, next %s, attempts %d; want pending, %s, 1",
				got.Status, got.NextAttemptAt, got.AttemptCount, t1)
		}
		c = claimOne(t, s, t1)
		diff(t, "first replay", c.Replay, hook.Replay{Queued: true, RestoreStatus: hook.DeliveryFailed})
		a = attemptOf(c, t1, http.StatusServiceUnavailable)
		complete(t, s, c, hook.Outcome{Attempt: a, Status: hook.DeliveryFailed, Replay: true})
		got = getDelivery(t, s, d.ID)
		end := t1.Add(a.Duration)
		if got.Status != hook.DeliveryPending || !got.NextAttemptAt.Equal(end) || got.AttemptCount != 2 {
			t.Fatalf("one replay left: status %s, next %s, attempts %d; want pending, %s, 2",
				got.Status, got.NextAttemptAt, got.AttemptCount, end)
		}
		t2 := t1.Add(time.Minute)
		c = claimOne(t, s, t2)
		diff(t, "second replay", c.Replay, hook.Replay{Queued: true, RestoreStatus: hook.DeliveryFailed, Unscheduled: 1})
		complete(t, s, c, hook.Outcome{Attempt: attemptOf(c, t2, http.StatusOK), Status: hook.DeliverySucceeded, Replay: true})
		got = getDelivery(t, s, d.ID)
		if got.Status != hook.DeliverySucceeded || got.AttemptCount != 3 {
			t.Errorf("after a successful replay: status %s, attempts %d; want succeeded, 3", got.Status, got.AttemptCount)
		}
		if cs := claim(t, s, t2.Add(time.Hour), 10); len(cs) != 0 {
			t.Errorf("claims with no replay left: %v", claimedIDs(cs))
		}
		// A failed replay of a succeeded delivery leaves it succeeded.
		if _, err := s.RetryDelivery(t.Context(), d.ID, t2); err != nil {
			t.Fatalf("RetryDelivery: %v", err)
		}
		c = claimOne(t, s, t2)
		diff(t, "replay of a succeeded delivery", c.Replay, hook.Replay{Queued: true, RestoreStatus: hook.DeliverySucceeded, Unscheduled: 2})
		complete(t, s, c, hook.Outcome{Attempt: attemptOf(c, t2, http.StatusBadGateway), Status: hook.DeliverySucceeded, Replay: true})
		if got := getDelivery(t, s, d.ID); got.Status != hook.DeliverySucceeded || !got.NextAttemptAt.IsZero() {
			t.Errorf("after a failed replay of a succeeded delivery: status %s, next %s; want succeeded, none", got.Status, got.NextAttemptAt)
		}
	})
	t.Run("RetryPending", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		t0 := hook.Timestamp(now)
		createTenant(t, s, "acme")
		createEndpoint(t, s, "acme", "*")
		d := ingestN(t, s, "acme", "payout.paid", 1)[0]
		fail(t, s, claimOne(t, s, t0), t0, t0.Add(time.Hour))
		t1 := t0.Add(time.Minute)
		if cs := claim(t, s, t1, 10); len(cs) != 0 {
			t.Fatalf("claims before the retry: %v", claimedIDs(cs))
		}
		r, err := s.RetryDelivery(t.Context(), d.ID, t1)
		if err != nil {
			t.Fatalf("RetryDelivery: %v", err)
		}
		if r.Status != hook.DeliveryPending || !r.NextAttemptAt.Equal(t1) {
			t.Errorf("RetryDelivery = status %s, next %s; want pending, %s", r.Status, r.NextAttemptAt, t1)
		}
		c := claimOne(t, s, t1)
		diff(t, "replay of a pending delivery", c.Replay, hook.Replay{Queued: true, RestoreStatus: hook.DeliveryPending})
		a := attemptOf(c, t1, http.StatusServiceUnavailable)
		a.NextRetryAt = t1.Add(2 * time.Hour)
		complete(t, s, c, hook.Outcome{Attempt: a, Status: hook.DeliveryPending, Replay: true})
		got := getDelivery(t, s, d.ID)
		if got.Status != hook.DeliveryPending || !got.NextAttemptAt.Equal(a.NextRetryAt) {
			t.Errorf("after a failed replay: status %s, next %s; want pending, %s", got.Status, got.NextAttemptAt, a.NextRetryAt)
		}
	})
	t.Run("RetryInFlight", func(t *testing.T) {
		// A retry during a scheduled attempt queues one more, whatever
		// the attempt does.
		t.Parallel()
		s := open(t)
		t0 := hook.Timestamp(now)
		createTenant(t, s, "acme")
		createEndpoint(t, s, "acme", "*")
		d := ingestN(t, s, "acme", "payout.paid", 1)[0]
		c := claimOne(t, s, t0)
		if _, err := s.RetryDelivery(t.Context(), d.ID, t0); err != nil {
			t.Fatalf("RetryDelivery: %v", err)
		}
		complete(t, s, c, hook.Outcome{Attempt: attemptOf(c, t0, http.StatusOK), Status: hook.DeliverySucceeded})
		if got := getDelivery(t, s, d.ID); got.Status != hook.DeliveryPending {
			t.Fatalf("status with a replay queued during the attempt: %s, want pending", got.Status)
		}
		c = claimOne(t, s, t0.Add(time.Minute))
		diff(t, "replay queued in flight", c.Replay, hook.Replay{Queued: true, RestoreStatus: hook.DeliverySucceeded})
	})
	t.Run("RetryErrors", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		ep := createEndpoint(t, s, "acme", "*")
		d := ingestN(t, s, "acme", "payout.paid", 1)[0]
		if err := s.DeleteEndpoint(t.Context(), ep.ID, now); err != nil {
			t.Fatalf("DeleteEndpoint: %v", err)
		}
		_, err := s.RetryDelivery(t.Context(), d.ID, now)
		wantErr(t, "RetryDelivery of a canceled delivery", err, hook.ErrConflict)
		_, err = s.RetryDelivery(t.Context(), "dlv_missing", now)
		wantErr(t, "RetryDelivery of an unknown delivery", err, hook.ErrNotFound)
		_, err = s.ReplayEvent(t.Context(), "evt_missing", nil, now)
		wantErr(t, "ReplayEvent of an unknown event", err, hook.ErrNotFound)
	})
	t.Run("ReplayEvent", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		t0 := hook.Timestamp(now)
		createTenant(t, s, "acme")
		e1 := createEndpoint(t, s, "acme", "payout.*")
		ev := newEvent("acme", "payout.paid")
		d1 := ingest(t, s, ev).Deliveries[0]
		c := claimOne(t, s, t0)
		complete(t, s, c, hook.Outcome{Attempt: attemptOf(c, t0, http.StatusOK), Status: hook.DeliverySucceeded})
		e2 := createEndpoint(t, s, "acme", "*")            // created after the event
		e3 := createEndpoint(t, s, "acme", "invoice.paid") // does not match
		t1 := t0.Add(2 * time.Hour)
		ds, err := s.ReplayEvent(t.Context(), ev.ID, nil, t1)
		if err != nil {
			t.Fatalf("ReplayEvent: %v", err)
		}
		got := map[string]hook.DeliveryStatus{}
		for _, d := range ds {
			got[d.EndpointID] = d.Status
			if d.EventID != ev.ID || !d.NextAttemptAt.Equal(t1) {
				t.Errorf("delivery %s: event %s, next %s; want %s, %s", d.ID, d.EventID, d.NextAttemptAt, ev.ID, t1)
			}
		}
		diff(t, "replayed deliveries", got, map[string]hook.DeliveryStatus{e1.ID: hook.DeliveryPending, e2.ID: hook.DeliveryPending})
		if ds[0].ID != d1.ID && ds[1].ID != d1.ID {
			t.Errorf("the existing delivery %s is not among %v", d1.ID, ds)
		}
		ds, err = s.ReplayEvent(t.Context(), ev.ID, []string{e3.ID}, t1)
		if err != nil || len(ds) != 1 || ds[0].EndpointID != e3.ID || ds[0].Status != hook.DeliveryPending {
			t.Fatalf("ReplayEvent to %s = %v, %v; want one pending delivery", e3.ID, ds, err)
		}
		if cs := claim(t, s, t1, 10); len(cs) != 3 {
			t.Errorf("claims after the replays: %d, want 3", len(cs))
		}
	})
	t.Run("RecoverJob", func(t *testing.T) { testRecoverJob(t, open) })
}

// testRecoverJob runs a recover job whose runner stops after its first
// batch: its lease expires, another claims it, and it ends with every
// event of its window walked once.
func testRecoverJob(t *testing.T, open OpenFunc) {
	t.Parallel()
	s := open(t)
	ctx := context.Background()
	t0 := hook.Timestamp(now)
	createTenant(t, s, "acme")
	createTenant(t, s, "other")
	ep := createEndpoint(t, s, "acme", "payout.*")
	failed := ingestAt(t, s, "acme", "payout.paid", t0)[ep.ID]
	c := claimOne(t, s, t0)
	complete(t, s, c, hook.Outcome{Attempt: attemptOf(c, t0, http.StatusBadGateway), Status: hook.DeliveryFailed})
	if _, err := s.DisableEndpoint(ctx, ep.ID, "test", t0); err != nil {
		t.Fatalf("DisableEndpoint: %v", err)
	}
	unsent := newEvent("acme", "payout.failed")
	unsent.CreatedAt = t0.Add(time.Minute)
	ingest(t, s, unsent)
	ingestAt(t, s, "acme", "invoice.paid", t0.Add(2*time.Minute)) // does not match
	ingestAt(t, s, "other", "payout.paid", t0.Add(2*time.Minute)) // another tenant's
	if _, err := s.EnableEndpoint(ctx, ep.ID, t0.Add(3*time.Minute)); err != nil {
		t.Fatalf("EnableEndpoint: %v", err)
	}
	late := ingestAt(t, s, "acme", "payout.paid", t0.Add(time.Hour))[ep.ID] // after the window
	c = claimOne(t, s, t0.Add(time.Hour))
	complete(t, s, c, hook.Outcome{Attempt: attemptOf(c, t0, http.StatusBadGateway), Status: hook.DeliveryFailed})

	t1 := t0.Add(2 * time.Hour)
	j, err := s.CreateJob(ctx, hook.NewRecoverJob(ep, t0, t0.Add(30*time.Minute), t1))
	if err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	if j.Total != 3 || j.Status != hook.JobRunning {
		t.Fatalf("CreateJob: total %d, status %s; want 3, running", j.Total, j.Status)
	}
	claimed, token, err := s.ClaimJob(ctx, t1, time.Minute)
	if err != nil || claimed.ID != j.ID {
		t.Fatalf("ClaimJob = %s, %v; want %s", claimed.ID, err, j.ID)
	}
	_, _, err = s.ClaimJob(ctx, t1.Add(30*time.Second), time.Minute)
	wantErr(t, "ClaimJob of a leased job", err, hook.ErrNotFound)
	j, err = s.RunJobBatch(ctx, hook.JobBatch{JobID: j.ID, Token: token, Limit: 2, Now: t1, Lease: time.Minute})
	if err != nil || j.Done != 2 || j.Status != hook.JobRunning {
		t.Fatalf("first batch = done %d, status %s, %v; want 2, running", j.Done, j.Status, err)
	}
	// The runner stops; its lease expires at t1 plus a minute.
	t2 := t1.Add(2 * time.Minute)
	_, token2, err := s.ClaimJob(ctx, t2, time.Minute)
	if err != nil {
		t.Fatalf("ClaimJob after the lease expired: %v", err)
	}
	_, err = s.RunJobBatch(ctx, hook.JobBatch{JobID: j.ID, Token: token, Limit: 2, Now: t2, Lease: time.Minute})
	wantErr(t, "RunJobBatch with the old token", err, hook.ErrConflict)
	j, err = s.RunJobBatch(ctx, hook.JobBatch{JobID: j.ID, Token: token2, Limit: 2, Now: t2, Lease: time.Minute})
	if err != nil {
		t.Fatalf("RunJobBatch: %v", err)
	}
	want := hook.Job{
		ID: j.ID, TenantID: "acme", Kind: hook.JobRecover, EndpointID: ep.ID, Since: t0, Until: t0.Add(30 * time.Minute),
		Status: hook.JobSucceeded, Total: 3, Done: 3, CreatedAt: t1, FinishedAt: t2,
	}
	diff(t, "finished job", j, want)
	stored, err := s.Job(ctx, j.ID)
	if err != nil {
		t.Fatalf("Job: %v", err)
	}
	diff(t, "stored job", stored, want)
	if _, _, err := s.ClaimJob(ctx, t2.Add(time.Hour), time.Minute); err == nil {
		t.Errorf("ClaimJob claimed a finished job")
	}

	if got := getDelivery(t, s, failed.ID); got.Status != hook.DeliveryPending || !got.NextAttemptAt.Equal(t1) {
		t.Errorf("failed delivery of the window: status %s, next %s; want pending, %s", got.Status, got.NextAttemptAt, t1)
	}
	if got := getDelivery(t, s, late.ID); got.Status != hook.DeliveryFailed {
		t.Errorf("failed delivery after the window: status %s, want failed", got.Status)
	}
	cs := claimsByDelivery(t, s, t2)
	if len(cs) != 2 {
		t.Fatalf("claims after the job: %d, want 2 (the failed and the unsent)", len(cs))
	}
	for _, c := range cs {
		if c.Event.ID != unsent.ID && c.Delivery.ID != failed.ID {
			t.Errorf("claimed %s of event %s", c.Delivery.ID, c.Event.ID)
		}
		if c.Delivery.ID == failed.ID && c.Replay.Unscheduled != 1 {
			t.Errorf("recovered delivery: Unscheduled %d, want 1 (a fresh schedule)", c.Replay.Unscheduled)
		}
	}

	// A job whose endpoint is deleted fails.
	gone := createEndpoint(t, s, "acme", "*")
	j, err = s.CreateJob(ctx, hook.NewRecoverJob(gone, t0, t1, t1))
	if err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	if err := s.DeleteEndpoint(ctx, gone.ID, t1); err != nil {
		t.Fatalf("DeleteEndpoint: %v", err)
	}
	_, token, err = s.ClaimJob(ctx, t2, time.Minute)
	if err != nil {
		t.Fatalf("ClaimJob: %v", err)
	}
	j, err = s.RunJobBatch(ctx, hook.JobBatch{JobID: j.ID, Token: token, Limit: 10, Now: t2, Lease: time.Minute})
	if err != nil || j.Status != hook.JobFailed || j.Error == "" {
		t.Errorf("RunJobBatch of a deleted endpoint's job = %s %q, %v; want failed with a reason", j.Status, j.Error, err)
	}
}
