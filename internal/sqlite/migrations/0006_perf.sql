-- deliveries_due (status, next_attempt_at) served only the queue counts,
-- which the partial index deliveries_pending answers as well; every ingest
-- and every attempt paid to keep it (an insert, and a delete and insert
-- whenever an attempt changed the delivery's status or next attempt).
DROP INDEX deliveries_due;

-- A claim looks at every active endpoint for a due delivery: through this
-- index it reads their ids alone, not their rows (which hold sealed secrets,
-- headers and settings), and fetches the row of those with one.
CREATE INDEX endpoints_active ON endpoints (status, id);
