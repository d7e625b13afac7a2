-- A refresh lease per connection: the one process (and task) allowed to refresh its tokens
-- until the lease runs out, so that a refresh happens once across every instance.
ALTER TABLE connections ADD COLUMN refresh_lease_owner TEXT;
ALTER TABLE connections ADD COLUMN refresh_lease_until INTEGER;
