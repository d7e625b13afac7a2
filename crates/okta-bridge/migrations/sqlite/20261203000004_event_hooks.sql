-- Okta Event Hooks in (src/service/hooks.rs). Per connection: the secret the org sends in its
-- Authorization header (sealed like every other secret), the hook registered at the org, and
-- counters. hook_seen remembers the deliveries (eventId) and System Log events (log:uuid)
-- already taken, so a retried or duplicated call syncs nothing twice; hook_targets queues the
-- objects the events name until a targeted sync has read them.
CREATE TABLE event_hooks (
    account          TEXT PRIMARY KEY,
    secret           BLOB NOT NULL,
    okta_hook_id     TEXT,
    uri              TEXT,
    created_at       BIGINT NOT NULL,
    registered_at    BIGINT,
    last_received_at BIGINT,
    received         BIGINT NOT NULL DEFAULT 0,
    duplicates       BIGINT NOT NULL DEFAULT 0,
    syncs            BIGINT NOT NULL DEFAULT 0,
    last_sync_at     BIGINT,
    last_sync_error  TEXT
);
CREATE TABLE hook_seen (
    account TEXT NOT NULL,
    id      TEXT NOT NULL,
    at      BIGINT NOT NULL,
    PRIMARY KEY (account, id)
);
CREATE INDEX hook_seen_at ON hook_seen (at);
CREATE TABLE hook_targets (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    object_id  TEXT NOT NULL,
    other_id   TEXT,
    at         BIGINT NOT NULL
);
CREATE INDEX hook_targets_account ON hook_targets (account, id);
