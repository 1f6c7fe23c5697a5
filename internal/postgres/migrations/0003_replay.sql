-- Replays and recover jobs (see hook.Replay). replays counts the queued
-- manual attempts of a delivery, which is pending while any is queued;
-- replay_status is the status a failed replay returns it to. unscheduled
-- counts the attempts that do not count toward its retry schedule.
ALTER TABLE deliveries ADD COLUMN replays integer NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN replay_status text NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN unscheduled integer NOT NULL DEFAULT 0;

-- A job is leased like a delivery; cursor is the seq of the last event it
-- walked.
CREATE TABLE jobs (
    id          text COLLATE "C" PRIMARY KEY,
    tenant_id   text COLLATE "C" NOT NULL,
    kind        text        NOT NULL,
    endpoint_id text COLLATE "C" NOT NULL,
    since       timestamptz NOT NULL,
    until       timestamptz NOT NULL,
    status      text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    total       integer     NOT NULL,
    done        integer     NOT NULL,
    error       text        NOT NULL,
    cursor      bigint      NOT NULL,
    created_at  timestamptz NOT NULL,
    finished_at timestamptz,
    claim_token text,
    lease_until timestamptz
);

CREATE INDEX jobs_running ON jobs (lease_until) WHERE status = 'running';
