-- Retention deletes expired events oldest first in small batches, each
-- starting after the (created_at, seq) where the previous one stopped;
-- this index serves that order (and replaces the one on created_at alone,
-- which only retention used).
CREATE INDEX events_created_seq ON events (created_at, seq);
DROP INDEX events_created;
