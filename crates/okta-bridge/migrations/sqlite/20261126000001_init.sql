-- Connections to Okta orgs. Tokens are encrypted (XChaCha20-Poly1305, see crypto.rs);
-- nothing secret is stored in plaintext.
CREATE TABLE connections (
    account        TEXT PRIMARY KEY,
    org_url        TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    token_type     TEXT NOT NULL,
    access_token   BLOB NOT NULL,
    refresh_token  BLOB,
    expires_at     INTEGER NOT NULL,
    version        INTEGER NOT NULL DEFAULT 1,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

-- Pending authorizations: single-use, expiring, bound to the browser that started them.
-- The state and the browser binding are stored as SHA-256 hashes, the PKCE verifier encrypted.
CREATE TABLE oauth_states (
    state_hash     TEXT PRIMARY KEY,
    browser_hash   TEXT NOT NULL,
    pkce_verifier  BLOB NOT NULL,
    account        TEXT,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);

-- Admin sessions of the HTML pages (hash of the cookie value).
CREATE TABLE admin_sessions (
    session_hash   TEXT PRIMARY KEY,
    expires_at     INTEGER NOT NULL
);

-- Store-wide facts, e.g. a value encrypted with the master key to detect a wrong key.
CREATE TABLE store_meta (
    name           TEXT PRIMARY KEY,
    value          BLOB NOT NULL
);
