-- Confidential clients, token exchange, groups and out-of-band approvals (the authorization
-- server's half of the gateway).

-- A confidential client's secret, as SHA-256 (the secret is 256 random bits, shown once), and the
-- resources it acts for: only such a client may exchange tokens whose audience is one of them.
-- Its keys (private_key_jwt) are in `metadata` (`jwks` or `jwks_uri`).
ALTER TABLE clients ADD COLUMN secret_hash TEXT;
ALTER TABLE clients ADD COLUMN acts_for TEXT NOT NULL DEFAULT '[]';   -- JSON array of resources

-- The `jti` of every client assertion seen, until it expires: a second use is a replay.
CREATE TABLE client_assertions (
    client_id  TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    jti        TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertions_expiry ON client_assertions(expires_at);

-- Groups a user belongs to; tokens for resources that ask carry them in a `groups` claim.
CREATE TABLE user_groups (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    group_name TEXT NOT NULL,
    PRIMARY KEY (user_id, group_name)
);

-- An exchanged access token hangs under its subject token's grant (grant_id) and names the token
-- it was exchanged from, so revoking that token ends it too.
ALTER TABLE access_tokens ADD COLUMN parent_jti TEXT;

-- Out-of-band approvals of one tool call (CIBA-shaped): asked by a confidential client for a user,
-- answered by that user in the browser, collected once by the client with the auth_req_id.
CREATE TABLE approval_requests (
    id                    TEXT PRIMARY KEY,     -- in the approval page's URL
    auth_req_hash         TEXT NOT NULL UNIQUE, -- SHA-256 of the auth_req_id the client polls with
    client_id             TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    user_id               TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    grant_id              TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    subject_claims        TEXT NOT NULL,        -- JSON claims of the token acted on (never the token)
    resource              TEXT NOT NULL,        -- the upstream
    scope                 TEXT NOT NULL,
    tool                  TEXT NOT NULL,
    arguments_sha256      TEXT NOT NULL,
    arguments_summary     TEXT,
    binding_message       TEXT,
    status                TEXT NOT NULL,        -- pending | approved | denied | issued
    poll_interval         INTEGER NOT NULL,     -- seconds; grows by 5 at each slow_down
    last_polled_at        INTEGER,
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    decided_at            INTEGER
);
CREATE INDEX approval_requests_user ON approval_requests(user_id, status);
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
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
);
CREATE INDEX standing_approvals_lookup ON standing_approvals(user_id, client_id, resource, tool);
CREATE INDEX standing_approvals_expiry ON standing_approvals(expires_at);
