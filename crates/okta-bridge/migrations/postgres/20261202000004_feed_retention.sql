-- Feed retention: events older than the retention period are deleted; the newest cursor deleted
-- is kept so that the Events API can tell a reader whose cursor is older than what is kept.
ALTER TABLE dir_sync ADD COLUMN pruned_through BIGINT NOT NULL DEFAULT 0;
