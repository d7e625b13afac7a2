-- One circuit per webhook endpoint (src/service/delivery.rs): consecutive failed attempts
-- across its streams; when they reach the policy's threshold the circuit opens until
-- `circuit_open_until` (no stream of the endpoint is tried), then one stream probes it; a success
-- closes it, a failure opens it again for twice as long (`circuit_opened` counts the openings).
ALTER TABLE webhooks ADD COLUMN circuit_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN circuit_open_until BIGINT;
ALTER TABLE webhooks ADD COLUMN circuit_opened BIGINT NOT NULL DEFAULT 0;
