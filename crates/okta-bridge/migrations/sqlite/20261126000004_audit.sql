-- What happened to connections, kept after they are gone (no secrets: names and events).
CREATE TABLE connection_audit (
    account     TEXT NOT NULL,
    org_url     TEXT NOT NULL,
    event       TEXT NOT NULL,
    detail      TEXT,
    at          INTEGER NOT NULL
);
CREATE INDEX connection_audit_account ON connection_audit (account, at);
