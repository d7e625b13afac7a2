-- Connections to Okta orgs. Tokens are encrypted (XChaCha20-Poly1305, see crypto.rs);
-- nothing secret is stored in plaintext.
CREATE TABLE connections (
    account        TEXT PRIMARY KEY,
    org_url        TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    token_type     TEXT NOT NULL,
    access_token   BYTEA NOT NULL,
    refresh_token  BYTEA,
    expires_at     BIGINT NOT NULL,
    version        BIGINT NOT NULL DEFAULT 1,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

-- Pending authorizations: single-use, expiring, bound to the browser that started them.
-- The state and the browser binding are stored as SHA-256 hashes, the PKCE verifier encrypted.
CREATE TABLE oauth_states (
    state_hash     TEXT PRIMARY KEY,
    browser_hash   TEXT NOT NULL,
    pkce_verifier  BYTEA NOT NULL,
    account        TEXT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);

-- Admin sessions of the HTML pages (hash of the cookie value).
CREATE TABLE admin_sessions (
    session_hash   TEXT PRIMARY KEY,
    expires_at     BIGINT NOT NULL
);

-- Store-wide facts, e.g. a value encrypted with the master key to detect a wrong key.
CREATE TABLE store_meta (
    name           TEXT PRIMARY KEY,
    value          BYTEA NOT NULL
);
