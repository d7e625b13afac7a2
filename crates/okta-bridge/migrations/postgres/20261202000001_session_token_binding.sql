-- A session is bound to the admin token it was signed in with: a hash of the session id and
-- that token. Changing the token ends every session; sessions from before this column have
-- none and end too (sign in again).
ALTER TABLE admin_sessions ADD COLUMN token_binding TEXT;
