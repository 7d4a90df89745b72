-- The client's IP address as the policy saw it: the TCP peer, or behind a `--trusted-proxy` the
-- address its forwarding header names. NULL in the records written before the gateway kept it.
ALTER TABLE decisions ADD COLUMN client_address TEXT;
