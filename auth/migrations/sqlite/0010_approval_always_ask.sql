-- Whether the client asked the person to approve this very call (prompt=consent, a gateway's
-- @consent("once")): the page then offers no "remember", which such requests never use.
ALTER TABLE approval_requests ADD COLUMN always_ask INTEGER NOT NULL DEFAULT 0;
