package postgres

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/heraldhq/herald/internal/hook"
)

// lockEndpointsQuery picks the endpoints a claim may lease for and locks
// them: the active endpoints with a claimable delivery and room under their
// MaxInFlight and EndpointLimits ($2), earliest first claimable delivery
// first, at most $4 of them (fairness puts every endpoint's first delivery
// before any endpoint's second, so a claim of $4 never needs more). Each is
// locked with a transaction-level advisory lock, tried and skipped when
// another claim holds it; the MATERIALIZED CTEs make the lock be tried on
// candidates only, in order, until $4 are held.
//
// The lock is what makes MaxInFlight hold across every process sharing the
// database. Under READ COMMITTED, two claims that each counted an
// endpoint's live leases and then leased would both see the room the other
// was about to fill. With the lock, claims of one endpoint run one at a
// time: the next holder's statements start after the previous holder
// committed (locks are released after the commit is visible) and count its
// leases. An advisory lock rather than a row lock on endpoints, because
// CompleteAttempt updates the endpoint row: a row lock would make claims
// skip an endpoint whenever a completion is committing, and completions
// wait for claims.
const lockEndpointsQuery = `WITH candidate AS MATERIALIZED (
		SELECT e.id, (SELECT min(d.next_attempt_at) FROM deliveries d
				WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= $1
					AND (d.lease_until IS NULL OR d.lease_until <= $1)) AS first_due
		FROM endpoints e
		WHERE e.status = 'active'
			AND coalesce(($2::jsonb ->> e.id)::int, 1) > 0
			AND e.max_in_flight > ` + liveLeases + `
			AND (e.rate_limit <= 0 OR ` + rateTokens + ` >= 1)
	), ordered AS MATERIALIZED (
		SELECT id FROM candidate WHERE first_due IS NOT NULL ORDER BY first_due, id
	)
	SELECT id FROM ordered WHERE pg_try_advisory_xact_lock($3, hashtext(id)) LIMIT $4`

// liveLeases counts the live leases at $1 of endpoint e, up to its
// MaxInFlight, which is all a claim needs to know, from the leases table
// (see leaseQuery). The ORDER BY of the primary key's order, with the
// LIMIT, makes the planner read that key with a plain index scan rather
// than a bitmap scan (which it chose without the ORDER BY): every
// completion leaves an index entry of a dead row behind, and only a plain
// index scan marks those dead when it meets them, so that the next claims
// skip them until a vacuum removes them. A bitmap scan visits the heap page
// of every one, on every claim. TestLiveLeasesPlan holds it to that.
const liveLeases = `(SELECT count(*) FROM (SELECT 1 FROM leases l
		WHERE l.endpoint_id = e.id AND l.lease_until > $1
		ORDER BY l.endpoint_id, l.delivery_seq LIMIT e.max_in_flight) l)`

// rateTokens is the tokens of an endpoint's rate-limit bucket at $1: what
// it held at rate_at plus what it gained since, at most a second's worth
// (and at least one token). A NULL bucket has never been drawn from: full.
// Claims draw from it in the transaction that leases, under the endpoint's
// claim lock, so the limit holds for every process sharing the database.
const rateTokens = `LEAST(GREATEST(1.0, e.rate_limit),
	coalesce(e.rate_tokens, GREATEST(1.0, e.rate_limit))
		+ GREATEST(0, extract(epoch FROM $1 - coalesce(e.rate_at, $1))::float8) * e.rate_limit)`

// claimQuery picks the deliveries to lease, of the endpoints locked ($2).
// First the room of each: its MaxInFlight less its live leases, at most its
// limit in $3, the claim's limit $4, its share $5 (MaxPerEndpoint) and the
// whole tokens of its rate-limit bucket; it runs after the lock is
// held, so its snapshot has every earlier claim's leases. Then, per
// endpoint, its earliest claimable deliveries within its room, numbered
// (rn). Ordering by rn first is what makes claims fair: every endpoint's
// first delivery precedes any endpoint's second. The picks are locked by
// leaseQuery, not here: with many endpoints, most rows read here are cut by
// the final LIMIT, and a row lock is a write. $6 caps the rows read per
// endpoint (see pickDeliveries).
const claimQuery = `WITH room AS MATERIALIZED (
		SELECT e.id AS endpoint_id, e.timeout_ns,
			LEAST(e.max_in_flight - ` + liveLeases + `,
				coalesce(($3::jsonb ->> e.id)::int, $4), $4, $5,
				CASE WHEN e.rate_limit > 0 THEN floor(` + rateTokens + `)::int ELSE $4 END) AS n
		FROM endpoints e
		WHERE e.id = ANY($2::text[]) AND e.status = 'active'
	), due AS (
		SELECT d.seq, d.next_attempt_at, r.endpoint_id, r.timeout_ns,
			row_number() OVER (PARTITION BY r.endpoint_id ORDER BY d.next_attempt_at, d.seq) AS rn
		FROM room r CROSS JOIN LATERAL (
			SELECT seq, next_attempt_at FROM deliveries
			WHERE endpoint_id = r.endpoint_id AND status = 'pending' AND next_attempt_at <= $1
				AND (lease_until IS NULL OR lease_until <= $1)
			ORDER BY next_attempt_at, seq
			LIMIT LEAST(greatest(r.n, 0), $6)
		) d
	)
	SELECT seq, endpoint_id, timeout_ns FROM due
	ORDER BY rn, next_attempt_at, seq
	LIMIT $4`

