-- The authorization server's state. Every secret that a browser or client presents later
-- (session cookies, authorization codes) is stored only as a SHA-256 hash, so a copy of this file
-- does not let anyone act as a user. Times are Unix seconds.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,          -- the stable `sub` claim; never the username
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,             -- argon2id, PHC string format
    created_at    INTEGER NOT NULL
);

CREATE TABLE clients (
    client_id     TEXT PRIMARY KEY,
    client_name   TEXT,
    redirect_uris TEXT NOT NULL,             -- JSON array, compared byte for byte
    registration  TEXT NOT NULL,             -- 'preregistered' | 'dynamic'
    metadata      TEXT NOT NULL,             -- the RFC 7591 metadata as accepted
    created_at    INTEGER NOT NULL
);

-- A browser talking to the login and consent pages; anonymous until the user signs in.
CREATE TABLE browser_sessions (
    id_hash          TEXT PRIMARY KEY,
    csrf_token       TEXT NOT NULL,
    user_id          TEXT REFERENCES users(id) ON DELETE CASCADE,
    authenticated_at INTEGER,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
);

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
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);

CREATE TABLE authorization_codes (
    code_hash      TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    resource       TEXT NOT NULL,
    auth_time      INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    redeemed_at    INTEGER                   -- set exactly once; a second redemption is a replay
);

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,        -- RFC 7638 thumbprint of the public key
    algorithm       TEXT NOT NULL,
    private_key_der BLOB NOT NULL,           -- PKCS#8
    public_jwk      TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
