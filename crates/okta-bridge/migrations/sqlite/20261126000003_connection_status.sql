-- Whether a connection still works: 'connected', or 'needs_reauth' once Okta refused its
-- refresh token (invalid_grant); the reason says what Okta said.
ALTER TABLE connections ADD COLUMN status TEXT NOT NULL DEFAULT 'connected';
ALTER TABLE connections ADD COLUMN status_reason TEXT;
