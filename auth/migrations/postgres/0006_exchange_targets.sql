-- The resources a client acting for others may obtain tokens for, by token exchange or an
-- approved call (`clients add --exchange-to`): a JSON array, empty for ordinary clients and for a
-- client that only introspects. NULL is a client registered before this list existed, which may
-- still target any resource; the server warns on each such use until it is registered again.
ALTER TABLE clients ADD COLUMN exchange_to TEXT DEFAULT '[]';
UPDATE clients SET exchange_to = NULL WHERE acts_for <> '[]';
