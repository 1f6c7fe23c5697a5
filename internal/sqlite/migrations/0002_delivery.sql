-- The delivery engine: leases on deliveries, the attempt log, and the start
-- of an endpoint's failure streak (for auto-disable).

-- NULL while the endpoint is not failing.
ALTER TABLE endpoints ADD COLUMN failing_since INTEGER;

-- A claimed delivery holds a lease: claim_token fences its completion and
-- lease_until is when another claim may take it. Both are NULL when it is
-- not leased, and only a pending delivery is ever leased.
ALTER TABLE deliveries ADD COLUMN claim_token TEXT;
ALTER TABLE deliveries ADD COLUMN lease_until INTEGER;

-- Counts the live leases of each endpoint, for its in-flight cap.
CREATE INDEX deliveries_leased ON deliveries (endpoint_id, lease_until) WHERE lease_until IS NOT NULL;

-- A claim reads each endpoint's earliest pending deliveries, a few per
-- endpoint however deep its backlog (seq, the rowid, ends every index entry,
-- so the order is next_attempt_at, seq).
CREATE INDEX deliveries_pending ON deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending';

-- One row per HTTP try. Headers are JSON text ("null" for a nil header);
-- response_body is NULL when the response had no body. UNIQUE (delivery_id,
-- number) is also the index that lists a delivery's attempts in order.
CREATE TABLE attempts (
    id               TEXT    PRIMARY KEY,
    delivery_id      TEXT    NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    endpoint_id      TEXT    NOT NULL,
    tenant_id        TEXT    NOT NULL,
    number           INTEGER NOT NULL,
    started_at       INTEGER NOT NULL,
    duration_us      INTEGER NOT NULL,
    request_headers  TEXT    NOT NULL,
    status_code      INTEGER NOT NULL,
    response_headers TEXT    NOT NULL,
    response_body    BLOB,
    error            TEXT    NOT NULL,
    error_message    TEXT    NOT NULL,
    next_retry_at    INTEGER,
    UNIQUE (delivery_id, number)
) STRICT;
