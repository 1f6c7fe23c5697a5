-- The delivery log: the attempt feed, endpoint stats and delivery filters.

-- seq orders the attempt feed (GET /v1/attempts) in the order attempts were
-- recorded. It is an explicit column rather than the table's implicit rowid,
-- which VACUUM may renumber and which SQLite gives out again once the
-- newest row is deleted. attempt_seq holds the last seq given out, so a
-- seq is never reused, even after retention deletes the newest attempts;
-- its writer takes the next one inside the transaction that records the
-- attempt, and the one writer commits them in seq order. Existing attempts
-- are numbered in rowid order, which is insert order.
ALTER TABLE attempts ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE attempts SET seq = rowid;
CREATE TABLE attempt_seq (last INTEGER NOT NULL) STRICT;
INSERT INTO attempt_seq (last) SELECT coalesce(max(seq), 0) FROM attempts;

CREATE UNIQUE INDEX attempts_seq ON attempts (seq);
CREATE INDEX attempts_tenant ON attempts (tenant_id, seq);
CREATE INDEX attempts_endpoint ON attempts (endpoint_id, seq);
-- Endpoint stats: a window's attempts of one endpoint, with their
-- durations, read from the index alone for the percentiles.
CREATE INDEX attempts_endpoint_started ON attempts (endpoint_id, started_at, duration_us);

-- Endpoint stats count a window's deliveries of one endpoint by status
-- from the index alone.
CREATE INDEX deliveries_endpoint_created ON deliveries (endpoint_id, created_at, status);
-- The dead letters of a tenant (?status=failed) are few among many
-- succeeded deliveries: walking the tenant's deliveries to find them would
-- read its whole history.
CREATE INDEX deliveries_failed ON deliveries (tenant_id, seq) WHERE status = 'failed';
