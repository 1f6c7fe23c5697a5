-- An endpoint's rate limit is a token bucket kept with the endpoint, so
-- that every process claiming deliveries draws from the same one. NULL
-- rate_tokens is a full bucket; rate_at is when rate_tokens was computed.
ALTER TABLE endpoints ADD COLUMN rate_tokens REAL;
ALTER TABLE endpoints ADD COLUMN rate_at INTEGER;
