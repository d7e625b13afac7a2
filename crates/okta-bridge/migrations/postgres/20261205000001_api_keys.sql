-- API keys: applications' credentials for okta-bridge's API, by the hash of the key (the key
-- itself is shown once, when made). A name is unique among keys not revoked.
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    scope         TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;

-- Who did what the audit log records (an admin token, an API key, a console user).
ALTER TABLE connection_audit ADD COLUMN actor TEXT;
