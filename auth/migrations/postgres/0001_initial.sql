-- The authorization server's state on PostgreSQL: the same tables as the SQLite migrations reach
-- after 0006, written at once. Every secret that a browser or client presents later (session
-- cookies, codes, refresh tokens, client secrets, auth_req_ids) is stored only as a SHA-256 hash,
-- so a copy of the database does not let anyone act as a user or client. Times are Unix seconds
-- (BIGINT); JSON values are TEXT, read and written whole by the server.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,          -- the stable `sub` claim; never the username
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,             -- argon2id, PHC string format
    created_at    BIGINT NOT NULL
);

-- Groups a user belongs to; tokens for resources that ask carry them in a `groups` claim.
CREATE TABLE user_groups (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    group_name TEXT NOT NULL,
    PRIMARY KEY (user_id, group_name)
);

CREATE TABLE clients (
    client_id           TEXT PRIMARY KEY,
    client_name         TEXT,
    redirect_uris       TEXT NOT NULL,       -- JSON array, compared byte for byte
    registration        TEXT NOT NULL,       -- 'preregistered' | 'dynamic' | 'metadata_document' | …
    metadata            TEXT NOT NULL,       -- the RFC 7591 metadata as accepted
    created_at          BIGINT NOT NULL,
    metadata_expires_at BIGINT,              -- a fetched metadata document stops being fresh
    secret_hash         TEXT,                -- confidential clients with a secret: its SHA-256
    acts_for            TEXT NOT NULL DEFAULT '[]'  -- JSON array of the resources it acts for
);

-- The `jti` of every client assertion seen, until it expires: a second use is a replay.
CREATE TABLE client_assertions (
    client_id  TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertions_expiry ON client_assertions(expires_at);

-- A browser talking to the login and consent pages; anonymous until the user signs in.
CREATE TABLE browser_sessions (
    id_hash          TEXT PRIMARY KEY,
    csrf_token       TEXT NOT NULL,
    user_id          TEXT REFERENCES users(id) ON DELETE CASCADE,
    authenticated_at BIGINT,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL
);
CREATE INDEX browser_sessions_user ON browser_sessions(user_id);
CREATE INDEX browser_sessions_expiry ON browser_sessions(expires_at);

-- A validated authorization request waiting for the user to sign in and consent.
CREATE TABLE authorization_requests (
    id             TEXT PRIMARY KEY,
    session_hash   TEXT NOT NULL,            -- only the browser that started it may finish it
    client_id      TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    state          TEXT,
    code_challenge TEXT NOT NULL,
    resource       TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX authorization_requests_session ON authorization_requests(session_hash);
CREATE INDEX authorization_requests_expiry ON authorization_requests(expires_at);

-- Grants: what a user allowed a client, created when an authorization code is redeemed. Every
-- refresh token and access token belongs to one grant; revoking the grant (code replay, refresh
-- token reuse, revocation) kills all of them at once.
CREATE TABLE grants (
    id             TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scope          TEXT NOT NULL,
    resource       TEXT NOT NULL,
    auth_time      BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,          -- absolute: no refresh token of this grant outlives it
    revoked_at     BIGINT,
    revoked_reason TEXT
);
CREATE INDEX grants_user_client ON grants(user_id, client_id);
CREATE INDEX grants_client ON grants(client_id);
CREATE INDEX grants_expiry ON grants(expires_at);

CREATE TABLE authorization_codes (
    code_hash      TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    resource       TEXT NOT NULL,
    auth_time      BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    redeemed_at    BIGINT,                   -- set exactly once; a second redemption is a replay
    grant_id       TEXT REFERENCES grants(id) ON DELETE SET NULL  -- what a replay revokes
);
CREATE INDEX authorization_codes_grant ON authorization_codes(grant_id);
CREATE INDEX authorization_codes_expiry ON authorization_codes(expires_at);

-- Refresh tokens, stored hashed. Each is used once: rotation sets used_at and issues a successor;
-- presenting a used one again is reuse (RFC 9700 §4.14.2) and revokes the grant.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id   TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,              -- idle lifetime, never past the grant's expiry
    used_at    BIGINT
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens(grant_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);

-- Access tokens issued, by `jti`: what introspection and revocation look up. An exchanged token
-- hangs under its subject token's grant and names the token it came from (parent_jti).
CREATE TABLE access_tokens (
    jti        TEXT PRIMARY KEY,
    grant_id   TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    parent_jti TEXT
);
CREATE INDEX access_tokens_grant ON access_tokens(grant_id);
CREATE INDEX access_tokens_expiry ON access_tokens(expires_at);

-- Token signing keys. `seq` orders them as added (the key ring signs with the newest active key):
-- a key is published at once but signs only from `activates_at`; an old key stays published until
-- `retires_at`, after the last token it signed has expired.
CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,        -- RFC 7638 thumbprint of the public key
    seq             BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    algorithm       TEXT NOT NULL,
    private_key_der BYTEA NOT NULL,          -- PKCS#8
    public_jwk      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    activates_at    BIGINT NOT NULL DEFAULT 0,
    retires_at      BIGINT
);

-- The audit trail: who did what, never with a secret. Also the memory of the login throttle:
-- failed logins are counted from here, so every replica sharing the database sees the same count.
CREATE TABLE audit_events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           BIGINT NOT NULL,
    kind         TEXT NOT NULL,    -- login_succeeded, login_failed, consent_granted, …
    request_id   TEXT,
    client_id    TEXT,
    user_id      TEXT,
    grant_id     TEXT,
    -- Throttle keys: a hash of the lowercased username tried, and the client address.
    username_key TEXT,
    ip           TEXT,
    detail       TEXT
);
CREATE INDEX audit_events_username ON audit_events(kind, username_key, at);
CREATE INDEX audit_events_ip ON audit_events(kind, ip, at);
CREATE INDEX audit_events_at ON audit_events(at);

