-- Setup links (src/service/setup.rs): a single-use, expiring, revocable URL an application sends
-- its customer's Okta admin to connect one account. Only the token's hash is kept; once opened
-- the link belongs to the browser that opened it (the hash of its session cookie). A key pair
-- made for the "own service app" path is sealed like every other secret. checks/window_start
-- count the credential checks of the current window (the rate limit).
CREATE TABLE setup_links (
    id           TEXT PRIMARY KEY,
    account      TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    opened_at    BIGINT,
    session_hash TEXT UNIQUE,
    revoked_at   BIGINT,
    connected_at BIGINT,
    method       TEXT,
    private_key  BYTEA,
    key_id       TEXT,
    checks       BIGINT NOT NULL DEFAULT 0,
    window_start BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX setup_links_account ON setup_links (account, created_at);
