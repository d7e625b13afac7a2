-- The directory of each connected org as sync last saw it (src/sync.rs, src/store/directory.rs),
-- and its change feed. Okta's times are kept as Okta wrote them (RFC 3339 text); profiles and
-- event data as JSON text. Rows are per account (the connection's name).
CREATE TABLE dir_users (
    account          TEXT NOT NULL,
    id               TEXT NOT NULL,
    status           TEXT NOT NULL,
    login            TEXT NOT NULL,
    email            TEXT,
    first_name       TEXT,
    last_name        TEXT,
    created          TEXT,
    activated        TEXT,
    status_changed   TEXT,
    last_login       TEXT,
    last_updated     TEXT,
    profile          TEXT NOT NULL,
    PRIMARY KEY (account, id)
);
CREATE TABLE dir_groups (
    account                  TEXT NOT NULL,
    id                       TEXT NOT NULL,
    group_type               TEXT NOT NULL,
    name                     TEXT NOT NULL,
    description              TEXT,
    created                  TEXT,
    last_updated             TEXT,
    last_membership_updated  TEXT,
    PRIMARY KEY (account, id)
);
CREATE TABLE dir_members (
    account   TEXT NOT NULL,
    group_id  TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    PRIMARY KEY (account, group_id, user_id)
);
CREATE INDEX dir_members_user ON dir_members (account, user_id);
CREATE TABLE dir_apps (
    account       TEXT NOT NULL,
    id            TEXT NOT NULL,
    label         TEXT NOT NULL,
    name          TEXT,
    status        TEXT,
    sign_on_mode  TEXT,
    PRIMARY KEY (account, id)
);
CREATE TABLE dir_app_users (
    account  TEXT NOT NULL,
    app_id   TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    scope    TEXT,
    PRIMARY KEY (account, app_id, user_id)
);
-- The change feed: one row per change, numbered per account in the order written (seq never
-- goes back: the next number lives in dir_sync and is taken in the change's transaction).
CREATE TABLE dir_events (
    account      TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    event_type   TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    occurred_at  TEXT,
    recorded_at  INTEGER NOT NULL,
    data         TEXT NOT NULL,
    PRIMARY KEY (account, seq)
);
-- Sync state per account: the next event number, the last run, and a lease so that one
-- process syncs an account at a time (taken by one conditional UPDATE).
CREATE TABLE dir_sync (
    account       TEXT PRIMARY KEY,
    next_seq      INTEGER NOT NULL DEFAULT 1,
    last_run_at   INTEGER,
    last_full_at  INTEGER,
    last_error    TEXT,
    last_summary  TEXT,
    lease_owner   TEXT,
    lease_until   INTEGER
);
