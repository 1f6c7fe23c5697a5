package dispatch

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/sender"
)

// replayFailed returns the status, and the next attempt time when pending,
// of a delivery whose replay failed: the status it had before the retry.
// A succeeded or failed delivery stays so. A pending one keeps its place in
// its schedule: a replay does not count toward it, so the next attempt
// comes after the delay that follows its last scheduled attempt, counted
// from now (the time it was due before the retry is not kept), or at once
// when it had none.
func replayFailed(c hook.Claim, schedule []time.Duration, res sender.Result, start time.Time) (hook.DeliveryStatus, time.Time) {
	switch c.Replay.RestoreStatus {
	case hook.DeliverySucceeded, hook.DeliveryFailed:
		return c.Replay.RestoreStatus, time.Time{}
	}
	end := hook.Timestamp(start.Add(res.Duration))
	n := c.Delivery.AttemptCount - c.Replay.Unscheduled // scheduled attempts made
	if n <= 0 {
		return hook.DeliveryPending, end
	}
	if delay, ok := hook.RetryDelay(schedule, n, res.RetryAfter, jitter()); ok {
		return hook.DeliveryPending, hook.Timestamp(end.Add(delay))
	}
	return hook.DeliveryFailed, time.Time{}
}

// Defaults for the zero values of JobConfig.
const (
	DefaultJobPoll  = time.Second
	DefaultJobBatch = 500
	DefaultJobLease = time.Minute
)

// JobStore runs jobs batch by batch; hook.Store is one.
type JobStore interface {
	ClaimJob(ctx context.Context, now time.Time, lease time.Duration) (hook.Job, string, error)
	RunJobBatch(ctx context.Context, b hook.JobBatch) (hook.Job, error)
}

// JobConfig is what a JobRunner needs. Store is required.
type JobConfig struct {
	Store  JobStore
	Logger *slog.Logger // nil discards logs
	// Poll is the time between looks for a job to run. Default 1s.
	Poll time.Duration
	// Batch is the number of events one batch walks, in one transaction.
	// Default 500.
	Batch int
	// Lease is how long a job stays with this runner after each batch
	// without another; a runner that stops (a crash, a restart) leaves its
	// job to be claimed again, and resumed from its last batch, once the
	// lease expires. Default 1 min.
	Lease time.Duration
	// Wake, when set, is called after a batch that may have made
	// deliveries due, such as Dispatcher.Wake.
	Wake func()
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// JobRunner runs the stored jobs (hook.Job) of every tenant, one at a
// time: it claims a running job under a lease, walks it batch by batch,
// each batch recording its progress, until the job ends.
type JobRunner struct {
	cfg JobConfig
	log *slog.Logger
}

// NewJobRunner returns a JobRunner for cfg.
func NewJobRunner(cfg JobConfig) (*JobRunner, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("dispatch: JobConfig.Store is required")
	case cfg.Poll < 0, cfg.Batch < 0, cfg.Lease < 0:
		return nil, errors.New("dispatch: JobConfig.Poll, Batch and Lease must not be negative")
	}
	cfg.Poll = cmp.Or(cfg.Poll, DefaultJobPoll)
	cfg.Batch = cmp.Or(cfg.Batch, DefaultJobBatch)
	cfg.Lease = cmp.Or(cfg.Lease, DefaultJobLease)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &JobRunner{cfg: cfg, log: log}, nil
}

// Run runs jobs until ctx ends; it returns nil then. A batch in progress
// when ctx ends is rolled back and done again by whoever claims the job.
func (r *JobRunner) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Poll)
	defer t.Stop()
	for {
		for ctx.Err() == nil && r.runOne(ctx) {
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// runOne claims a job and runs it to its end; it reports whether it found
// one.
func (r *JobRunner) runOne(ctx context.Context) bool {
	j, token, err := r.cfg.Store.ClaimJob(ctx, r.cfg.Now(), r.cfg.Lease)
	if errors.Is(err, hook.ErrNotFound) {
		return false
	}
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("claim job", "err", err)
		}
		return false
	}
	for j.Status == hook.JobRunning {
		next, err := r.cfg.Store.RunJobBatch(ctx, hook.JobBatch{
			JobID: j.ID, Token: token, Limit: r.cfg.Batch, Now: r.cfg.Now(), Lease: r.cfg.Lease,
		})
		if err != nil {
			if ctx.Err() == nil {
				r.log.Error("run job", "job", j.ID, "err", err)
			}
			return false // the lease expires and the job is claimed again
		}
		j = next
		if r.cfg.Wake != nil {
			r.cfg.Wake()
		}
	}
	r.log.Info("job ended", "job", j.ID, "kind", j.Kind, "status", j.Status, "done", j.Done, "err", j.Error)
	return true
}
