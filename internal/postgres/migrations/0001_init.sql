-- Herald's schema on PostgreSQL. Times are timestamptz, which keeps the
-- microsecond precision hook.Timestamp promises; a NULL time means never.
-- Identifiers and names use the "C" collation, so that lists ordered by id
-- or name sort by bytes, as in Go and SQLite, whatever the database's
-- locale. Maps and lists are json (not jsonb): the text json.Marshal made is
-- kept as written, "null" for a nil Go value, so nil and empty round-trip
-- distinctly, and jsonb's refusal of \u0000 cannot fail a write.

CREATE TABLE tenants (
    id         text COLLATE "C" PRIMARY KEY,
    name       text        NOT NULL,
    metadata   json        NOT NULL,
    created_at timestamptz NOT NULL
);

-- Ids of deleted tenants. Their events and deliveries stay (until retention),
-- keyed by the tenant id alone, so the id is not given out again.
CREATE TABLE deleted_tenants (
    id         text COLLATE "C" PRIMARY KEY,
    deleted_at timestamptz NOT NULL
);

-- The reserved tenant whose endpoints receive Herald's operational events.
INSERT INTO tenants (id, name, metadata, created_at)
VALUES ('herald', 'Herald', 'null', date_trunc('second', now()));

-- Only the SHA-256 hash of a token is stored. tenant_id is NULL for an admin
-- key.
CREATE TABLE api_keys (
    id           text COLLATE "C" PRIMARY KEY,
    tenant_id    text COLLATE "C" REFERENCES tenants (id) ON DELETE CASCADE,
    prefix       text        NOT NULL,
    hash         bytea       NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz
);

CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);

-- secrets and headers are sealed with AES-256-GCM (the endpoint id, and the
-- id + "/headers", as additional data); they are never stored in clear.
-- retry_schedule is a JSON list of nanoseconds, NULL for the server default
-- ('[]' means a single attempt). failing_since is NULL while the endpoint is
-- not failing. The rate limit is a token bucket kept with the endpoint, so
-- that every process claiming deliveries draws from the same one: NULL
-- rate_tokens is a full bucket; rate_at is when rate_tokens was computed.
CREATE TABLE endpoints (
    id                   text COLLATE "C" PRIMARY KEY,
    tenant_id            text COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    url                  text             NOT NULL,
    description          text             NOT NULL,
    events               json             NOT NULL,
    secrets              bytea            NOT NULL,
    signature_scheme     text             NOT NULL,
    headers              bytea            NOT NULL,
    rate_limit           double precision NOT NULL,
    max_in_flight        integer          NOT NULL,
    timeout_ns           bigint           NOT NULL,
    retry_schedule       json,
    metadata             json             NOT NULL,
    status               text             NOT NULL CHECK (status IN ('active', 'disabled')),
    disabled_reason      text             NOT NULL,
    created_at           timestamptz      NOT NULL,
    updated_at           timestamptz      NOT NULL,
    last_success_at      timestamptz,
    last_failure_at      timestamptz,
    consecutive_failures integer          NOT NULL,
    failing_since        timestamptz,
    rate_tokens          double precision,
    rate_at              timestamptz
);

CREATE INDEX endpoints_tenant ON endpoints (tenant_id, id);

-- Producers choose event ids, which do not sort by time, so seq orders
-- events newest first and is the key of list cursors; an identity never
-- gives a number out twice. Events have no foreign key to tenants: they
-- outlive a deleted tenant. data is bytea: the producer's bytes, kept
-- exactly, whatever the database's encoding.
CREATE TABLE events (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         text COLLATE "C" NOT NULL UNIQUE,
    tenant_id  text COLLATE "C" NOT NULL,
    type       text COLLATE "C" NOT NULL,
    data       bytea       NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE INDEX events_tenant ON events (tenant_id, seq);
CREATE INDEX events_tenant_type ON events (tenant_id, type, seq);
CREATE INDEX events_created ON events (created_at);

-- endpoint_id is not a foreign key: an endpoint is deleted while its
-- delivery log stays. A claimed delivery holds a lease: claim_token fences
-- its completion and lease_until is when another claim may take it; both
-- are NULL when it is not leased, and only a pending delivery is leased.
CREATE TABLE deliveries (
    seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              text COLLATE "C" NOT NULL UNIQUE,
    event_id        text COLLATE "C" NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    endpoint_id     text COLLATE "C" NOT NULL,
    tenant_id       text COLLATE "C" NOT NULL,
    event_type      text COLLATE "C" NOT NULL,
    status          text        NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    attempt_count   integer     NOT NULL,
    next_attempt_at timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    claim_token     text,
    lease_until     timestamptz,
    UNIQUE (event_id, endpoint_id)
);

CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, seq);
CREATE INDEX deliveries_tenant ON deliveries (tenant_id, seq);
-- Counts the live leases of each endpoint, for its in-flight cap.
CREATE INDEX deliveries_leased ON deliveries (endpoint_id, lease_until) WHERE lease_until IS NOT NULL;
-- A claim reads each endpoint's earliest pending deliveries, a few per
-- endpoint however deep its backlog; QueueStats counts them.
CREATE INDEX deliveries_pending ON deliveries (endpoint_id, next_attempt_at, seq) WHERE status = 'pending';

-- One row per HTTP try. response_body is NULL when the response had no
-- body. UNIQUE (delivery_id, number) is also the index that lists a
-- delivery's attempts in order.
CREATE TABLE attempts (
    id               text COLLATE "C" PRIMARY KEY,
    delivery_id      text COLLATE "C" NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    endpoint_id      text COLLATE "C" NOT NULL,
    tenant_id        text COLLATE "C" NOT NULL,
    number           integer     NOT NULL,
    started_at       timestamptz NOT NULL,
    duration_us      bigint      NOT NULL,
    request_headers  json        NOT NULL,
    status_code      integer     NOT NULL,
    response_headers json        NOT NULL,
    response_body    bytea,
    error            text        NOT NULL,
    error_message    text        NOT NULL,
    next_retry_at    timestamptz,
    UNIQUE (delivery_id, number)
);

CREATE TABLE event_types (
    name        text COLLATE "C" PRIMARY KEY,
    description text        NOT NULL,
    version     text        NOT NULL,
    schema      bytea,
    created_at  timestamptz NOT NULL
);
