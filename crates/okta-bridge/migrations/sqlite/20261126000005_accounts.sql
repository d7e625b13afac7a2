-- Accounts: one per org okta-bridge works with, holding how it connects to that org.
-- kind: 'web' (an OAuth web app: authorization code + PKCE, client secret sealed),
-- 'service' (a service app: client credentials with private_key_jwt, private key sealed),
-- 'token' (no app: connected by pasting an API token).
-- A connection (table connections) of the same name holds the tokens.
CREATE TABLE accounts (
    name           TEXT PRIMARY KEY,
    org_url        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    client_id      TEXT,
    client_secret  BLOB,
    private_key    BLOB,
    key_id         TEXT,
    issuer         TEXT,
    scopes         TEXT NOT NULL,
    dpop           INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
-- How a connection was made: 'authorization_code' (tokens from the connect flow, refreshed),
-- 'api_token' (an SSWS token, never refreshed), 'service_app' (tokens minted by each instance
-- with the account's private key; nothing secret stored in the row).
ALTER TABLE connections ADD COLUMN method TEXT NOT NULL DEFAULT 'authorization_code';
