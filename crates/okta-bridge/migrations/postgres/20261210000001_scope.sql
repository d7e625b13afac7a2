-- Which of an org's users an account's directory holds (src/model/scope.rs): the members of
-- chosen groups ({"groups": [...]}) or the users assigned to a chosen app ({"app": "..."}), as
-- JSON. No row: the whole org. Set by `PUT /api/accounts/{name}/scope`, audited with who did it;
-- the next sync run reads the new scope whole and says exactly the difference.
CREATE TABLE sync_scopes (
    account     TEXT PRIMARY KEY,
    scope       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT NOT NULL
);
-- A setup link whose admin chooses the scope after connecting, before the first sync
-- (`POST /api/accounts/{name}/setup-link {"chooseScope": true}`).
ALTER TABLE setup_links ADD COLUMN choose_scope BOOLEAN NOT NULL DEFAULT FALSE;
-- A setup link whose scope step also maps the org's groups to the application's roles
-- (`"mapRoles": true`).
ALTER TABLE setup_links ADD COLUMN map_roles BOOLEAN NOT NULL DEFAULT FALSE;
-- A manage link: made like a setup link for an account already connected, it leads its admin
-- straight to the scope step (`"manage": true`), to change who is synced later.
ALTER TABLE setup_links ADD COLUMN manage BOOLEAN NOT NULL DEFAULT FALSE;
