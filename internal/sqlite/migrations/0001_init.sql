-- Herald's first schema. Times are INTEGER unix microseconds in UTC; a NULL
-- time means never. Maps and lists are JSON text, where "null" is a nil Go
-- value, so that nil and empty round-trip distinctly.

CREATE TABLE tenants (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    metadata   TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- Ids of deleted tenants. Their events and deliveries stay (until retention),
-- keyed by the tenant id alone, so the id is not given out again: a new
-- tenant under it would see the old one's events.
CREATE TABLE deleted_tenants (
    id         TEXT    PRIMARY KEY,
    deleted_at INTEGER NOT NULL
) STRICT;

-- The reserved tenant whose endpoints receive Herald's operational events.
INSERT INTO tenants (id, name, metadata, created_at)
VALUES ('herald', 'Herald', 'null', CAST(strftime('%s', 'now') AS INTEGER) * 1000000);

-- Only the SHA-256 hash of a token is stored. tenant_id is NULL for an admin
-- key.
CREATE TABLE api_keys (
    id           TEXT    PRIMARY KEY,
    tenant_id    TEXT    REFERENCES tenants (id) ON DELETE CASCADE,
    prefix       TEXT    NOT NULL,
    hash         BLOB    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
) STRICT;

CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);

-- secrets is the JSON list of signing secrets sealed with AES-256-GCM, the
-- endpoint id as additional data; it is never stored in clear.
-- retry_schedule is a JSON list of nanoseconds, NULL for the server default
-- ('[]' means a single attempt).
CREATE TABLE endpoints (
    id                   TEXT    PRIMARY KEY,
    tenant_id            TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    url                  TEXT    NOT NULL,
    description          TEXT    NOT NULL,
    events               TEXT    NOT NULL,
    secrets              BLOB    NOT NULL,
    signature_scheme     TEXT    NOT NULL,
    headers              BLOB    NOT NULL, -- sealed: custom headers often carry credentials
    rate_limit           REAL    NOT NULL,
    max_in_flight        INTEGER NOT NULL,
    timeout_ns           INTEGER NOT NULL,
    retry_schedule       TEXT,
    metadata             TEXT    NOT NULL,
    status               TEXT    NOT NULL,
    disabled_reason      TEXT    NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    last_success_at      INTEGER,
    last_failure_at      INTEGER,
    consecutive_failures INTEGER NOT NULL
) STRICT;

CREATE INDEX endpoints_tenant ON endpoints (tenant_id, id);

-- Producers choose event ids, which do not sort by time, so seq orders
-- events newest first and is the key of list cursors. AUTOINCREMENT never
-- reuses a seq, even after retention deletes the newest rows. Events have no
-- foreign key to tenants: they outlive a deleted tenant.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,
    tenant_id  TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    data       BLOB    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX events_tenant ON events (tenant_id, seq);
CREATE INDEX events_tenant_type ON events (tenant_id, type, seq);
CREATE INDEX events_created ON events (created_at);

-- endpoint_id is not a foreign key: an endpoint is deleted while its
-- delivery log stays.
CREATE TABLE deliveries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    event_id        TEXT    NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    endpoint_id     TEXT    NOT NULL,
    tenant_id       TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    attempt_count   INTEGER NOT NULL,
    next_attempt_at INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (event_id, endpoint_id)
) STRICT;

CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, seq);
CREATE INDEX deliveries_tenant ON deliveries (tenant_id, seq);
-- The dispatcher finds due deliveries by status and time.
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);

CREATE TABLE event_types (
    name        TEXT    PRIMARY KEY,
    description TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    schema      BLOB,
    created_at  INTEGER NOT NULL
) STRICT;
