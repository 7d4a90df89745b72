-- Grants: what a user allowed a client, created when an authorization code is redeemed. Every
-- refresh token and access token belongs to one grant; revoking the grant (code replay, refresh
-- token reuse, revocation) kills all of them at once.

CREATE TABLE grants (
    id             TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scope          TEXT NOT NULL,
    resource       TEXT NOT NULL,
    auth_time      INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,         -- absolute: no refresh token of this grant outlives it
    revoked_at     INTEGER,
    revoked_reason TEXT
);

-- Refresh tokens, stored hashed. Each is used once: rotation sets used_at and issues a successor;
-- presenting a used one again is reuse (RFC 9700 §4.14.2) and revokes the grant.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id   TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,             -- idle lifetime, never past the grant's expiry
    used_at    INTEGER
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens(grant_id);

-- Access tokens issued, by `jti`: what introspection and revocation look up.
CREATE TABLE access_tokens (
    jti        TEXT PRIMARY KEY,
    grant_id   TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX access_tokens_grant ON access_tokens(grant_id);

-- The grant a code turned into, so that a replayed code can revoke it.
ALTER TABLE authorization_codes ADD COLUMN grant_id TEXT REFERENCES grants(id) ON DELETE SET NULL;
