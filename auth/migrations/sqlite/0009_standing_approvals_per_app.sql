-- A standing approval holds for the application the person uses (the client of the token the
-- gateway acts on), not only for the client that asked (the gateway): before, "remember" given in
-- one application covered the same tool called from any other application of that person.
-- Rows from before name no application ('') and so answer nothing: the person is asked again.
ALTER TABLE standing_approvals ADD COLUMN subject_client_id TEXT NOT NULL DEFAULT '';
DROP INDEX standing_approvals_lookup;
CREATE INDEX standing_approvals_lookup
    ON standing_approvals(user_id, client_id, subject_client_id, resource, tool);
