package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// claimQuery selects the deliveries to lease. First the room of each active
// endpoint: its MaxInFlight less its live leases, at most its limit in the
// JSON object ?3 and at most the claim's limit ?4. Then, per endpoint with
// room, its earliest claimable deliveries, numbered (rn) and kept within
// its room. Ordering by rn first is what makes claims fair: every
// endpoint's first delivery precedes any endpoint's second. It runs inside
// a write, so no other claim can take the same rows or fill the same room
// between this count and the update that follows.
//
// The cost is one probe of deliveries_pending per active endpoint and, per
// endpoint with room, at most its fair share of the claim's limit (?4
// divided among the endpoints with room, and at most ?5), so about ?4 rows
// in all, whatever the backlog. An endpoint whose share is less than its
// due deliveries gets the rest in the next claim; reading ?4 rows for each
// endpoint instead cost several milliseconds at 100 endpoints. Numbering every due
// delivery at once (a window over the due scan) cost 2ms at a backlog of
// 1,000 and 23ms at 10,000, all of it on the writer. MATERIALIZED and CROSS
// JOIN keep that plan: room first, then each endpoint's deliveries through
// the correlated list. The literal 'pending' lets the planner use the
// partial index.
const claimQuery = `WITH room AS MATERIALIZED (
		SELECT e.id AS endpoint_id, e.timeout_ns,
			min(e.max_in_flight - (SELECT count(*) FROM deliveries l
					WHERE l.endpoint_id = e.id AND l.lease_until > ?1),
				coalesce(lim.value, ?4), ?4, ?5,
				CASE WHEN e.rate_limit > 0 THEN CAST(` + rateTokens + ` AS INTEGER) ELSE ?4 END) AS n
		FROM endpoints e
		LEFT JOIN json_each(?3) lim ON lim.key = e.id
		WHERE e.status = ?2 AND EXISTS (SELECT 1 FROM deliveries
			WHERE endpoint_id = e.id AND status = 'pending' AND next_attempt_at <= ?1)
	), due AS (
		SELECT d.seq, d.next_attempt_at, r.endpoint_id, r.timeout_ns, r.n,
			ROW_NUMBER() OVER (PARTITION BY r.endpoint_id ORDER BY d.next_attempt_at, d.seq) AS rn
		FROM room r CROSS JOIN deliveries d
		WHERE r.n > 0 AND d.seq IN (
			SELECT seq FROM deliveries
			WHERE endpoint_id = r.endpoint_id AND status = 'pending' AND next_attempt_at <= ?1
				AND (lease_until IS NULL OR lease_until <= ?1)
			ORDER BY next_attempt_at, seq
			LIMIT min(?5, ?4 / (SELECT count(*) FROM room WHERE n > 0) + 1))
	)
	SELECT seq, endpoint_id, timeout_ns FROM due
	WHERE rn <= n
	ORDER BY rn, next_attempt_at, seq
	LIMIT ?4`

// leaseQuery leases the deliveries whose seqs are in the JSON array ?1 at
// ?2 (their endpoint's timeout plus the margin ?4, in nanoseconds), each if
// it is still pending, not leased, and of an active endpoint (?3). The
// unary + keeps the planner from the status index, which would visit every
// pending delivery (TestLeasePlan).
const leaseQuery = `UPDATE deliveries SET
		claim_token = 'clm_' || lower(hex(randomblob(16))),
		lease_until = ?2 + ((SELECT timeout_ns FROM endpoints e WHERE e.id = endpoint_id) + ?4) / 1000
	WHERE seq IN (SELECT value FROM json_each(?1)) AND +status = 'pending'
		AND (lease_until IS NULL OR lease_until <= ?2)
		AND EXISTS (SELECT 1 FROM endpoints e WHERE e.id = endpoint_id AND e.status = ?3)
	RETURNING ` + deliveryColumns + `, replays > 0, replay_status, unscheduled, claim_token, lease_until`

// rateTokens is the tokens of an endpoint's rate-limit bucket at ?1: what
// it held at rate_at plus what it gained since, at most a second's worth
// (and at least one token). A NULL bucket has never been drawn from: full.
// Claims draw from it in the same write that leases, so the limit holds
// for every dispatcher that shares the database.
const rateTokens = `min(max(1.0, e.rate_limit),
	coalesce(e.rate_tokens, max(1.0, e.rate_limit)) + max(0, ?1 - coalesce(e.rate_at, ?1)) * e.rate_limit / 1e6)`

