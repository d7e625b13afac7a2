-- The application's roles (src/model/roles.rs), declared by its developer: a slug used in
-- mappings and on users, a name to show, and the position (the order is the priority: 0 first).
-- Replaced whole by `PUT /api/roles`; who did it last and when are kept beside each role.
CREATE TABLE app_roles (
    slug        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    position    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT NOT NULL
);
-- Per account, which roles each of its groups gives (roles: a JSON list of slugs), and the role
-- of a user in no mapped group (none: no role). Replaced whole by
-- `PUT /api/accounts/{name}/role-mappings`, audited with who did it.
CREATE TABLE role_mappings (
    account   TEXT NOT NULL,
    group_id  TEXT NOT NULL,
    roles     TEXT NOT NULL,
    PRIMARY KEY (account, group_id)
);
CREATE TABLE role_defaults (
    account     TEXT PRIMARY KEY,
    role        TEXT,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT NOT NULL
);
-- A user's roles as last evaluated (a JSON list of slugs, alphabetical): null until its
-- account first has role mappings. Kept up to date in the transaction of every membership or
-- mapping change, with a user.updated ("changed": ["roles"]) event when they change.
ALTER TABLE dir_users ADD COLUMN roles TEXT;
