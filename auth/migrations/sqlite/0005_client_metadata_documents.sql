-- Clients identified by a Client ID Metadata Document URL are kept here like any other client (codes
-- and grants refer to them), with the time their fetched document stops being fresh.
ALTER TABLE clients ADD COLUMN metadata_expires_at INTEGER;
