-- Key rotation: a new key is published at once but signs only from `activates_at`, so resource
-- servers can fetch it before they meet a token signed with it; an old key stays published until
-- `retires_at`, after the last token it signed has expired.
ALTER TABLE signing_keys ADD COLUMN activates_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE signing_keys ADD COLUMN retires_at INTEGER;
