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
