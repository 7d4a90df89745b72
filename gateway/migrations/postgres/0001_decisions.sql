-- The gateway's audit trail on PostgreSQL: the `decisions` table as the SQLite migrations leave it
-- after 0002, written at once. One row per decision on a tool call, written by `audit::AuditLog`
-- and read by `mcp-gateway audit`. It holds no argument values and no tokens: the arguments only
-- as the SHA-256 of their canonical JSON, so a record proves which call was decided without
-- becoming a copy of what users sent. Times are Unix milliseconds (BIGINT).
--
-- It lives in the schema `mcp_gateway` (the gateway sets its connections' search_path to it), so
-- the gateway may share a database with mcp-auth without the two sets of migrations meeting.
CREATE TABLE decisions (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms            BIGINT NOT NULL,  -- Unix milliseconds of the decision
    request_id       TEXT NOT NULL,    -- the W3C trace id, or a random id: joins the record to the request's logs
    user_id          TEXT NOT NULL,    -- the token's `sub` (`user` in SQLite; in PostgreSQL a bare `user` is the session's role)
    client_id        TEXT NOT NULL,
    client_address   TEXT,             -- the client's IP as the policy saw it (the peer, or the trusted proxy's header)
    upstream         TEXT,             -- NULL when the tool is not in the catalog
    tool             TEXT NOT NULL,    -- the name the client asked for, at most 200 characters
    arguments_sha256 TEXT,             -- lowercase hex; NULL when the call had no readable arguments
    decision         TEXT NOT NULL CHECK (decision IN
                         ('allow', 'deny', 'approval_required', 'approval_denied', 'approval_expired', 'error')),
    reason           TEXT,             -- short text written by the gateway, never argument values
    policy_ids       TEXT NOT NULL,    -- JSON array of the determining policies' ids
    policy_hash      TEXT NOT NULL,    -- SHA-256 of the policy text in force
    approval_id      TEXT,             -- the consent or approval the decision rests on
    latency_us       BIGINT NOT NULL   -- microseconds the gateway spent on the call
);
-- `mcp-gateway audit` reads newest first, overall or for one user.
CREATE INDEX decisions_at_ms ON decisions(at_ms);
CREATE INDEX decisions_user ON decisions(user_id, at_ms);
