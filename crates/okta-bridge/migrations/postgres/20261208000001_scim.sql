-- SCIM 2.0 push (src/service/scim.rs): per account, the hash of the bearer token the customer's
-- Okta presents (and, while a rotation's overlap lasts, the previous one until previous_until),
-- and the last request received with its outcome (for the API, the console and health). An
-- account with a row here has a connection whose method is 'scim'.
CREATE TABLE scim_tokens (
    account          TEXT PRIMARY KEY,
    token_hash       TEXT NOT NULL,
    previous_hash    TEXT,
    previous_until   BIGINT,
    created_at       BIGINT NOT NULL,
    rotated_at       BIGINT,
    last_request_at  BIGINT,
    last_request     TEXT,
    last_status      BIGINT
);
-- A pushed user keeps the provider's externalId; a pushed user or group keeps the resource as
-- pushed (canonical attribute names, without password or meta), which SCIM answers and filters
-- read. userName is matched in any case (ASCII, the same on both databases): the index serves
-- Okta's `userName eq` check before every create.
ALTER TABLE dir_users ADD COLUMN external_id TEXT;
ALTER TABLE dir_users ADD COLUMN scim TEXT;
ALTER TABLE dir_groups ADD COLUMN scim TEXT;
CREATE INDEX dir_users_login_ci ON dir_users (account, lower(login COLLATE "C"));
