-- Replays and recover jobs (see hook.Replay). replays counts the queued
-- manual attempts of a delivery, which is pending while any is queued;
-- replay_status is the status a failed replay returns it to. unscheduled
-- counts the attempts that do not count toward its retry schedule.
ALTER TABLE deliveries ADD COLUMN replays INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN replay_status TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN unscheduled INTEGER NOT NULL DEFAULT 0;

-- A job is leased like a delivery; cursor is the seq of the last event it
-- walked.
CREATE TABLE jobs (
    id          TEXT    PRIMARY KEY,
    tenant_id   TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    endpoint_id TEXT    NOT NULL,
    since       INTEGER NOT NULL,
    until       INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    total       INTEGER NOT NULL,
    done        INTEGER NOT NULL,
    error       TEXT    NOT NULL,
    cursor      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    finished_at INTEGER,
    claim_token TEXT,
    lease_until INTEGER
) STRICT;

CREATE INDEX jobs_running ON jobs (lease_until) WHERE status = 'running';