// leaseQuery leases the picked deliveries ($1) with their tokens ($2) and
// lease ends ($3). Each is locked FOR UPDATE SKIP LOCKED and checked again:
// a delivery whose completion, release or cancel is committing right now
// is skipped, and one that such a write changed since claimQuery read it
// is re-checked against its new version and left out unless still
// claimable at $4. Claims of the same endpoint cannot interfere: they wait
// for the endpoint's lock.
//
// Each pick is found by its key, never by a scan of the pending
// deliveries, however many there are: the lateral subquery, which its
// LIMIT keeps from being merged into the join, is one lookup of the primary
// key per pick. Written as a join, the planner (which cannot know how
// many rows are due) read every due delivery with the deliveries_pending
// index and joined them to the picks in a nested loop that read the picks
// once per due delivery: half the statement's time with a backlog of a few
// hundred deliveries, and more with more.
//
// Each lease also gets its row in leases, which liveLeases counts: a lease
// changes no indexed column of deliveries, so PostgreSQL can write the
// delivery's new version on its own page without a new entry in any of its
// indexes (a HOT update; the table's fillfactor leaves the room), where an
// index on lease_until made every lease a new entry in all eight. A row of
// an earlier lease, expired, is taken over. The delivery rows are locked
// before the lease rows: completions, releases, cancels and retention
// follow that order too. (A completion locks its endpoint's row between
// the two, a claim after both; that makes no cycle, since a lease row is
// only ever locked by a transaction that holds its delivery's row.)
const leaseQuery = `WITH d AS (
		UPDATE deliveries d SET claim_token = l.token, lease_until = l.lease_until
		FROM unnest($1::bigint[], $2::text[], $3::timestamptz[]) AS l (seq, token, lease_until)
			CROSS JOIN LATERAL (SELECT c.seq FROM deliveries c
				WHERE c.seq = l.seq AND c.status = 'pending' AND c.next_attempt_at <= $4
					AND (c.lease_until IS NULL OR c.lease_until <= $4)
				LIMIT 1
				FOR UPDATE SKIP LOCKED) c
		WHERE d.seq = c.seq
		RETURNING d.*
	), m AS (
		INSERT INTO leases (endpoint_id, delivery_seq, lease_until)
		SELECT endpoint_id, seq, lease_until FROM d
		ON CONFLICT (endpoint_id, delivery_seq) DO UPDATE SET lease_until = excluded.lease_until
	)
	SELECT `

