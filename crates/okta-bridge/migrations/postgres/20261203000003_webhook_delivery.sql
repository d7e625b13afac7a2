-- Delivery of the change feed to webhook endpoints (src/service/delivery.rs). The feed is the
-- outbox: per endpoint and connection, the cursor of the last event delivered, and what is after
-- it is still to deliver (events are written with their changes, in one transaction). Retry
-- state, a lease so that one instance delivers a stream at a time, and a log of attempts.
CREATE TABLE webhook_streams (
    webhook_id    TEXT NOT NULL,
    account       TEXT NOT NULL,
    delivered     BIGINT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    failing_since BIGINT,
    next_at       BIGINT NOT NULL DEFAULT 0,
    last_error    TEXT,
    lease_owner   TEXT,
    lease_until   BIGINT,
    PRIMARY KEY (webhook_id, account)
);
CREATE TABLE webhook_deliveries (
    webhook_id TEXT NOT NULL,
    account    TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    attempt    BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    status     BIGINT,
    latency_ms BIGINT NOT NULL,
    excerpt    TEXT,
    PRIMARY KEY (webhook_id, account, seq, attempt)
);