-- What a user allowed a client, remembered so the consent page is not shown again for the same
-- (or a smaller) set of scopes. Revoking it also revokes the grants it led to.
CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    resource   TEXT NOT NULL,
    scope      TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id, resource)
);
CREATE INDEX consents_client ON consents(client_id);

-- Out-of-band approvals of one tool call (CIBA-shaped): asked by a confidential client for a user,
-- answered by that user in the browser, collected once by the client with the auth_req_id.
CREATE TABLE approval_requests (
    id                TEXT PRIMARY KEY,      -- in the approval page's URL
    auth_req_hash     TEXT NOT NULL UNIQUE,  -- SHA-256 of the auth_req_id the client polls with
    client_id         TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    user_id           TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    grant_id          TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    subject_claims    TEXT NOT NULL,         -- JSON claims of the token acted on (never the token)
    resource          TEXT NOT NULL,         -- the upstream
    scope             TEXT NOT NULL,
    tool              TEXT NOT NULL,
    arguments_sha256  TEXT NOT NULL,
    arguments_summary TEXT,
    binding_message   TEXT,
    status            TEXT NOT NULL,         -- pending | approved | denied | issued
    poll_interval     BIGINT NOT NULL,       -- seconds; grows by 5 at each slow_down
    last_polled_at    BIGINT,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    decided_at        BIGINT
);
CREATE INDEX approval_requests_user ON approval_requests(user_id, status);
CREATE INDEX approval_requests_grant ON approval_requests(grant_id);
CREATE INDEX approval_requests_expiry ON approval_requests(expires_at);

-- "Approve and remember": a user's standing approval of a tool of an upstream for one client,
-- until it expires or the user withdraws it. arguments_sha256 NULL: any arguments.
CREATE TABLE standing_approvals (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id        TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    resource         TEXT NOT NULL,
    tool             TEXT NOT NULL,
    arguments_sha256 TEXT,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL
);
CREATE INDEX standing_approvals_lookup ON standing_approvals(user_id, client_id, resource, tool);
CREATE INDEX standing_approvals_client ON standing_approvals(client_id);
CREATE INDEX standing_approvals_expiry ON standing_approvals(expires_at);
