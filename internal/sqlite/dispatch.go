package sqlite

import (
	"context"
	"crypto/rand"
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
// endpoint's first delivery precedes any endpoint's second. The leases are
// this DB's (see leaseTable): ?6 is the JSON object of each endpoint's live
// leases and ?7 the JSON array of the leased deliveries' seqs. The JSON
// objects are read with json_extract, whose parse SQLite keeps for the
// statement; a join with json_each walked the whole object once for every
// endpoint, which at 100 endpoints made the claim take milliseconds.
//
// The cost is one probe of deliveries_pending per active endpoint and, per
// endpoint with room, at most its fair share of the claim's limit (?4
// divided among the endpoints with room and a claimable delivery, and at
// most ?5), so about ?4 rows in all, whatever the backlog; reading ?4 rows
// for each endpoint instead cost several milliseconds at 100 endpoints.
// When that share cut an endpoint short and the claim is not full, the
// claim reads again with the share lifted (?8): the same fair order, with
// the rest of the room filled. Numbering every due
// delivery at once (a window over the due scan) cost 2ms at a backlog of
// 1,000 and 23ms at 10,000, all of it on the writer. MATERIALIZED and CROSS
// JOIN keep that plan: room first, then each endpoint's deliveries through
// the correlated list. The literal 'pending' lets the planner use the
// partial index. The LIMIT is ?4 + 0, not ?4: SQLite's planner reads a
// LIMIT that is a bare parameter, which marks the statement to be compiled
// again whenever that parameter is bound, so every claim parsed and planned
// this query anew (12% of all CPU with single-event ingest).
const claimQuery = `WITH room AS MATERIALIZED (
		SELECT e.id AS endpoint_id, e.timeout_ns, e.rate_limit > 0 AS rate_limited,
			min(e.max_in_flight - coalesce(json_extract(?6, '$."' || e.id || '"'), 0),
				coalesce(json_extract(?3, '$."' || e.id || '"'), ?4), ?4, ?5,
				CASE WHEN e.rate_limit > 0 THEN CAST(` + rateTokens + ` AS INTEGER) ELSE ?4 END) AS n
		FROM endpoints e
		WHERE e.status = ?2 AND EXISTS (SELECT 1 FROM deliveries
			WHERE endpoint_id = e.id AND status = 'pending' AND next_attempt_at <= ?1
				AND seq NOT IN (SELECT value FROM json_each(?7)))
	), share AS (
		SELECT CASE WHEN ?8 THEN ?5 ELSE min(?5, ?4 / max(count(*), 1) + 1) END AS k FROM room WHERE n > 0
	), due AS (
		SELECT d.seq, d.next_attempt_at, r.endpoint_id, r.timeout_ns, r.rate_limited, r.n,
			ROW_NUMBER() OVER (PARTITION BY r.endpoint_id ORDER BY d.next_attempt_at, d.seq) AS rn
		FROM room r CROSS JOIN deliveries d
		WHERE r.n > 0 AND d.seq IN (
			SELECT seq FROM deliveries
			WHERE endpoint_id = r.endpoint_id AND status = 'pending' AND next_attempt_at <= ?1
				AND seq NOT IN (SELECT value FROM json_each(?7))
			ORDER BY next_attempt_at, seq
			LIMIT (SELECT k FROM share))
	)
	SELECT seq, endpoint_id, timeout_ns, rate_limited, (SELECT k FROM share) FROM due
	WHERE rn <= n
	ORDER BY rn, next_attempt_at, seq
	LIMIT ?4 + 0`

// claimedQuery reads the picked deliveries (the JSON array of seqs ?1) that
// are still pending, due at ?3 and of an active endpoint (?2), with their
// replay state. The unary + keeps the planner from the status index, which would
// visit every pending delivery (TestClaimedPlan).
const claimedQuery = `SELECT ` + deliveryColumns + `, replays > 0, replay_status, unscheduled FROM deliveries
	WHERE seq IN (SELECT value FROM json_each(?1)) AND +status = 'pending' AND next_attempt_at <= ?3
		AND EXISTS (SELECT 1 FROM endpoints e WHERE e.id = endpoint_id AND e.status = ?2)`

// rateTokens is the tokens of an endpoint's rate-limit bucket at ?1: what
// it held at rate_at plus what it gained since, at most a second's worth
// (and at least one token). A NULL bucket has never been drawn from: full.
// Claims draw from it in a write before they return, under claimMu, so the
// next claim reads what this one drew.
const rateTokens = `min(max(1.0, e.rate_limit),
	coalesce(e.rate_tokens, max(1.0, e.rate_limit)) + max(0, ?1 - coalesce(e.rate_at, ?1)) * e.rate_limit / 1e6)`

// ClaimDeliveries leases up to p.Limit due deliveries; see hook.Store.
//
// The leases are kept in memory (see leaseTable), so a claim writes nothing
// but the rate buckets of rate-limited endpoints: it reads on a read
// connection, and the writer, and its fsyncs, are not in its way. Claims
// of this DB take claimMu, so that each one's room and picks count the
// leases of the one before; only claims lease deliveries or draw from rate
// buckets. A claim reads the leases first and the file after, and a lease
// ends only after the write that ended it has committed, so a delivery is
// always either leased in memory or no longer pending in what the claim
// reads.
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
	seq         int64
	endpoint    string
	timeout     time.Duration
	rateLimited bool
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
	held, heldSeqs := db.leases.live(now)
	heldJSON, err := json.Marshal(held)
	if err != nil {
		return nil, err
	}
	heldSeqsJSON, err := json.Marshal(nonNilSeqs(heldSeqs))
	if err != nil {
		return nil, err
	}
	pick := func(lifted bool) ([]claimPick, bool, error) {
		share := 0
		picks, err := queryList(ctx, &db.hot, func(s scanner) (claimPick, error) {
			var pk claimPick
			var ns int64
			err := s.Scan(&pk.seq, &pk.endpoint, &ns, &pk.rateLimited, &share)
			pk.timeout = time.Duration(ns)
			return pk, err
		}, claimQuery, micros(now), hook.EndpointActive, string(limits), p.Limit, perEndpoint,
			string(heldJSON), string(heldSeqsJSON), lifted)
		per := map[string]int{}
		cut := false
		for _, pk := range picks {
			per[pk.endpoint]++
			cut = cut || per[pk.endpoint] == share && share < perEndpoint
		}
		return picks, cut, err
	}
	picks, cut, err := pick(false)
	if err == nil && cut && len(picks) < p.Limit {
		picks, _, err = pick(true)
	}
	if err != nil || len(picks) == 0 {
		return nil, err
	}
	return db.leasePicks(ctx, p, now, picks)
}