// ClaimDeliveries leases up to p.Limit due deliveries in one transaction;
// see hook.Store, and lockEndpointsQuery for how an endpoint's cap holds
// across processes. An endpoint that another claim is leasing for at this
// moment is skipped by this one.
func (db *DB) ClaimDeliveries(ctx context.Context, p hook.ClaimParams) ([]hook.Claim, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	now := hook.Timestamp(p.Now)
	limits := []byte("{}")
	if p.EndpointLimits != nil {
		var err error
		if limits, err = json.Marshal(p.EndpointLimits); err != nil {
			return nil, fmt.Errorf("claim deliveries: %w", err)
		}
	}
	perEndpoint := p.Limit
	if p.MaxPerEndpoint > 0 {
		perEndpoint = min(p.MaxPerEndpoint, p.Limit)
	}
	var claims []hook.Claim
	err := db.tx(ctx, func(tx pgx.Tx) error {
		var err error
		claims, err = db.claim(ctx, tx, now, p.LeaseMargin, string(limits), p.Limit, perEndpoint)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return claims, nil
}

func (db *DB) claim(ctx context.Context, tx pgx.Tx, now time.Time, margin time.Duration, limits string, limit, perEndpoint int) ([]hook.Claim, error) {
	rows, err := tx.Query(ctx, lockEndpointsQuery, now, limits, claimClass, limit)
	if err != nil {
		return nil, err
	}
	locked, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(locked) == 0 {
		return nil, err
	}
	picks, err := pickDeliveries(ctx, tx, now, locked, limits, limit, perEndpoint)
	if err != nil || len(picks) == 0 {
		return nil, err
	}

	seqs := make([]int64, len(picks))
	tokens := make([]string, len(picks))
	leases := make([]time.Time, len(picks))
	for i, pk := range picks {
		seqs[i], tokens[i] = pk.seq, "clm_"+rand.Text()
		leases[i] = hook.Timestamp(now.Add(pk.timeout + margin))
	}
	leased, err := queryList(ctx, tx, scanLeased, leaseQuery+prefixed("d.", deliveryColumns)+leasedColumns+" FROM d",
		seqs, tokens, leases, now)
	if err != nil || len(leased) == 0 {
		return nil, err
	}
	bySeq := make(map[int64]leasedDelivery, len(leased))
	var eventIDs, endpointIDs []string
	for _, d := range leased {
		bySeq[d.seq] = d
		eventIDs = append(eventIDs, d.EventID)
		if !slices.Contains(endpointIDs, d.EndpointID) {
			endpointIDs = append(endpointIDs, d.EndpointID)
		}
	}
	events, endpoints, err := db.claimed(ctx, tx, now, leased, eventIDs, endpointIDs)
	if err != nil {
		return nil, err
	}
	claims := make([]hook.Claim, 0, len(leased))
	for i, pk := range picks {
		d, ok := bySeq[pk.seq]
		if !ok {
			continue // skipped by leaseQuery
		}
		ev, ok := events[d.EventID]
		if !ok {
			return nil, fmt.Errorf("event %s of delivery %s: %w", d.EventID, d.ID, hook.ErrNotFound)
		}
		ep, ok := endpoints[pk.endpoint]
		if !ok {
			return nil, fmt.Errorf("endpoint %s: %w", pk.endpoint, hook.ErrNotFound)
		}
		claims = append(claims, hook.Claim{Delivery: d.Delivery, Event: ev, Endpoint: cloneEndpoint(ep),
			Token: tokens[i], LeaseUntil: leases[i], Replay: d.replay})
	}
	return claims, nil
}

// leasedColumns follow the delivery's in what leaseQuery returns: its
// replay state.
const leasedColumns = ", d.replays > 0, d.replay_status, d.unscheduled"

// leasedDelivery is a delivery just leased, with its replay state.
type leasedDelivery struct {
	seqDelivery
	replay hook.Replay
}

func scanLeased(s scanner) (leasedDelivery, error) {
	var (
		d      leasedDelivery
		status string
		err    error
	)
	d.seqDelivery, err = scanDelivery(scanMore{s, []any{&d.replay.Queued, &status, &d.replay.Unscheduled}})
	d.replay.RestoreStatus = hook.DeliveryStatus(status)
	return d, err
}

// scanMore scans the columns of s that follow those its caller asks for
// into more.
type scanMore struct {
	s    scanner
	more []any
}

func (m scanMore) Scan(dest ...any) error { return m.s.Scan(append(dest, m.more...)...) }

// claimed draws the rate-limit tokens of the leased deliveries and reads
// their events and endpoints, three statements sent at once (a pipeline:
// none depends on another's answer).
func (db *DB) claimed(ctx context.Context, tx pgx.Tx, now time.Time, leased []leasedDelivery, eventIDs, endpointIDs []string) (map[string]hook.Event, map[string]hook.Endpoint, error) {
	var b pgx.Batch
	drawTokens(&b, now, leased)
	events := make(map[string]hook.Event, len(eventIDs))
	b.Queue("SELECT "+eventColumns+" FROM events WHERE id = ANY($1::text[])", eventIDs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				return err
			}
			events[e.ID] = e.Event
		}
		return rows.Err()
	})
	endpoints := make(map[string]hook.Endpoint, len(endpointIDs))
	b.Queue("SELECT "+endpointColumns+" FROM endpoints WHERE id = ANY($1::text[])", endpointIDs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			e, err := db.scanEndpoint(rows)
			if err != nil {
				return err
			}
			endpoints[e.ID] = e
		}
		return rows.Err()
	})
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return nil, nil, translate(err)
	}
	return events, endpoints, nil
}

