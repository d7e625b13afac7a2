-- Incremental sync (src/sync/incremental.rs): where the next read starts, written in the same
-- transaction as the changes read up to there; and the groups assigned to each app, from which
-- the members' app assignments follow.
ALTER TABLE dir_sync ADD COLUMN users_since TEXT;
ALTER TABLE dir_sync ADD COLUMN groups_since TEXT;
ALTER TABLE dir_sync ADD COLUMN log_cursor TEXT;
CREATE TABLE dir_app_groups (
    account   TEXT NOT NULL,
    app_id    TEXT NOT NULL,
    group_id  TEXT NOT NULL,
    PRIMARY KEY (account, app_id, group_id)
);
