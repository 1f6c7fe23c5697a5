package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/heraldhq/herald/internal/hook"
)

// replaysLeft is a delivery's queued replays once the attempt completing
// ($6: it was a replay) has used up its own.
const replaysLeft = `(CASE WHEN $6 THEN greatest(replays - 1, 0) ELSE replays END)`

// completeQuery records an attempt in one statement, so one round trip and
// an implicit transaction.
//
// d ends the lease of delivery $1 if token $2 holds it and sets its new
// state: status $4, due at $7 (or, while replays remain queued, also those
// queued during the attempt, pending and due at $5 with $4 kept as the
// status to return to). Under READ COMMITTED a concurrent write to the row
// makes the UPDATE wait and check the token against the new version, so
// the row lock it takes fences claims, cancels and other completions as the
// SELECT ... FOR UPDATE of a transaction would.
//
// l deletes the lease's row in leases (see leaseQuery). a inserts the
// attempt, when d matched. h updates the health of the
// delivery's endpoint, if it still exists, after an attempt that started at
// $11 and succeeded ($20) or not: attempts may complete out of order, so a
// success ends the failure streak only when no failure started after it,
// and a failure that started before the last success is not part of a
// streak. Like the status, health is the engine's, not configuration:
// updated_at stays. The delivery row is locked before the endpoint row, the
// order claims follow too.
//
// No row means d matched none: see leaseError.
const completeQuery = `WITH d AS (
		UPDATE deliveries SET
			attempt_count = $3::int, updated_at = $5::timestamptz, claim_token = NULL, lease_until = NULL,
			replays = ` + replaysLeft + `,
			unscheduled = unscheduled + CASE WHEN $6 THEN 1 ELSE 0 END,
			status = CASE WHEN ` + replaysLeft + ` > 0 THEN 'pending' ELSE $4::text END,
			replay_status = CASE WHEN ` + replaysLeft + ` > 0 THEN $4::text ELSE replay_status END,
			next_attempt_at = CASE WHEN ` + replaysLeft + ` > 0 THEN $5::timestamptz ELSE $7::timestamptz END
		WHERE id = $1 AND claim_token = $2::text AND $2::text <> ''
		RETURNING id, endpoint_id, seq
	), l AS (
		` + endLeases + `
	), a AS (
		INSERT INTO attempts (id, delivery_id, endpoint_id, tenant_id, number,
			started_at, duration_us, request_headers, status_code, response_headers, response_body,
			error, error_message, next_retry_at)
		SELECT $8::text, d.id, $9::text, $10::text, $3::int, $11::timestamptz, $12::bigint, $13::json, $14::int,
			$15::json, $16::bytea, $17::text, $18::text, $19::timestamptz
		FROM d
	), h AS (
		UPDATE endpoints e SET
			last_success_at = CASE WHEN $20 THEN GREATEST(e.last_success_at, $11::timestamptz) ELSE e.last_success_at END,
			last_failure_at = CASE WHEN $20 THEN e.last_failure_at ELSE GREATEST(e.last_failure_at, $11::timestamptz) END,
			consecutive_failures = CASE
				WHEN $20 THEN CASE WHEN e.last_failure_at > $11::timestamptz THEN e.consecutive_failures ELSE 0 END
				WHEN e.last_success_at > $11::timestamptz THEN e.consecutive_failures
				ELSE e.consecutive_failures + 1 END,
			failing_since = CASE
				WHEN $20 THEN CASE WHEN e.last_failure_at > $11::timestamptz THEN e.failing_since END
				WHEN e.last_success_at > $11::timestamptz THEN e.failing_since
				ELSE coalesce(e.failing_since, $11::timestamptz) END
		FROM d WHERE e.id = d.endpoint_id
		RETURNING e.id, e.failing_since, e.status
	)
	SELECT h.id, h.failing_since, h.status FROM d LEFT JOIN h ON true`

