-- A full read written page by page (src/service/pass.rs): the pass that last saw each user and
-- group (those no pass saw are checked one by one at its end: deleted or not), and where the
-- pass in progress stands, written with each page so a pass killed midway resumes from its last
-- committed page.
ALTER TABLE dir_users ADD COLUMN seen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dir_groups ADD COLUMN seen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dir_sync ADD COLUMN pass_run BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dir_sync ADD COLUMN pass_state TEXT;
