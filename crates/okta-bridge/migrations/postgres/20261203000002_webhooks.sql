-- Webhook endpoints (src/store/webhooks.rs): where the change feed is delivered, which event
-- types and connections (NULL: all), signed with a secret sealed like every other secret; while a
-- secret is rotated, the previous one signs too until previous_until.
CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    events          TEXT,
    connections     TEXT,
    secret          BYTEA NOT NULL,
    previous_secret BYTEA,
    previous_until  BIGINT,
    status          TEXT NOT NULL DEFAULT 'active',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
