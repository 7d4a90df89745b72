-- A second redemption of a code is a replay; it is recorded on the code, so that a first
-- redemption that has not yet created its grant creates it revoked.
ALTER TABLE authorization_codes ADD COLUMN replayed_at BIGINT;
