-- Ingest matches each event against its tenant's active endpoints. The
-- writer keeps what it read of each tenant (whether it exists, and the ids
-- and event patterns of its active endpoints) and reads it again only when
-- this one row has changed since. Every change that can alter a match sets
-- it, through the triggers below, whoever makes it (Herald or a sqlite3
-- shell): a tenant created, deleted or renamed, an endpoint created or
-- deleted, or an endpoint's id, status, event patterns or tenant updated.
-- The value is random rather than a count so that it never repeats: after
-- a rollback restores an old value, the next change cannot land on a value
-- a reader saw inside the transaction that was rolled back.
CREATE TABLE match_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO match_version (id, version) VALUES (1, random());

CREATE TRIGGER tenants_insert_match AFTER INSERT ON tenants
BEGIN UPDATE match_version SET version = random(); END;

CREATE TRIGGER tenants_delete_match AFTER DELETE ON tenants
BEGIN UPDATE match_version SET version = random(); END;

CREATE TRIGGER tenants_update_match AFTER UPDATE OF id ON tenants
BEGIN UPDATE match_version SET version = random(); END;

CREATE TRIGGER endpoints_insert_match AFTER INSERT ON endpoints
BEGIN UPDATE match_version SET version = random(); END;

CREATE TRIGGER endpoints_delete_match AFTER DELETE ON endpoints
BEGIN UPDATE match_version SET version = random(); END;

CREATE TRIGGER endpoints_update_match AFTER UPDATE OF id, status, events, tenant_id ON endpoints
BEGIN UPDATE match_version SET version = random(); END;
