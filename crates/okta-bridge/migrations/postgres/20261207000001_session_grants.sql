-- A console session remembers how it was granted, so that every request checks it against the
-- sign-in lists in force: `oidc` (an OpenID Connect sign-in: the person's subject, the email the
-- provider verified, their groups as a JSON array), or none (the admin token, which the token
-- binding already checks). Sessions from before this migration were all signed in with the
-- admin token.
ALTER TABLE admin_sessions ADD COLUMN grant_kind TEXT;
ALTER TABLE admin_sessions ADD COLUMN subject TEXT;
ALTER TABLE admin_sessions ADD COLUMN email TEXT;
ALTER TABLE admin_sessions ADD COLUMN grant_groups TEXT;
CREATE INDEX admin_sessions_person ON admin_sessions (subject, email);
