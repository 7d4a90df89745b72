-- The audit trail: who did what, never with a secret. Also the memory of the login throttle:
-- failed logins are counted from here, so every replica sharing the database sees the same count.
CREATE TABLE audit_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    kind         TEXT NOT NULL,    -- login_succeeded, login_failed, consent_granted, …
    request_id   TEXT,
    client_id    TEXT,
    user_id      TEXT,
    grant_id     TEXT,
    -- Throttle keys: a hash of the lowercased username tried, and the peer address.
    username_key TEXT,
    ip           TEXT,
    detail       TEXT
);
CREATE INDEX audit_events_username ON audit_events(kind, username_key, at);
CREATE INDEX audit_events_ip ON audit_events(kind, ip, at);

-- What a user allowed a client, remembered so the consent page is not shown again for the same
-- (or a smaller) set of scopes. Revoking it also revokes the grants it led to.
CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    resource   TEXT NOT NULL,
    scope      TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id, resource)
);