// ClaimDeliveries leases up to p.Limit due deliveries; see hook.Store.
//
// The claim query runs on a read connection, so that its cost (the most of
// any statement of the engine) does not hold up the one writer, and one
// write then leases what it picked, in one statement, each delivery only if
// it is still pending, unleased and its endpoint active. Claims of this DB
// take claimMu for both steps, and only claims lease deliveries or draw
// from rate buckets, so the room and the tokens the query read are still
// the room and the tokens at the write, less what completions freed since.
// (The file's lock keeps every other process out.)
//
// The first claim of a DB first ends every lease in the file. Open holds
// the file's lock, so no other process uses it, and any lease found was
// taken by a process that has stopped; a restart need not wait for those
// leases to expire. It is done here rather than in Open (which may run
// before the lease columns exist) or Migrate (which may run again while
// this process holds leases).
func (db *DB) ClaimDeliveries(ctx context.Context, p hook.ClaimParams) ([]hook.Claim, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	claims, err := db.claimDeliveries(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return claims, nil
}

// claimPick is a delivery the claim query picked.
type claimPick struct {
	seq      int64
	endpoint string
}

func (db *DB) claimDeliveries(ctx context.Context, p hook.ClaimParams) ([]hook.Claim, error) {
	now := hook.Timestamp(p.Now)
	limits := []byte("{}")
	if p.EndpointLimits != nil {
		var err error
		if limits, err = json.Marshal(p.EndpointLimits); err != nil {
			return nil, err
		}
	}
	perEndpoint := p.Limit
	if p.MaxPerEndpoint > 0 {
		perEndpoint = min(p.MaxPerEndpoint, p.Limit)
	}
	db.claimMu.Lock()
	defer db.claimMu.Unlock()
	if !db.leasesCleared {
		err := db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
			_, err := tx.ExecContext(ctx,
				"UPDATE deliveries SET claim_token = NULL, lease_until = NULL WHERE lease_until IS NOT NULL")
			return err
		})
		if err != nil {
			return nil, err
		}
		db.leasesCleared = true
	}
	picks, err := queryList(ctx, &db.hot, func(s scanner) (claimPick, error) {
		var pk claimPick
		var ns int64 // the endpoint's timeout, which the lease reads at the write
		err := s.Scan(&pk.seq, &pk.endpoint, &ns)
		return pk, err
	}, claimQuery, micros(now), hook.EndpointActive, string(limits), p.Limit, perEndpoint)
	if err != nil || len(picks) == 0 {
		return nil, err
	}
	drawn := map[string]int{}
	seqs := make([]int64, len(picks))
	for i, pk := range picks {
		seqs[i] = pk.seq
		drawn[pk.endpoint]++
	}
	seqList, err := json.Marshal(seqs)
	if err != nil {
		return nil, err
	}
	type leased struct {
		d      seqDelivery
		replay hook.Replay
		token  string
		until  time.Time
	}
	got := map[int64]leased{}
	err = db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		clear(got)
		for id, n := range drawn {
			_, err := tx.ExecContext(ctx, `UPDATE endpoints AS e SET rate_tokens = `+rateTokens+` - ?2, rate_at = ?1
				WHERE id = ?3 AND rate_limit > 0`, micros(now), n, id)
			if err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, leaseQuery,
			string(seqList), micros(now), hook.EndpointActive, p.LeaseMargin.Nanoseconds())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				l       leased
				restore string
				until   int64
			)
			l.d, err = scanDelivery(tailScanner{rows, []any{&l.replay.Queued, &restore, &l.replay.Unscheduled, &l.token, &until}})
			if err != nil {
				return err
			}
			l.replay.RestoreStatus = hook.DeliveryStatus(restore)
			l.until = fromMicros(until)
			got[l.d.seq] = l
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	// Events never change and an endpoint's row is read as of now, so both
	// are read after the write, off the writer.
	var eventIDs, endpointIDs []string
	for _, l := range got {
		eventIDs = append(eventIDs, l.d.EventID)
		endpointIDs = append(endpointIDs, l.d.EndpointID)
	}
	events, err := db.eventsByID(ctx, eventIDs)
	if err != nil {
		return nil, err
	}
	endpoints, err := db.endpointsByID(ctx, endpointIDs)
	if err != nil {
		return nil, err
	}
	claims := make([]hook.Claim, 0, len(got))
	for _, pk := range picks { // in the query's fair order
		l, ok := got[pk.seq]
		if !ok {
			continue // no longer due since the query read it
		}
		ev, okEv := events[l.d.EventID]
		ep, okEp := endpoints[l.d.EndpointID]
		if !okEv || !okEp {
			// Deleted since the write, which canceled the delivery and
			// ended its lease.
			continue
		}
		claims = append(claims, hook.Claim{
			Token: l.token, LeaseUntil: l.until, Delivery: l.d.Delivery, Replay: l.replay,
			Event: ev, Endpoint: cloneEndpoint(ep),
		})
	}
	return claims, nil
}

