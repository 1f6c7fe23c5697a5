package hook

import (
	"context"
	"time"
)

// PrefixJob is the prefix of job ids.
const PrefixJob = "job_"

// Replay is what a claim knows of a delivery's manual attempts.
//
// A retry (Store.RetryDelivery) adds one to the delivery's queued replays
// and makes it pending and due now, whatever its status was, so that the
// claim queries and their indexes need not know about replays; the status
// it had is kept as RestoreStatus. An attempt claimed while replays are
// queued is a replay: a success makes the delivery succeeded, a failure
// returns it to RestoreStatus (a pending one keeps its retry schedule), and
// while replays remain queued it stays pending and due.
type Replay struct {
	// Queued is true when the claimed attempt is a replay.
	Queued bool
	// RestoreStatus is the status a failed replay returns the delivery to.
	RestoreStatus DeliveryStatus
	// Unscheduled counts the delivery's attempts that do not count toward
	// its retry schedule: replays, and every attempt before a recovery
	// gave it a fresh schedule. The schedule index of an attempt is its
	// Number less Unscheduled.
	Unscheduled int
}

// JobKind names what a job does.
type JobKind string

// JobRecover gives an endpoint's failed deliveries of a window a fresh
// schedule and creates those it never had.
const JobRecover JobKind = "recover"

// JobStatus is where a job is.
type JobStatus string

// Job statuses.
const (
	JobRunning   JobStatus = "running"
	JobSucceeded JobStatus = "succeeded"
	JobFailed    JobStatus = "failed"
)

// Job is background work a tenant asked for, stored so that it resumes
// after a restart. A recover job walks the events of its tenant created in
// [Since, Until), oldest first, in batches; Done counts the events walked
// and Total the events of the window when the job was created.
type Job struct {
	ID         string
	TenantID   string
	Kind       JobKind
	EndpointID string
	Since      time.Time
	Until      time.Time
	Status     JobStatus
	Total      int
	Done       int
	Error      string // why a failed job failed
	CreatedAt  time.Time
	FinishedAt time.Time // zero while running
}

// NewRecoverJob makes the running recover job of endpoint ep for events
// created in [since, until).
func NewRecoverJob(ep Endpoint, since, until, now time.Time) Job {
	now = Timestamp(now)
	return Job{
		ID: NewID(PrefixJob), TenantID: ep.TenantID, Kind: JobRecover, EndpointID: ep.ID,
		Since: Timestamp(since), Until: Timestamp(until), Status: JobRunning, CreatedAt: now,
	}
}

// JobBatch is one step of a claimed job, for Store.RunJobBatch.
type JobBatch struct {
	JobID string
	Token string        // the claim's token
	Limit int           // the most events walked
	Now   time.Time     // deliveries created or rescheduled are due at Now
	Lease time.Duration // the lease is extended to Now plus Lease
}

// replayStore is the part of Store about replays and jobs; it is listed
// here so that Store stays readable. (Store embeds it.)
type replayStore interface {
	// RetryDelivery queues one more attempt of the delivery, due at now
	// (see Replay), and returns it; ErrConflict when it is canceled.
	RetryDelivery(ctx context.Context, id string, now time.Time) (Delivery, error)
	// ReplayEvent retries the deliveries of the event to the endpoints
	// endpointIDs (which the caller checked belong to the event's tenant)
	// and creates pending deliveries, due at now, to those that have none,
	// in one transaction. Nil endpointIDs means every active endpoint of
	// the event's tenant that matches its type. Canceled deliveries are
	// left as they are. It returns the deliveries, ordered by endpoint id.
	ReplayEvent(ctx context.Context, eventID string, endpointIDs []string, now time.Time) ([]Delivery, error)

	// CreateJob stores a running job, with Total counted from its window.
	CreateJob(ctx context.Context, j Job) (Job, error)
	Job(ctx context.Context, id string) (Job, error)
	// ClaimJob leases one running job that is not leased (or whose lease
	// expired at now) until now plus lease, and returns it with the
	// lease's token; ErrNotFound when there is none.
	ClaimJob(ctx context.Context, now time.Time, lease time.Duration) (Job, string, error)
	// RunJobBatch walks the next b.Limit events of the job's window in one
	// transaction: a failed delivery of the job's endpoint gets a fresh
	// schedule (pending, due at b.Now, Unscheduled set to its attempt
	// count) and a matching event without a delivery to the endpoint gets
	// one. It records Done and extends the lease; when fewer than b.Limit
	// events remained the job succeeds, and when its endpoint is gone it
	// fails. ErrConflict when b.Token no longer holds the job's lease.
	RunJobBatch(ctx context.Context, b JobBatch) (Job, error)
}
