-- The decision `interrupted`: a call a policy allowed whose request ended before the call did
-- (the client went away, the request timed out, the gateway stopped). SQLite cannot change a
-- CHECK constraint in place, so the table is rebuilt with the new one, its rows, ids and indexes
-- kept; the columns stay in the order the earlier migrations left them.
CREATE TABLE decisions_new (
    id               INTEGER PRIMARY KEY,
    at_ms            INTEGER NOT NULL,  -- Unix milliseconds of the decision
    request_id       TEXT NOT NULL,     -- the W3C trace id, or a random id: joins the record to the request's logs
    user             TEXT NOT NULL,     -- the token's `sub`
    client_id        TEXT NOT NULL,
    upstream         TEXT,              -- NULL when the tool is not in the catalog
    tool             TEXT NOT NULL,     -- the name the client asked for, at most 200 characters
    arguments_sha256 TEXT,              -- lowercase hex; NULL when the call had no readable arguments
    decision         TEXT NOT NULL CHECK (decision IN
                         ('allow', 'deny', 'approval_required', 'approval_denied', 'approval_expired', 'error',
                          'interrupted')),
    reason           TEXT,              -- short text written by the gateway, never argument values
    policy_ids       TEXT NOT NULL,     -- JSON array of the determining policies' ids
    policy_hash      TEXT NOT NULL,     -- SHA-256 of the policy text in force
    approval_id      TEXT,              -- the consent or approval the decision rests on
    latency_us       INTEGER NOT NULL,  -- microseconds the gateway spent on the call
    client_address   TEXT               -- the client's IP as the policy saw it; NULL in records from before 0002
);
INSERT INTO decisions_new (id, at_ms, request_id, user, client_id, upstream, tool, arguments_sha256, decision,
                           reason, policy_ids, policy_hash, approval_id, latency_us, client_address)
    SELECT id, at_ms, request_id, user, client_id, upstream, tool, arguments_sha256, decision,
           reason, policy_ids, policy_hash, approval_id, latency_us, client_address
    FROM decisions;
DROP TABLE decisions;
ALTER TABLE decisions_new RENAME TO decisions;
CREATE INDEX decisions_at_ms ON decisions(at_ms);
CREATE INDEX decisions_user ON decisions(user, at_ms);