// pick is a delivery claimQuery picked.
type pick struct {
	seq      int64
	endpoint string
	timeout  time.Duration
}

// pickDeliveries runs claimQuery for the endpoints locked. It reads first no more
// per endpoint than an even share of the limit: with a backlog on many
// endpoints, that is all the final LIMIT keeps, a few rows each instead of
// each endpoint's whole room. The picks are then the same as without the
// cap (every endpoint's first rows come first), unless fewer than limit
// came back while an endpoint gave all the cap allowed: it may have more,
// and claimQuery runs again without the cap.
func pickDeliveries(ctx context.Context, tx pgx.Tx, now time.Time, locked []string, limits string, limit, perEndpoint int) ([]pick, error) {
	scan := func(s scanner) (pick, error) {
		var p pick
		var ns int64
		err := s.Scan(&p.seq, &p.endpoint, &ns)
		p.timeout = time.Duration(ns)
		return p, err
	}
	share := (limit + len(locked) - 1) / len(locked)
	if share < min(limit, perEndpoint) {
		picks, err := queryList(ctx, tx, scan, claimQuery, now, locked, limits, limit, perEndpoint, share)
		if err != nil || len(picks) >= limit {
			return picks, err
		}
		n := map[string]int{}
		for _, p := range picks {
			n[p.endpoint]++
		}
		if !slices.ContainsFunc(slices.Collect(maps.Values(n)), func(k int) bool { return k >= share }) {
			return picks, nil // every endpoint gave all it had room for
		}
	}
	return queryList(ctx, tx, scan, claimQuery, now, locked, limits, limit, perEndpoint, limit)
}

// drawTokens queues in b the draw of a token from the rate-limit bucket of
// each leased delivery's endpoint. The endpoint rows are updated after the
// delivery rows are locked, the order CompleteAttempt also follows.
func drawTokens(b *pgx.Batch, now time.Time, leased []leasedDelivery) {
	drawn := map[string]int32{}
	for _, d := range leased {
		drawn[d.EndpointID]++
	}
	ids := slices.Sorted(maps.Keys(drawn))
	ns := make([]int32, len(ids))
	for i, id := range ids {
		ns[i] = drawn[id]
	}
	b.Queue(`UPDATE endpoints e SET rate_tokens = `+rateTokens+` - d.n, rate_at = $1
		FROM unnest($2::text[], $3::int[]) AS d (id, n)
		WHERE e.id = d.id AND e.rate_limit > 0`, now, ids, ns)
}

// prefixed qualifies every column of a column list with p.
func prefixed(p, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

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

const attemptColumns = `id, delivery_id, endpoint_id, tenant_id, number, started_at, duration_us,
	request_headers, status_code, response_headers, response_body, error, error_message, next_retry_at`

func scanAttempt(s scanner) (hook.Attempt, error) {
	var (
		a                     hook.Attempt
		durationUS            int64
		reqHeader, respHeader string
		next                  pgtype.Timestamptz
	)
	err := s.Scan(&a.ID, &a.DeliveryID, &a.EndpointID, &a.TenantID, &a.Number, &a.StartedAt, &durationUS,
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
	a.StartedAt = a.StartedAt.UTC()
	a.Duration = time.Duration(durationUS) * time.Microsecond
	a.NextRetryAt = fromNullTS(next)
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
	as, err := queryList(ctx, db.pool, scanAttempt,
		"SELECT "+attemptColumns+" FROM attempts WHERE delivery_id = $1 AND number > $2 ORDER BY number LIMIT $3",
		f.DeliveryID, after, limit+1)
	if err != nil {
		return hook.Page[hook.Attempt]{}, fmt.Errorf("list attempts: %w", err)
	}
	return hook.NewPage(as, limit, listAttempts, func(a hook.Attempt) string { return strconv.Itoa(a.Number) }), nil
}

// QueueStats counts pending deliveries at now in one query.
func (db *DB) QueueStats(ctx context.Context, now time.Time) (hook.QueueStats, error) {
	var s hook.QueueStats
	err := db.pool.QueryRow(ctx, `SELECT count(*),
		count(*) FILTER (WHERE next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)),
		count(*) FILTER (WHERE lease_until > $1)
		FROM deliveries WHERE status = 'pending'`, ts(now)).Scan(&s.Pending, &s.Due, &s.Leased)
	if err != nil {
		return hook.QueueStats{}, fmt.Errorf("queue stats: %w", translate(err))
	}
	return s, nil
}
