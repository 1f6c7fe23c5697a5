-- The delivery log: the attempt feed, endpoint stats and delivery filters.

-- seq orders the attempt feed (GET /v1/attempts) in the order attempts were
-- recorded; existing attempts are numbered in the table's physical order.
-- An identity takes its value at insert, not at commit: see ListAttemptLog
-- for what that means for the feed.
ALTER TABLE attempts ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;

CREATE UNIQUE INDEX attempts_seq ON attempts (seq);
CREATE INDEX attempts_tenant ON attempts (tenant_id, seq);
CREATE INDEX attempts_endpoint ON attempts (endpoint_id, seq);
-- Endpoint stats: a window's attempts of one endpoint, with their
-- durations, read from the index alone for the percentiles.
CREATE INDEX attempts_endpoint_started ON attempts (endpoint_id, started_at) INCLUDE (duration_us);

-- Endpoint stats count a window's deliveries of one endpoint by status.
CREATE INDEX deliveries_endpoint_created ON deliveries (endpoint_id, created_at) INCLUDE (status);
-- The dead letters of a tenant (?status=failed) are few among many
-- succeeded deliveries: walking the tenant's deliveries to find them would
-- read its whole history.
CREATE INDEX deliveries_failed ON deliveries (tenant_id, seq) WHERE status = 'failed';
