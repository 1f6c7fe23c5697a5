-- The live leases of each endpoint, counted by every claim for its
-- MaxInFlight, have a narrow table of their own: one row per leased
-- delivery, written and deleted in the transactions that set and end the
-- delivery's lease. The delivery row stays the lease's truth: its
-- claim_token fences completions, releases and cancels, and its
-- lease_until is what claims check before taking it. A row here only
-- counts while its lease_until is ahead.
--
-- Why: the partial index deliveries_leased (endpoint_id, lease_until)
-- made every lease an update of an indexed column, so each claim wrote a
-- new version of the delivery into every one of its eight indexes. Now a
-- lease changes no indexed column of deliveries, and with room left on
-- each page (the fillfactor) PostgreSQL writes it as a heap-only tuple
-- (HOT), touching no index; the row here adds one index entry.
-- First, no claim may lease while the leases are copied: a claim that
-- an earlier Herald has not committed yet would be missed by the copy.
-- (DROP INDEX below takes a stronger lock on deliveries anyway.)
LOCK TABLE deliveries IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE leases (
    endpoint_id  text COLLATE "C" NOT NULL,
    delivery_seq bigint      NOT NULL,
    lease_until  timestamptz NOT NULL,
    PRIMARY KEY (endpoint_id, delivery_seq)
);

INSERT INTO leases (endpoint_id, delivery_seq, lease_until)
    SELECT endpoint_id, seq, lease_until FROM deliveries WHERE lease_until IS NOT NULL;

DROP INDEX deliveries_leased;

-- Room on each page for the lease's new version of a row (for rows
-- written from now on; pages written before keep what they have). Leasing
-- and then completing 20,000 deliveries 50 at a time, 96% of the leases
-- were HOT at 50, 44% at 70 and 37% at 80, and the table was smallest at
-- 50: each page's dead versions are pruned as it is read, so the room is
-- used again rather than the table growing.
ALTER TABLE deliveries SET (fillfactor = 50);