// leasePicks leases the deliveries the claim query picked that are still
// pending, due and of an active endpoint, drawing from the rate buckets of
// rate-limited endpoints, and returns their claims in the order of picks.
func (db *DB) leasePicks(ctx context.Context, p hook.ClaimParams, now time.Time, picks []claimPick) ([]hook.Claim, error) {
	seqs := make([]int64, len(picks))
	for i, pk := range picks {
		seqs[i] = pk.seq
	}
	seqList, err := json.Marshal(seqs)
	if err != nil {
		return nil, err
	}
	type picked struct {
		d      seqDelivery
		replay hook.Replay
	}
	got := map[int64]picked{}
	err = func() error {
		rows, err := db.hot.QueryContext(ctx, claimedQuery, string(seqList), hook.EndpointActive, micros(now))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				pd      picked
				restore string
			)
			pd.d, err = scanDelivery(tailScanner{rows, []any{&pd.replay.Queued, &restore, &pd.replay.Unscheduled}})
			if err != nil {
				return err
			}
			pd.replay.RestoreStatus = hook.DeliveryStatus(restore)
			got[pd.d.seq] = pd
		}
		return rows.Err()
	}()
	if err != nil {
		return nil, err
	}
	drawn := map[string]int{}
	for _, pk := range picks {
		if _, ok := got[pk.seq]; ok && pk.rateLimited {
			drawn[pk.endpoint]++
		}
	}
	if err := db.drawTokens(ctx, now, drawn); err != nil {
		return nil, err
	}
	var eventIDs, endpointIDs []string
	for _, pd := range got {
		eventIDs = append(eventIDs, pd.d.EventID)
		endpointIDs = append(endpointIDs, pd.d.EndpointID)
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
		pd, ok := got[pk.seq]
		if !ok {
			continue // no longer pending since the query read it
		}
		ev, okEv := events[pd.d.EventID]
		ep, okEp := endpoints[pd.d.EndpointID]
		if !okEv || !okEp {
			continue // deleted since, with the delivery canceled
		}
		c := hook.Claim{
			Token:      "clm_" + rand.Text(),
			LeaseUntil: hook.Timestamp(now.Add(pk.timeout + p.LeaseMargin)),
			Delivery:   pd.d.Delivery, Replay: pd.replay, Event: ev, Endpoint: cloneEndpoint(ep),
		}
		db.leases.add(pd.d.ID, lease{seq: pk.seq, endpoint: pk.endpoint, token: c.Token, until: c.LeaseUntil})
		claims = append(claims, c)
	}
	return claims, nil
}