// eventsByID reads events by id in one query.
func (db *DB) eventsByID(ctx context.Context, ids []string) (map[string]hook.Event, error) {
	list, err := jsonList(ids)
	if err != nil {
		return nil, err
	}
	evs, err := queryList(ctx, &db.hot, scanEvent,
		"SELECT "+eventColumns+" FROM events WHERE id IN (SELECT value FROM json_each(?))", list)
	if err != nil {
		return nil, err
	}
	m := make(map[string]hook.Event, len(evs))
	for _, e := range evs {
		m[e.ID] = e.Event
	}
	return m, nil
}

// endpointsByID reads endpoints by id in one query.
func (db *DB) endpointsByID(ctx context.Context, ids []string) (map[string]hook.Endpoint, error) {
	list, err := jsonList(ids)
	if err != nil {
		return nil, err
	}
	eps, err := queryList(ctx, &db.hot, db.scanEndpoint,
		"SELECT "+endpointColumns+" FROM endpoints WHERE id IN (SELECT value FROM json_each(?))", list)
	if err != nil {
		return nil, err
	}
	m := make(map[string]hook.Endpoint, len(eps))
	for _, e := range eps {
		m[e.ID] = e
	}
	return m, nil
}

// jsonList encodes the distinct strings of ids as a JSON array.
func jsonList(ids []string) (string, error) {
	slices.Sort(ids)
	b, err := json.Marshal(slices.Compact(ids))
	return string(b), err
}

// tailScanner scans a row as s would, with the columns after dest's into
// extra.
type tailScanner struct {
	s     scanner
	extra []any
}

func (x tailScanner) Scan(dest ...any) error { return x.s.Scan(append(dest, x.extra...)...) }

// cloneEndpoint copies the maps and lists of e (nil stays nil), so that the
// claims of one endpoint, which go to goroutines of their own, share none.
func cloneEndpoint(e hook.Endpoint) hook.Endpoint {
	e.Events = slices.Clone(e.Events)
	e.Secrets = slices.Clone(e.Secrets)
	e.RetrySchedule = slices.Clone(e.RetrySchedule)
	e.Headers = maps.Clone(e.Headers)
	e.Metadata = maps.Clone(e.Metadata)
	return e
}

// checkLease returns the endpoint of the delivery id when token holds its
// lease; hook.ErrNotFound when there is no such delivery and
// hook.ErrConflict when the lease ended, expired and was claimed again, or
// the delivery was canceled.
func checkLease(ctx context.Context, tx *wtx, id, token string) (string, error) {
	var (
		endpoint string
		held     sql.NullString
	)
	err := tx.QueryRowContext(ctx, "SELECT endpoint_id, claim_token FROM deliveries WHERE id = ?", id).Scan(&endpoint, &held)
	if err != nil {
		return "", translate(err)
	}
	if !held.Valid || held.String != token || token == "" {
		return "", fmt.Errorf("delivery %s: lease not held: %w", id, hook.ErrConflict)
	}
	return endpoint, nil
}