// successesQuery records, in one statement, the successful attempts of a
// batch of completions (see completer) whose answers tell no more than
// whether each was recorded: the work of completeQuery for each, with its
// arguments in arrays of one element per completion ($1-$19, in the order
// of completeQuery's $1-$19), and its endpoint's health updated once
// whatever the number of its successes. It returns the position (from 1)
// of each completion whose lease was held.
//
// The health update is completeQuery's for a success started at the
// latest of them: of successes applied one after another, the last
// started sets last_success_at, and the streak is over once any of them
// started no earlier than the last failure, which is so when the latest
// did. The delivery rows are locked before the endpoint rows, as in
// completeQuery.
const successesQuery = `WITH c AS MATERIALIZED (
		SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::timestamptz[], $6::bool[],
			$7::timestamptz[], $8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::bigint[],
			$13::text[], $14::int[], $15::text[], $16::bytea[], $17::text[], $18::text[], $19::timestamptz[])
			WITH ORDINALITY AS c (delivery_id, token, number, status, ended_at, replay,
				next_at, attempt_id, endpoint_id, tenant_id, started_at, duration_us,
				request_headers, status_code, response_headers, response_body, error, error_message, next_retry_at, n)
	), d AS (
		UPDATE deliveries dl SET
			attempt_count = c.number, updated_at = c.ended_at, claim_token = NULL, lease_until = NULL,
			replays = ` + batchReplaysLeft + `,
			unscheduled = dl.unscheduled + CASE WHEN c.replay THEN 1 ELSE 0 END,
			status = CASE WHEN ` + batchReplaysLeft + ` > 0 THEN 'pending' ELSE c.status END,
			replay_status = CASE WHEN ` + batchReplaysLeft + ` > 0 THEN c.status ELSE dl.replay_status END,
			next_attempt_at = CASE WHEN ` + batchReplaysLeft + ` > 0 THEN c.ended_at ELSE c.next_at END
		FROM c
		WHERE dl.id = c.delivery_id AND dl.claim_token = c.token AND c.token <> ''
		RETURNING c.n, dl.endpoint_id, dl.seq
	), l AS (
		` + endLeases + `
	), a AS (
		INSERT INTO attempts (id, delivery_id, endpoint_id, tenant_id, number,
			started_at, duration_us, request_headers, status_code, response_headers, response_body,
			error, error_message, next_retry_at)
		SELECT c.attempt_id, c.delivery_id, c.endpoint_id, c.tenant_id, c.number, c.started_at, c.duration_us,
			c.request_headers::json, c.status_code, c.response_headers::json, c.response_body,
			c.error, c.error_message, c.next_retry_at
		FROM d JOIN c ON c.n = d.n
		ORDER BY c.n
	), h AS (
		UPDATE endpoints e SET
			last_success_at = GREATEST(e.last_success_at, s.t),
			consecutive_failures = CASE WHEN e.last_failure_at > s.t THEN e.consecutive_failures ELSE 0 END,
			failing_since = CASE WHEN e.last_failure_at > s.t THEN e.failing_since END
		FROM (SELECT d.endpoint_id, max(c.started_at) AS t FROM d JOIN c ON c.n = d.n GROUP BY d.endpoint_id) s
		WHERE e.id = s.endpoint_id
	)
	SELECT n FROM d`

// endLeases deletes the rows in leases of the deliveries whose leases the
// statement's CTE d ended (d returns each one's endpoint_id and seq). It
// reads d, so it runs after d has locked their rows: the delivery rows are
// locked before the lease rows, as in leaseQuery.
const endLeases = `DELETE FROM leases x USING d WHERE x.endpoint_id = d.endpoint_id AND x.delivery_seq = d.seq`

// batchReplaysLeft is replaysLeft in successesQuery.
const batchReplaysLeft = `(CASE WHEN c.replay THEN greatest(dl.replays - 1, 0) ELSE dl.replays END)`

// CompleteAttempt records an attempt, ends its delivery's lease and updates
// the endpoint's health in one statement (completeQuery), committed with
// those of concurrent calls (see completer), whose successes share one
// statement (successesQuery); see hook.Store. Disabling the endpoint, which
// few attempts do, is a second statement.
func (db *DB) CompleteAttempt(ctx context.Context, token string, o hook.Outcome) (string, error) {
	a := o.Attempt
	c, err := newCompletion(token, o)
	if err != nil {
		return "", fmt.Errorf("complete attempt: %w", err)
	}
	t := hook.Timestamp(a.StartedAt)
	err = db.record(ctx, c)
	if err == nil && !c.found {
		err = db.leaseError(ctx, a.DeliveryID)
	}
	if err != nil {
		return "", fmt.Errorf("complete attempt: %w", translate(err))
	}
	endpoint, status, since := c.endpointID, c.stat, c.since
	if !endpoint.Valid || status.String != string(hook.EndpointActive) {
		// Deleted since the claim (its deliveries would be canceled), or
		// disabled already: keep the reason it was disabled for first.
		return "", nil
	}
	failingSince := fromNullTS(since)
	reason := o.DisableReason(failingSince, t)
	if reason == "" {
		return "", nil
	}
	disabled, err := db.disable(ctx, endpoint.String, reason, o.Disable != "", since)
	if err != nil {
		// The attempt is recorded: an error here would tell the caller it
		// was not. The endpoint stays active, and its next failure that
		// calls for it disables it.
		db.log.WarnContext(ctx, "disable endpoint after an attempt", "endpoint", endpoint.String, "reason", reason, "err", err)
		return "", nil
	}
	return disabled, nil
}

