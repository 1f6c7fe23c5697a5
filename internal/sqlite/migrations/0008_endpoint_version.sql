-- Claims return each delivery's endpoint with its secrets and headers
-- opened. The readers keep what they opened and read again only the
-- endpoints' health (which every attempt changes) while this one row keeps
-- its value. Triggers set it to a new random value on every change to any
-- other column of an endpoint (its configuration, status and timestamps),
-- and when one is created or deleted, whoever makes the change. As with
-- match_version, the value is random so that it never repeats after a
-- rollback. TestEndpointVersionCoversColumns fails when a column is added
-- to endpoints without deciding whether it belongs here.
CREATE TABLE endpoint_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO endpoint_version (id, version) VALUES (1, random());

CREATE TRIGGER endpoints_insert_version AFTER INSERT ON endpoints
BEGIN UPDATE endpoint_version SET version = random(); END;

CREATE TRIGGER endpoints_delete_version AFTER DELETE ON endpoints
BEGIN UPDATE endpoint_version SET version = random(); END;

CREATE TRIGGER endpoints_update_version AFTER UPDATE OF
    id, tenant_id, url, description, events, secrets, signature_scheme, headers,
    rate_limit, max_in_flight, timeout_ns, retry_schedule, metadata, status,
    disabled_reason, created_at, updated_at
ON endpoints
BEGIN UPDATE endpoint_version SET version = random(); END;