// CompleteAttempt records an attempt, ends its delivery's lease and updates
// the endpoint's health in one write; see hook.Store.
func (db *DB) CompleteAttempt(ctx context.Context, token string, o hook.Outcome) (string, error) {
	a := o.Attempt
	switch o.Status {
	case hook.DeliveryPending, hook.DeliverySucceeded, hook.DeliveryFailed:
	default:
		return "", fmt.Errorf("complete attempt: delivery status %q is not an attempt's outcome", o.Status)
	}
	reqHeader, err := jsonText(a.RequestHeader)
	if err != nil {
		return "", fmt.Errorf("complete attempt: %w", err)
	}
	respHeader, err := jsonText(a.ResponseHeader)
	if err != nil {
		return "", fmt.Errorf("complete attempt: %w", err)
	}
	var body any // NULL for no body: the driver reads an empty BLOB back as nil anyway
	if len(a.ResponseBody) > 0 {
		body = a.ResponseBody
	}
	next := any(nil)
	if o.Status == hook.DeliveryPending {
		next = nullMicros(a.NextRetryAt)
	}
	t := hook.Timestamp(a.StartedAt)
	end := hook.Timestamp(a.StartedAt.Add(a.Duration))
	var disabled string
	replay := 0
	if o.Replay {
		replay = 1
	}
	err = db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		// One statement ends the lease, if token still holds it, and sets
		// the outcome. A replayed attempt uses up one queued replay and
		// counts as unscheduled (it spends no slot of the schedule); while
		// replays remain queued (also those queued during the attempt) the
		// delivery stays pending and due at once, keeping the outcome as
		// the status to return to.
		var endpoint string
		err := tx.QueryRowContext(ctx, `UPDATE deliveries SET
				attempt_count = ?1, updated_at = ?2, claim_token = NULL, lease_until = NULL,
				replays = max(replays - ?3, 0), unscheduled = unscheduled + ?3,
				status = CASE WHEN replays - ?3 > 0 THEN 'pending' ELSE ?4 END,
				replay_status = CASE WHEN replays - ?3 > 0 THEN ?4 ELSE replay_status END,
				next_attempt_at = CASE WHEN replays - ?3 > 0 THEN ?2 ELSE ?5 END
			WHERE id = ?6 AND claim_token = ?7 RETURNING endpoint_id`,
			a.Number, micros(end), replay, o.Status, next, a.DeliveryID, token).Scan(&endpoint)
		if errors.Is(err, sql.ErrNoRows) {
			_, err = checkLease(ctx, tx, a.DeliveryID, token)
			if err == nil {
				err = fmt.Errorf("delivery %s: lease not held: %w", a.DeliveryID, hook.ErrConflict)
			}
			return err
		}
		if err != nil {
			return err
		}
		seq, err := nextAttemptSeq(ctx, tx)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO attempts (id, delivery_id, endpoint_id, tenant_id, number,
			started_at, duration_us, request_headers, status_code, response_headers, response_body,
			error, error_message, next_retry_at, seq)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.DeliveryID, a.EndpointID, a.TenantID, a.Number,
			micros(t), a.Duration.Microseconds(), reqHeader, a.StatusCode, respHeader, body,
			a.Error, a.ErrorMessage, nullMicros(a.NextRetryAt), seq)
		if err != nil {
			return translate(err)
		}
		disabled, err = recordHealth(ctx, tx, endpoint, t, o)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("complete attempt: %w", err)
	}
	return disabled, nil
}

// recordHealth updates the health of the endpoint id, if it still exists,
// after an attempt at t, and disables it as o asks. Like the status, health
// is the engine's, not configuration: updated_at stays.
func recordHealth(ctx context.Context, tx *wtx, id string, t time.Time, o hook.Outcome) (string, error) {
	var (
		since  sql.NullInt64
		status string
		err    error
	)
	if o.Attempt.Succeeded() {
		// Attempts may complete out of order: a success ends the failure
		// streak only when no failure started after it. (SQLite's max()
		// of a NULL is NULL, hence the coalesce.)
		err = tx.QueryRowContext(ctx, `UPDATE endpoints SET
				last_success_at = max(coalesce(last_success_at, ?1), ?1),
				consecutive_failures = CASE WHEN last_failure_at > ?1 THEN consecutive_failures ELSE 0 END,
				failing_since = CASE WHEN last_failure_at > ?1 THEN failing_since END
			WHERE id = ?2 RETURNING failing_since, status`, micros(t), id).Scan(&since, &status)
	} else {
		// A failure that started before the last success is not part of a
		// streak.
		err = tx.QueryRowContext(ctx, `UPDATE endpoints SET
				last_failure_at = max(coalesce(last_failure_at, ?1), ?1),
				consecutive_failures = CASE WHEN last_success_at > ?1 THEN consecutive_failures ELSE consecutive_failures + 1 END,
				failing_since = CASE WHEN last_success_at > ?1 THEN failing_since ELSE coalesce(failing_since, ?1) END
			WHERE id = ?2 RETURNING failing_since, status`, micros(t), id).Scan(&since, &status)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil // deleted since the claim; its deliveries would be canceled
	}
	if err != nil {
		return "", err
	}
	if status != string(hook.EndpointActive) {
		return "", nil // keep the reason it was disabled for first
	}
	reason := o.DisableReason(fromNullMicros(since), t)
	if reason == "" {
		return "", nil
	}
	_, err = tx.ExecContext(ctx, "UPDATE endpoints SET status = ?, disabled_reason = ? WHERE id = ?",
		hook.EndpointDisabled, reason, id)
	if err != nil {
		return "", err
	}
	return reason, nil
}