// newCompletion makes the completion that records o under token.
func newCompletion(token string, o hook.Outcome) (*completion, error) {
	a := o.Attempt
	if err := o.Check(); err != nil {
		return nil, err
	}
	reqHeader, err := jsonText(a.RequestHeader)
	if err != nil {
		return nil, err
	}
	respHeader, err := jsonText(a.ResponseHeader)
	if err != nil {
		return nil, err
	}
	var body []byte // nil, NULL, for no body
	if len(a.ResponseBody) > 0 {
		body = a.ResponseBody
	}
	next := any(nil)
	if o.Status == hook.DeliveryPending {
		next = nullTS(a.NextRetryAt)
	}
	t := hook.Timestamp(a.StartedAt)
	end := hook.Timestamp(a.StartedAt.Add(a.Duration))
	return &completion{
		args: []any{a.DeliveryID, token, a.Number, string(o.Status), end, o.Replay, next,
			a.ID, a.EndpointID, a.TenantID, t, a.Duration.Microseconds(), reqHeader, a.StatusCode,
			respHeader, body, text(a.Error), text(a.ErrorMessage), nullTS(a.NextRetryAt),
			a.Succeeded()},
		endpoint: a.EndpointID,
		delivery: a.DeliveryID,
		// A success never disables its endpoint unless o.Disable says
		// so: all its caller needs to know is whether it was recorded.
		success: a.Succeeded() && o.Disable == "",
	}, nil
}

// disable disables the active endpoint id for reason after an attempt, and
// returns reason, or "" when it was disabled already (the first reason
// stays) or, unless always, when its failure streak is no longer the one
// that began at since: a success recorded after the attempt ended it.
func (db *DB) disable(ctx context.Context, id, reason string, always bool, since pgtype.Timestamptz) (string, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE endpoints SET status = 'disabled', disabled_reason = $1
		WHERE id = $2 AND status = 'active' AND ($3 OR failing_since IS NOT DISTINCT FROM $4::timestamptz)`,
		reason, id, always, since)
	if err != nil {
		return "", translate(err)
	}
	if tag.RowsAffected() == 0 {
		return "", nil
	}
	return reason, nil
}

// leaseError tells why a write fenced by a lease on delivery id matched no
// row: hook.ErrNotFound when there is no such delivery, hook.ErrConflict
// when the lease ended, expired and was claimed again, or the delivery was
// canceled.
func (db *DB) leaseError(ctx context.Context, id string) error {
	var one int
	err := db.pool.QueryRow(ctx, "SELECT 1 FROM deliveries WHERE id = $1", id).Scan(&one)
	if err != nil {
		return translate(err)
	}
	return fmt.Errorf("delivery %s: lease not held: %w", id, hook.ErrConflict)
}

// text makes s storable in a text column, which holds neither NUL nor
// invalid UTF-8: an attempt's error message may quote what a remote server
// sent.
func text(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// ReleaseClaim ends a lease without an attempt, in one statement fenced by
// the token like completeQuery; see hook.Store.
func (db *DB) ReleaseClaim(ctx context.Context, deliveryID, token string, next time.Time) error {
	var n int
	err := db.pool.QueryRow(ctx, `WITH d AS (
			UPDATE deliveries SET next_attempt_at = $1, claim_token = NULL, lease_until = NULL
			WHERE id = $2 AND claim_token = $3 AND $3 <> ''
			RETURNING endpoint_id, seq
		), l AS (
			`+endLeases+`
		)
		SELECT count(*) FROM d`, ts(next), deliveryID, token).Scan(&n)
	if err == nil && n == 0 {
		err = db.leaseError(ctx, deliveryID)
	}
	if err != nil {
		return fmt.Errorf("release claim: %w", translate(err))
	}
	return nil
}