// drawTokens takes drawn[id] tokens from the rate-limit bucket of each
// endpoint id, in one write.
func (db *DB) drawTokens(ctx context.Context, now time.Time, drawn map[string]int) error {
	if len(drawn) == 0 {
		return nil
	}
	return db.w.write(ctx, func(ctx context.Context, tx *wtx) error {
		for id, n := range drawn {
			_, err := tx.ExecContext(ctx, `UPDATE endpoints AS e SET rate_tokens = `+rateTokens+` - ?2, rate_at = ?1
				WHERE id = ?3 AND rate_limit > 0`, micros(now), n, id)
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// nonNilSeqs returns s, or an empty slice for nil, so that it encodes as [].
func nonNilSeqs(s []int64) []int64 {
	if s == nil {
		return []int64{}
	}
	return s
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

// endpointsByID reads endpoints by id. Opening an endpoint (its secrets
// and headers, sealed, and its JSON) was a third of a claim's reads, and
// endpoints seldom change: those opened before are kept (db.endpoints)
// while endpoint_version keeps its value, and only their health, which
// every attempt changes, is read again, with the version, in one query.
// The kept ones are shared: callers copy before they change one (see
// cloneEndpoint).
func (db *DB) endpointsByID(ctx context.Context, ids []string) (map[string]hook.Endpoint, error) {
	list, err := jsonList(ids)
	if err != nil {
		return nil, err
	}
	var version int64
	health, err := queryList(ctx, &db.hot, func(s scanner) (endpointHealth, error) {
		return scanHealth(s, &version)
	}, `SELECT (SELECT version FROM endpoint_version), id, last_success_at, last_failure_at,
		consecutive_failures, failing_since FROM endpoints WHERE id IN (SELECT value FROM json_each(?))`, list)
	if err != nil {
		return nil, err
	}
	m := make(map[string]hook.Endpoint, len(health))
	var missing []string
	for _, h := range health {
		if e, ok := db.endpoints.get(version, h.id); ok {
			m[h.id] = h.onto(e)
		} else {
			missing = append(missing, h.id)
		}
	}
	if len(missing) == 0 {
		return m, nil
	}
	if list, err = jsonList(missing); err != nil {
		return nil, err
	}
	// Read after the version: what this reads is as new as the version or
	// newer, and a newer one has another version, which the next claim
	// reads and so drops these.
	eps, err := queryList(ctx, &db.hot, db.scanEndpoint,
		"SELECT "+endpointColumns+" FROM endpoints WHERE id IN (SELECT value FROM json_each(?))", list)
	if err != nil {
		return nil, err
	}
	for _, e := range eps {
		db.endpoints.put(version, e.ID, e)
		m[e.ID] = e
	}
	return m, nil
}

// endpointHealth is the part of an endpoint that attempts change.
type endpointHealth struct {
	id                       string
	lastSuccess, lastFailure sql.NullInt64
	consecutive              int
	failingSince             sql.NullInt64
}

func scanHealth(s scanner, version *int64) (endpointHealth, error) {
	var h endpointHealth
	err := s.Scan(version, &h.id, &h.lastSuccess, &h.lastFailure, &h.consecutive, &h.failingSince)
	return h, err
}

// onto returns e with this health.
func (h endpointHealth) onto(e hook.Endpoint) hook.Endpoint {
	e.LastSuccessAt = fromNullMicros(h.lastSuccess)
	e.LastFailureAt = fromNullMicros(h.lastFailure)
	e.ConsecutiveFailures = h.consecutive
	e.FailingSince = fromNullMicros(h.failingSince)
	return e
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

// settleLease checks that token holds the lease of the delivery id, for a
// write that ends it: it returns hook.ErrNotFound when there is no such
// delivery and hook.ErrConflict when the lease ended, expired and was
// claimed again, or was never taken. When token holds it, the lease is
// settling until the write's batch ends (see leaseTable), and it ends then
// if the batch committed and *end was set by the write: the write succeeded,
// or found the delivery canceled (by another write, which may be in the
// same batch and so is not committed yet).
func (db *DB) settleLease(ctx context.Context, tx *wtx, id, token string, end *bool) (string, error) {
	if endpoint, ok := db.leases.settle(id, token); ok {
		tx.afterBatch(func(committed bool) { db.leases.done(id, token, committed && *end) })
		return endpoint, nil
	}
	var one int
	if err := tx.QueryRowContext(ctx, "SELECT 1 FROM deliveries WHERE id = ?", id).Scan(&one); err != nil {
		return "", translate(err)
	}
	return "", fmt.Errorf("delivery %s: lease not held: %w", id, hook.ErrConflict)
}

// errCanceled is the error of a completion or release whose delivery,
// though its lease is held, is no longer pending: it was canceled.
func errCanceled(id string) error {
	return fmt.Errorf("delivery %s: canceled while leased: %w", id, hook.ErrConflict)
}

// CompleteAttempt records an attempt, ends its delivery's lease and updates
// the endpoint's health in one write; see hook.Store.
func (db *DB) CompleteAttempt(ctx context.Context, token string, o hook.Outcome) (string, error) {
	a := o.Attempt
	if err := o.Check(); err != nil {
		return "", fmt.Errorf("complete attempt: %w", err)
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
		endLease := false
		endpoint, err := db.settleLease(ctx, tx, a.DeliveryID, token, &endLease)
		if err != nil {
			return err
		}
		// One statement sets the outcome. A replayed attempt uses up one
		// queued replay and counts as unscheduled (it spends no slot of the
		// schedule); while replays remain queued (also those queued during
		// the attempt) the delivery stays pending and due at once, keeping
		// the outcome as the status to return to. The lease ends once this
		// has committed. (Without RETURNING, which SQLite implements with a
		// temporary table: the endpoint is the lease's.)
		res, err := tx.ExecContext(ctx, `UPDATE deliveries SET
				attempt_count = ?1, updated_at = ?2,
				replays = max(replays - ?3, 0), unscheduled = unscheduled + ?3,
				status = CASE WHEN replays - ?3 > 0 THEN 'pending' ELSE ?4 END,
				replay_status = CASE WHEN replays - ?3 > 0 THEN ?4 ELSE replay_status END,
				next_attempt_at = CASE WHEN replays - ?3 > 0 THEN ?2 ELSE ?5 END
			WHERE id = ?6 AND status = 'pending'`,
			a.Number, micros(end), replay, o.Status, next, a.DeliveryID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			endLease = true
			return errCanceled(a.DeliveryID)
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
		if disabled, err = recordHealth(ctx, tx, endpoint, t, o); err != nil {
			return err
		}
		endLease = true
		return nil
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
		// of a NULL is NULL, hence the coalesce.) A success disables
		// nothing unless o says so, and most attempts succeed: without
		// RETURNING, which SQLite implements with a temporary table.
		const success = `UPDATE endpoints SET
				last_success_at = max(coalesce(last_success_at, ?1), ?1),
				consecutive_failures = CASE WHEN last_failure_at > ?1 THEN consecutive_failures ELSE 0 END,
				failing_since = CASE WHEN last_failure_at > ?1 THEN failing_since END
			WHERE id = ?2`
		if o.Disable == "" {
			_, err := tx.ExecContext(ctx, success, micros(t), id)
			return "", err
		}
		err = tx.QueryRowContext(ctx, success+" RETURNING failing_since, status", micros(t), id).Scan(&since, &status)
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
		end := false
		if _, err := db.settleLease(ctx, tx, deliveryID, token, &end); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE deliveries SET next_attempt_at = ? WHERE id = ? AND status = 'pending'`,
			micros(next), deliveryID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		end = true
		if n == 0 {
			return errCanceled(deliveryID)
		}
		return nil
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

// QueueStats counts pending deliveries at now in one read; the leased are
// those of this DB's live leases.
func (db *DB) QueueStats(ctx context.Context, now time.Time) (hook.QueueStats, error) {
	_, seqs := db.leases.live(hook.Timestamp(now))
	leased, err := json.Marshal(nonNilSeqs(seqs))
	if err != nil {
		return hook.QueueStats{}, fmt.Errorf("queue stats: %w", err)
	}
	var s hook.QueueStats
	err = db.read.QueryRowContext(ctx, queueStatsQuery, micros(now), string(leased)).Scan(&s.Pending, &s.Due, &s.Leased)
	if err != nil {
		return hook.QueueStats{}, fmt.Errorf("queue stats: %w", err)
	}
	return s, nil
}

// queueStatsQuery counts the pending deliveries, those due at ?1 and not
// leased, and the leased (the JSON array ?2 of their seqs), from the
// partial index deliveries_pending alone (TestQueueStatsPlan).
const queueStatsQuery = `WITH leased AS MATERIALIZED (SELECT value AS seq FROM json_each(?2))
		SELECT count(*),
			coalesce(sum(next_attempt_at <= ?1 AND seq NOT IN (SELECT seq FROM leased)), 0),
			coalesce(sum(seq IN (SELECT seq FROM leased)), 0)
		FROM deliveries WHERE status = 'pending'`