// ReleaseClaim ends a lease without an attempt; see hook.Store.
func (db *DB) ReleaseClaim(ctx context.Context, deliveryID, token string, next time.Time) error {
	err := db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		if _, err := checkLease(ctx, tx, deliveryID, token); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE deliveries SET next_attempt_at = ?, claim_token = NULL, lease_until = NULL
			WHERE id = ?`, micros(next), deliveryID)
		return err
	})
	if err != nil {
		return fmt.Errorf("release claim: %w", err)
	}
	return nil
}

const attemptColumns = `id, delivery_id, endpoint_id, tenant_id, number, started_at, duration_us,
	request_headers, status_code, response_headers, response_body, error, error_message, next_retry_at`

func scanAttempt(s scanner) (hook.Attempt, error) {
	var (
		a                     hook.Attempt
		started, durationUS   int64
		reqHeader, respHeader string
		next                  sql.NullInt64
	)
	err := s.Scan(&a.ID, &a.DeliveryID, &a.EndpointID, &a.TenantID, &a.Number, &started, &durationUS,
		&reqHeader, &a.StatusCode, &respHeader, &a.ResponseBody, &a.Error, &a.ErrorMessage, &next)
	if err != nil {
		return hook.Attempt{}, translate(err)
	}
	if err := json.Unmarshal([]byte(reqHeader), &a.RequestHeader); err != nil {
		return hook.Attempt{}, fmt.Errorf("attempt %s request headers: %w", a.ID, err)
	}
	if err := json.Unmarshal([]byte(respHeader), &a.ResponseHeader); err != nil {
		return hook.Attempt{}, fmt.Errorf("attempt %s response headers: %w", a.ID, err)
	}
	a.StartedAt = fromMicros(started)
	a.Duration = time.Duration(durationUS) * time.Microsecond
	a.NextRetryAt = fromNullMicros(next)
	return a, nil
}

// ListAttempts lists a delivery's attempts by number, oldest first; an
// unknown delivery has none.
func (db *DB) ListAttempts(ctx context.Context, f hook.AttemptFilter) (hook.Page[hook.Attempt], error) {
	after, err := hook.DecodeSeqCursor(listAttempts, f.Cursor)
	if err != nil {
		return hook.Page[hook.Attempt]{}, fmt.Errorf("list attempts: %w", err)
	}
	limit := f.PageLimit()
	as, err := queryList(ctx, db.read, scanAttempt,
		"SELECT "+attemptColumns+" FROM attempts WHERE delivery_id = ? AND number > ? ORDER BY number LIMIT ?",
		f.DeliveryID, after, limit+1)
	if err != nil {
		return hook.Page[hook.Attempt]{}, fmt.Errorf("list attempts: %w", err)
	}
	return hook.NewPage(as, limit, listAttempts, func(a hook.Attempt) string { return strconv.Itoa(a.Number) }), nil
}

// QueueStats counts pending deliveries at now in one read.
func (db *DB) QueueStats(ctx context.Context, now time.Time) (hook.QueueStats, error) {
	var s hook.QueueStats
	err := db.read.QueryRowContext(ctx, `SELECT count(*),
		coalesce(sum(next_attempt_at <= ?1 AND (lease_until IS NULL OR lease_until <= ?1)), 0),
		coalesce(sum(lease_until > ?1), 0)
		FROM deliveries WHERE status = ?2`, micros(now), hook.DeliveryPending).Scan(&s.Pending, &s.Due, &s.Leased)
	if err != nil {
		return hook.QueueStats{}, fmt.Errorf("queue stats: %w", err)
	}
	return s, nil
}
