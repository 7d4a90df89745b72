-- The decision `interrupted`: a call a policy allowed whose request ended before the call did
-- (the client went away, the request timed out, the gateway stopped). The CHECK constraint
-- PostgreSQL named for the column in 0001 is replaced by one that admits it.
ALTER TABLE decisions DROP CONSTRAINT decisions_decision_check;
ALTER TABLE decisions ADD CONSTRAINT decisions_decision_check CHECK (decision IN
    ('allow', 'deny', 'approval_required', 'approval_denied', 'approval_expired', 'error', 'interrupted'));
